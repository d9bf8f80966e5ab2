// Tenant churn: a million distinct client ids, each used once and abandoned, through a 10,000-slot table, with five
// tenants left in debt meanwhile, the proxy in a fixed heap (PROXY_HEAP_MB). Reports the proxy's heap in use after a
// full collection and its RSS, at the start, at their peak and at the end, and how many of the indebted tenants escaped
// their throttle (came back on a new connection to a bucket owing less than they owed, or were served sooner).
import { KafkaCluster } from '../src/local-kafka/kafka-cluster.js';
import { PROXY_HEAP_MB, startProxyProcess } from '../test/support/proxy-process.js';
import { churnConfig, comeBack, pipelinedMetadata, produceOnce } from '../test/support/metadata-load.js';

const TENANTS = 1_000_000;
const DEBTORS = 5;
const DEBT_KB = 400; // one produce request each, at 1 KB/s: about 400 s of debt

export async function run(): Promise<Record<string, number>> {
  const cluster = await KafkaCluster.start({ nodes: 1, log: console.error });
  try {
    const node = cluster.info.nodes[0]!;
    const proxy = await startProxyProcess(churnConfig(`${node.host}:${node.port}`, DEBTORS), { heapMB: PROXY_HEAP_MB });
    for (let i = 0; i < DEBTORS; i++) await produceOnce(proxy.port, `debtor-${i}`, DEBT_KB);
    const debtStarted = Date.now();
    const rssStartMB = proxy.rssMB();
    const heapStart = (await proxy.heap()).heapUsed / 1048576;
    const curve: number[] = [];
    const heapCurve: number[] = [];
    const started = Date.now();
    await pipelinedMetadata(proxy.port, (i) => `tenant-${i}`, TENANTS, async () => {
      curve.push(Math.round(proxy.rssMB()));
      heapCurve.push(Number(((await proxy.heap()).heapUsed / 1048576).toFixed(1)));
    });
    const rssEndMB = proxy.rssMB();
    const heapEnd = (await proxy.heap()).heapUsed / 1048576;
    console.error(`${TENANTS} tenants in ${((Date.now() - started) / 1000).toFixed(0)} s; RSS every 50,000 (MB): ${curve.join(' ')}; ` +
      `heap in use after a full collection: ${heapCurve.join(' ')}`);
    let escapes = 0;
    for (let i = 0; i < DEBTORS; i++) {
      const owed = (DEBT_KB - 1) * 1000 - (Date.now() - debtStarted);
      const back = await comeBack(proxy.port, `debtor-${i}`, 2000);
      const bucket = ((await proxy.quota('ANONYMOUS', `debtor-${i}`)).produce as { bucket: { throttleMs: number } }).bucket.throttleMs;
      if (bucket < owed * 0.9 || (back.answered && back.waitedMs + back.throttleMs < owed * 0.9)) escapes++;
    }
    await proxy.stop();
    return {
      tenants: TENANTS,
      rssStartMB: Math.round(rssStartMB),
      rssPeakMB: Math.max(Math.round(rssStartMB), ...curve, Math.round(rssEndMB)),
      rssEndMB: Math.round(rssEndMB),
      heapStartMB: Number(heapStart.toFixed(1)),
      heapPeakMB: Math.max(...heapCurve, Number(heapEnd.toFixed(1))),
      heapEndMB: Number(heapEnd.toFixed(1)),
      survived: proxy.exited() === null ? 1 : 0,
      escapes,
    };
  } finally {
    await cluster.stop();
  }
}
