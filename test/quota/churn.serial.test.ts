// One million distinct client ids, each used once and abandoned, against a 10,000-slot table: the proxy's RSS stays
// flat, and tenants left in debt keep their debt (none escapes its throttle).
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedCluster } from '../support/shared-cluster.js';
import { startProxyProcess } from '../support/proxy-process.js';
import { churnConfig, pipelinedMetadata, produceOnce } from '../support/metadata-load.js';

const CLIENT_IDS = Number(process.env.KQP_CHURN_CLIENT_IDS ?? 1_000_000);
const DEBTORS = 5;
const DEBT_KB = 400; // one produce request each, at 1 KB/s: about 400 s of debt

const cluster = sharedCluster();
const node = cluster.nodes[0]!;

t.test(`${CLIENT_IDS.toLocaleString('en')} client ids through a 10,000-slot table`, async (t) => {
  const proxy = await startProxyProcess(churnConfig(`${node.host}:${node.port}`, DEBTORS));
  t.teardown(() => proxy.stop());

  // the debtors run up debt, then go quiet (they sink to the table's least recently used end)
  for (let i = 0; i < DEBTORS; i++) {
    const throttle = await produceOnce(proxy.port, `debtor-${i}`, DEBT_KB);
    t.ok(throttle > 300_000, `debtor-${i} owes ${(throttle / 1000).toFixed(0)} s`);
  }
  const debtStarted = Date.now();

  const curve: number[] = [];
  const rssStart = proxy.rssMB();
  const started = Date.now();
  await pipelinedMetadata(proxy.port, (i) => `churn-${i}`, CLIENT_IDS, () => void curve.push(Math.round(proxy.rssMB())));
  const seconds = (Date.now() - started) / 1000;
  const rssEnd = proxy.rssMB();
  t.comment(`${CLIENT_IDS} client ids in ${seconds.toFixed(0)} s; proxy RSS every 50,000 ids (MB): ${Math.round(rssStart)} → ${curve.join(' ')} → ${Math.round(rssEnd)}`);
  const peak = Math.max(rssStart, ...curve, rssEnd);
  t.ok(peak - rssStart < 40, `RSS stays flat: start ${rssStart.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, end ${rssEnd.toFixed(0)} MB`);
  const stats = await proxy.quota('ANONYMOUS', 'churn-1');
  t.match(stats, { table: { capacity: 10_000, used: 10_000 } }, 'the table is full and no larger');
  t.ok(((stats.table as { evictions: number }).evictions) >= CLIENT_IDS - 10_000, 'churned ids were evicted');

  // each debtor comes back on a new connection: it is still throttled for what it owes
  let escapes = 0;
  for (let i = 0; i < DEBTORS; i++) {
    const throttle = await produceOnce(proxy.port, `debtor-${i}`, 1);
    const owed = (DEBT_KB - 1) * 1000 - (Date.now() - debtStarted);
    if (throttle < owed * 0.9) escapes++;
    t.ok(throttle >= owed * 0.9, `debtor-${i} still throttled: ${(throttle / 1000).toFixed(0)} s (owes about ${(owed / 1000).toFixed(0)} s)`);
  }
  t.equal(escapes, 0, 'no throttled tenant escaped');
  await sleep(10);
});
