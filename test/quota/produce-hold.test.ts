// The produce charge's two figures, the hold before forwarding and the throttle after it, come from one reading of
// the bucket: what the response says after the hold (throttle less hold) is the debt one request may leave, whatever
// the clock does while they are worked out (a clock that jumps at every reading stands for a GC pause between them).
import t from 'tap';
import { Registry } from 'prom-client';
import { configFromObject } from '../../src/config/load-config.js';
import { QuotaEnforcer, type HoldCheck } from '../../src/quota/quota-enforcer.js';
import type { ClusterShares } from '../../src/quota/cluster-shares.js';
import { QuotaMetrics } from '../../src/observability/quota-metrics.js';

const RATE = 102_400; // bytes/s; the burst is one second of it

function enforcer(jumpMs: number) {
  const config = configFromObject({ listen: '127.0.0.1:1', upstream: '127.0.0.1:2', quotas: [{ clientId: 'app', produceBytesPerSec: RATE }], quotaTable: { newBucketShare: 1 } });
  let now = 0;
  const quotas = new QuotaEnforcer(config, new QuotaMetrics(new Registry()), () => (now += jumpMs));
  return { quotas, tenant: quotas.newTenant('10.0.0.1') };
}

for (const jumpMs of [0, 29]) {
  t.test(`a clock that moves ${jumpMs} ms at each reading`, async (t) => {
    const { quotas, tenant } = enforcer(jumpMs);
    const first = quotas.chargeProduce(tenant, 'app', 60 * 1024);
    t.same({ ...first }, { throttleMs: 0, holdMs: 0 }, 'a produce within the bucket is neither held nor throttled');
    // 80 KB into the 40 KB left (plus what refilled): the request may leave a quarter of the burst of debt
    const second = { ...quotas.chargeProduce(tenant, 'app', 80 * 1024) };
    t.ok(second.holdMs > 0, `held ${second.holdMs.toFixed(1)} ms`);
    if (jumpMs === 0) t.equal(Math.round(second.throttleMs), 400, 'with no time between them it owes 40 KB: 400 ms');
    t.equal(Math.round(second.throttleMs - second.holdMs), 250, 'the throttle left after the hold is the quarter burst\'s 250 ms');
    // larger than the burst and the debt allowed: held until the bucket is full, it then owes all beyond the burst
    const { quotas: q2, tenant: t2 } = enforcer(jumpMs);
    const big = { ...q2.chargeProduce(t2, 'app', 3 * RATE) };
    t.equal(Math.round(big.throttleMs - big.holdMs), 2000, 'three bursts\' worth: 2 s left after the hold');
  });
}

t.test("a full table: one tenant's invented client ids and huge declared produce frames do not throttle a newcomer", async (t) => {
  const MB = 1024 * 1024;
  const config = configFromObject({ listen: '127.0.0.1:1', upstream: '127.0.0.1:2', quotas: [{ clientId: '<default>', produceBytesPerSec: MB }], quotaTable: { capacity: 32 } });
  let now = 1000;
  const quotas = new QuotaEnforcer(config, new QuotaMetrics(new Registry()), () => now);
  const mallory = quotas.newTenant('10.6.6.6');
  // every slot in debt (each invented id's produce head declares 100 MB), then more ids: they overflow
  for (let i = 0; i < 40; i++) quotas.chargeProduce(mallory, `x${i}`, 100 * MB);
  t.ok(quotas.table.stats.overflowed >= 8, `${quotas.table.stats.overflowed} charges found no slot`);
  now += 1000;
  const alice = { ...quotas.chargeProduce(quotas.newTenant('10.1.1.1'), 'alice-app', 1000) };
  // 1,000 bytes at 1 MB/s from an empty bucket: about 1 ms (before: held 799 s behind mallory's overflowed debt)
  t.ok(alice.holdMs === 0 && alice.throttleMs < 2, `alice's first 1 KB produce: held ${alice.holdMs.toFixed(0)} ms, throttled ${alice.throttleMs.toFixed(1)} ms`);
});

