// One million distinct client ids, each used once and abandoned, against a 10,000-slot table: the proxy's RSS stays
// flat, and tenants left in debt keep their debt (none escapes its throttle).
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedCluster } from '../support/shared-cluster.js';
import { startProxyProcess } from '../support/proxy-process.js';
import { encodeRequest } from '../support/raw-client.js';
import { FrameSplitter, STREAM } from '../../src/protocol/frame-splitter.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import { defaultMetadataRequest } from '../../src/protocol/generated/metadata-request.js';
import type { MetadataResponse } from '../../src/protocol/generated/metadata-response.js';

const CLIENT_IDS = Number(process.env.KQP_CHURN_CLIENT_IDS ?? 1_000_000);
const DEBTORS = 5;
const DEBT_REQUESTS = 400; // at 1 request/s: 400 s of debt each
const PIPELINE = 500;

const cluster = sharedCluster();
const node = cluster.nodes[0]!;
const metadata = { ...defaultMetadataRequest(), topics: [] };

/** Sends requests as fast as `PIPELINE` in flight allows; resolves with the responses' throttle_time_ms. */
async function run(port: number, clientIds: (i: number) => string, count: number, onProgress?: (done: number) => void): Promise<number[]> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once('connect', resolve));
  const throttles: number[] = [];
  let sent = 0;
  let done = 0;
  let wake: (() => void) | undefined;
  const splitter = new FrameSplitter(
    {
      onFrame: (_size, head) => {
        const body = decodeResponseFrame(head.subarray(4), 3, 12).body as MetadataResponse;
        if (throttles.length < 1000) throttles.push(body.throttleTimeMs);
        done++;
        if (done % 50_000 === 0) onProgress?.(done);
        wake?.();
        return STREAM;
      },
      onWhole: () => undefined,
      onBody: () => undefined,
      onEnd: () => undefined,
    },
    1 << 20,
    1 << 20,
  );
  socket.on('data', (c: Buffer) => splitter.push(c));
  while (done < count) {
    const batch: Buffer[] = [];
    while (sent < count && sent - done < PIPELINE) batch.push(encodeRequest(3, 12, ++sent, metadata, clientIds(sent)));
    if (batch.length) socket.write(Buffer.concat(batch));
    await new Promise<void>((resolve) => (wake = resolve));
  }
  socket.destroy();
  return throttles;
}

t.test(`${CLIENT_IDS.toLocaleString('en')} client ids through a 10,000-slot table`, async (t) => {
  const proxy = await startProxyProcess({
    upstream: `${node.host}:${node.port}`,
    advertise: { mode: 'none' },
    quotaTable: { capacity: 10_000 },
    quotas: [
      { clientId: '<default>', requestsPerSec: 100_000 },
      ...Array.from({ length: DEBTORS }, (_, i) => ({ clientId: `debtor-${i}`, requestsPerSec: 1, requestBurst: 1 })),
    ],
  });
  t.teardown(() => proxy.stop());

  // the debtors run up debt, then go quiet (they sink to the table's least recently used end)
  for (let i = 0; i < DEBTORS; i++) {
    const throttles = await run(proxy.port, () => `debtor-${i}`, DEBT_REQUESTS);
    t.ok(throttles.at(-1)! > 300_000, `debtor-${i} owes ${(throttles.at(-1)! / 1000).toFixed(0)} s`);
  }
  const debtStarted = Date.now();

  const curve: number[] = [];
  const rssStart = proxy.rssMB();
  const started = Date.now();
  await run(proxy.port, (i) => `churn-${i}`, CLIENT_IDS, () => void curve.push(Math.round(proxy.rssMB())));
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
    const [throttle] = await run(proxy.port, () => `debtor-${i}`, 1);
    const owed = (DEBT_REQUESTS - 1) * 1000 - (Date.now() - debtStarted);
    if (throttle! < owed * 0.9) escapes++;
    t.ok(throttle! >= owed * 0.9, `debtor-${i} still throttled: ${(throttle! / 1000).toFixed(0)} s (owes about ${(owed / 1000).toFixed(0)} s)`);
  }
  t.equal(escapes, 0, 'no throttled tenant escaped');
  await sleep(10);
});
