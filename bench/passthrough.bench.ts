// The pass-through proxy against its baselines, measured in one run (each comparison alternates the two sides and
// takes medians, because this machine is shared and noisy):
// - throughputRatio: Java ProducerPerformance, 1 KB records, unthrottled, through the proxy ÷ direct to the broker;
// - addedP50Ms, addedP99Ms: Produce round trips (16 × 1 KB records each) at a fixed rate of half the direct maximum,
//   through the proxy minus direct;
// - the same two through a plain Node socket pipe (pipeThroughputRatio, pipeAddedP50Ms, pipeAddedP99Ms): what one
//   more hop costs on this machine whatever the relay, to tell the proxy's own cost from the hop's;
// - pipeRatio: 1 MB Kafka frames streamed through the proxy ÷ through a plain Node socket pipe;
// - cpuSecondsPerGB: the proxy's CPU time per GB it relayed in that stream;
// - rssIdle1000MB, rssIdle5000MB, rssBusy100MB: proxy RSS with 1,000 and 5,000 idle connections and with 100 busy ones;
//   rssPerIdleConnKB: what each of the last 4,000 idle connections added (null when that comes out ≤ 0).
// Latencies run from each request's write, or one timer tick after it was due when the sender fell behind
// (test/support/fixed-rate.ts); requests left unanswered are counted beside them (directUnanswered, unanswered: the proxy's, pipeUnanswered), not in the percentiles.
// The proxy runs compiled (dist/), as in production.
import { Kafka, logLevel } from 'kafkajs';
import { KafkaCluster } from '../src/local-kafka/kafka-cluster.js';
import { freePorts } from '../src/local-kafka/ports.js';
import { buildProxy, cpuSeconds, pinSelf, startPlainPipe, startProxyProcess } from './support/processes.js';
import { Sink } from './support/sink.js';
import { createTopicsAndWait } from '../src/local-kafka/topics.js';
import {
  BATCH_RECORDS, latencyRounds, proxyYaml, relayMemory, roundRatios, streamFrames, throughputRounds, unansweredBySide,
} from './support/relay-workloads.js';
import { median } from './support/stats.js';

const PERF_RECORDS = 300_000;
const THROUGHPUT_ROUNDS = 5;
const LATENCY_SECONDS = 10;
const PIPE_BYTES = 2 * 1024 ** 3;
const PIPE_RUNS = 5;

const log = (line: string) => console.error(line);

/** `npm run bench -- passthrough [synthetic]`: with `synthetic`, only the pipe and memory parts (no Kafka). */
type Figures = Record<string, number | null>;

export async function run(args: string[]): Promise<Figures> {
  buildProxy();
  const figures: Figures = {};
  if (!args.includes('synthetic')) await againstKafka(figures);
  await synthetic(figures);
  return figures;
}