t.test('a cluster-scoped quota: a wait cut to one coordination interval is checked again, so one connection gets the quota, not a request an interval', async (t) => {
  const KB = 1024;
  const config = configFromObject({
    listen: '127.0.0.1:1', upstream: '127.0.0.1:2',
    quotas: [{ user: 'carol', produceBytesPerSec: 100 * KB, fetchBytesPerSec: 100 * KB, scope: 'cluster' }],
  });
  let now = 0;
  const quotas = new QuotaEnforcer(config, new QuotaMetrics(new Registry()), () => now);
  // this sidecar serves the whole quota; waits are cut to its 1 s interval
  const wantsMore: number[] = [];
  quotas.cluster = {
    settings: { intervalMs: 1000 }, shareOf: () => 1, charged: (_slot: number, _kind: number, _cost: number, throttled: boolean) => void (throttled && wantsMore.push(now)),
  } as unknown as ClusterShares;
  const carol = quotas.newTenant('10.0.0.1', 'carol');
  const waitOut = (holdMs: number, check: HoldCheck | undefined) => {
    now += holdMs;
    for (let more = check ? quotas.holdLeft(check) : 0; more > 0; more = quotas.holdLeft(check!)) now += more;
  };
  // one connection pushing 1 MB batches back to back for 60 s: each is held, then its response's throttle mutes it
  let produced = 0;
  while (now < 60_000) {
    const c = { ...quotas.chargeProduce(carol, 'p', 1024 * KB) };
    waitOut(c.holdMs, c.check);
    produced += 1024 * KB;
    now += Math.max(0, c.throttleMs - c.holdMs);
  }
  const produceRate = produced / (now / 1000);
  t.ok(produceRate <= 100 * KB * 1.05 + (2 * 1024 * KB) / 60, `produced ${(produceRate / KB).toFixed(0)} KB/s against 100 (before: 1,024)`);
  // a held connection charges nothing new: each re-check says the tenant wants more, so its share can rise
  const gaps = wantsMore.slice(1).map((at, i) => at - wantsMore[i]!);
  t.ok(gaps.length > 50 && Math.max(...gaps) <= 1000, `"wants more" said ${wantsMore.length} times, at most ${Math.max(...gaps)} ms apart (within every coordination interval)`);
  // a consumer fetching 1 MB batches (KIP-74: a batch comes whole however little is asked), from then on
  let fetched = 0;
  const started = now;
  while (now - started < 60_000) {
    const a = quotas.fetchAllowance(carol, 'c');
    waitOut(a.waitMs, a.check);
    fetched += 1024 * KB;
    now += quotas.chargeFetchResponse(carol, 1024 * KB);
  }
  const fetchRate = fetched / ((now - started) / 1000);
  t.ok(fetchRate <= 100 * KB * 1.05 + (2 * 1024 * KB) / 60, `fetched ${(fetchRate / KB).toFixed(0)} KB/s against 100`);
});

t.test("the request quota as Kafka's: one throttle is at most 1 s (its quota window), and acks=0 produce is exempt", async (t) => {
  const config = configFromObject({ listen: '127.0.0.1:1', upstream: '127.0.0.1:2', quotas: [{ user: 'bob', requestsPerSec: 10 }] });
  const now = 0;
  const quotas = new QuotaEnforcer(config, new QuotaMetrics(new Registry()), () => now);
  // 200 connections of bob, one request each at once: 190 requests of debt at 10/s is 19 s
  let worst = 0;
  for (let i = 0; i < 200; i++) worst = Math.max(worst, quotas.chargeRequest(quotas.newTenant('10.0.0.1', 'bob'), 'c'));
  t.equal(worst, 1000, 'the longest throttle is 1,000 ms (before: 19,900)');
  const next = quotas.newTenant('10.0.0.1', 'bob');
  t.equal(quotas.chargeRequest(next, 'c'), 1000, 'the debt stays: the next request is throttled again');
  const requestTokens = () => (quotas.inspect('bob', 'c') as { requests: { bucket: { tokens: number } } }).requests.bucket.tokens;
  t.equal(requestTokens(), -10, 'but no deeper than one second of the rate (before: 191 requests, 19 s)');
  // acks=0 produce: not charged to the request quota (its bucket keeps its debt, the produce is not throttled for it)
  const owed = (quotas.inspect('bob', 'c') as { requests: { bucket: { tokens: number } } }).requests.bucket.tokens;
  t.equal(quotas.chargeProduce(next, 'c', 100, true).throttleMs, 0, 'an acks=0 produce is not throttled by the request quota');
  t.equal((quotas.inspect('bob', 'c') as { requests: { bucket: { tokens: number } } }).requests.bucket.tokens, owed, 'nor charged to it');
  t.equal(quotas.chargeProduce(next, 'c', 100).throttleMs, 1000, 'an acks=1 produce is');
});