async function againstKafka(figures: Figures): Promise<void> {
  // Direct and the proxy use the broker's INTERNAL listener (it advertises itself); the plain pipe relays to the CLIENT
  // listener, which advertises the pipe, so a client bootstrapped through the pipe stays on it.
  const [proxyPort, metricsPort, pipePort, clientPort] = await freePorts(4);
  const pipe = await startPlainPipe(pipePort!, clientPort!);
  const cluster = await KafkaCluster.start({
    nodes: 1, heapMb: 1024, log, clientPorts: { 1: clientPort! },
    advertise: (_id, listener) => (listener === 'CLIENT' ? { host: '127.0.0.1', port: pipePort! } : undefined),
  }).catch(async (err: unknown) => {
    await pipe.stop();
    throw err;
  });
  try {
    const node = cluster.info.nodes[0]!;
    const direct = `${node.host}:${node.internalPort}`;
    const proxy = await startProxyProcess(proxyYaml(proxyPort!, metricsPort!, direct, proxyPort!), proxyPort!);
    const admin = new Kafka({ brokers: [direct], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await createTopicsAndWait(admin, [{ topic: 'perf', numPartitions: 3 }, { topic: 'latency', numPartitions: 1 }]);
    await admin.disconnect();

    log('throughput: ProducerPerformance, direct, through the proxy and through a plain pipe, alternating');
    const runs = await throughputRounds(cluster.info.classpath, [
      { name: 'direct', bootstrap: direct }, { name: 'proxy', bootstrap: `127.0.0.1:${proxyPort}` }, { name: 'pipe', bootstrap: `127.0.0.1:${pipePort}` },
    ], { rounds: THROUGHPUT_ROUNDS, records: PERF_RECORDS, topic: 'perf', log });
    // each round's ratio against the direct run next to it, then the median over rounds: drifts of this shared machine
    // (a whole run 30 % slower) cancel within a round
    const mbps = (side: string) => runs[side]!.map((r) => r.mbPerSec);
    figures.directMBps = median(mbps('direct'));
    figures.proxyMBps = median(mbps('proxy'));
    figures.throughputRatio = Number(median(roundRatios(mbps('proxy'), mbps('direct'))).toFixed(3));
    figures.pipeThroughputRatio = Number(median(roundRatios(mbps('pipe'), mbps('direct'))).toFixed(3));
    const requestsPerSec = median(runs.direct!.map((r) => r.recordsPerSec)) / 2 / BATCH_RECORDS;
    log(`latency: ${requestsPerSec.toFixed(0)} Produce requests/s (${BATCH_RECORDS} × 1 KB each), half the direct maximum`);
    const lat = await latencyRounds(
      [{ name: 'direct', port: node.internalPort }, { name: 'proxy', port: proxyPort! }, { name: 'pipe', port: pipePort! }],
      { rounds: 3, requestsPerSec, seconds: LATENCY_SECONDS, topic: 'latency', log },
    );
    const added = (side: string, p: 'p50' | 'p99') => Number((median(lat[side]![p]) - median(lat.direct![p])).toFixed(3));
    figures.directP50Ms = Number(median(lat.direct!.p50).toFixed(3));
    figures.directP99Ms = Number(median(lat.direct!.p99).toFixed(3));
    figures.addedP50Ms = added('proxy', 'p50');
    figures.addedP99Ms = added('proxy', 'p99');
    figures.pipeAddedP50Ms = added('pipe', 'p50');
    figures.pipeAddedP99Ms = added('pipe', 'p99');
    const unanswered = unansweredBySide(lat);
    figures.directUnanswered = unanswered.direct!;
    figures.unanswered = unanswered.proxy!;
    figures.pipeUnanswered = unanswered.pipe!;
    await proxy.stop();
  } finally {
    await pipe.stop();
    await cluster.stop();
  }
}

async function synthetic(figures: Figures): Promise<void> {
  log('pipe: 1 MB frames through the proxy and through a plain Node pipe, alternating');
  const sink = new Sink();
  const sinkPort = await sink.listen();
  const [proxyPort, metricsPort, pipePort] = await freePorts(3);
  // the sender and the sink (this process) on CPU 0, the relay being measured on CPU 1
  pinSelf(0);
  const proxy = await startProxyProcess(proxyYaml(proxyPort!, metricsPort!, `127.0.0.1:${sinkPort}`), proxyPort!, 1);
  const pipe = await startPlainPipe(pipePort!, sinkPort, 1);
  try {
    await streamFrames(proxyPort!, sink, 256 * 1024 * 1024); // warm-up
    await streamFrames(pipePort!, sink, 256 * 1024 * 1024);
    const viaProxy: number[] = [];
    const viaPipe: number[] = [];
    let cpu = 0;
    let pipeCpu = 0;
    for (let i = 0; i < PIPE_RUNS; i++) {
      const pipeBefore = cpuSeconds(pipe.pid);
      viaPipe.push(await streamFrames(pipePort!, sink, PIPE_BYTES));
      pipeCpu += cpuSeconds(pipe.pid) - pipeBefore;
      const before = cpuSeconds(proxy.pid);
      viaProxy.push(await streamFrames(proxyPort!, sink, PIPE_BYTES));
      cpu += cpuSeconds(proxy.pid) - before;
      log(`  pipe ${viaPipe[i]!.toFixed(0)} MB/s, proxy ${viaProxy[i]!.toFixed(0)} MB/s`);
    }
    figures.pipeMBps = Math.round(median(viaPipe));
    figures.proxyPipeMBps = Math.round(median(viaProxy));
    figures.pipeRatio = Number((median(viaProxy) / median(viaPipe)).toFixed(3));
    figures.cpuSecondsPerGB = Number((cpu / ((PIPE_RUNS * PIPE_BYTES) / 1024 ** 3)).toFixed(3));
    figures.pipeCpuSecondsPerGB = Number((pipeCpu / ((PIPE_RUNS * PIPE_BYTES) / 1024 ** 3)).toFixed(3));

    log('memory: 1,000 idle connections, 5,000, then 100 busy ones');
    const mem = await relayMemory(proxy.pid, proxyPort!, sink);
    figures.rssStartMB = Math.round(mem.rssStartMB);
    figures.rssIdle1000MB = Math.round(mem.rssIdle1000MB);
    figures.rssIdle5000MB = Math.round(mem.rssIdle5000MB);
    figures.rssPerIdleConnKB = mem.rssPerIdleConnKB === null ? null : Number(mem.rssPerIdleConnKB.toFixed(2));
    figures.rssBusy100MB = Math.round(mem.rssBusy100MB);
  } finally {
    await proxy.stop();
    await pipe.stop();
    await sink.close();
  }
}
