// Shadow mode against a fake broker: a quota with mode shadow (or every quota, with enforce: false) is charged and
// metered as if enforced, but nobody is muted, held or told a throttle_time_ms; a tenant over it is served at its full
// rate while kqp_tenant_would_throttle_seconds_total counts the throttle it would have had.
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import type { ApiVersionsResponse } from '../../src/protocol/generated/api-versions-response.js';
import { Registry } from 'prom-client';
import { configFromObject } from '../../src/config/load-config.js';
import { QuotaEnforcer } from '../../src/quota/quota-enforcer.js';
import { QuotaMetrics } from '../../src/observability/quota-metrics.js';
import { FakeBroker, proxyBefore, answerApiVersions } from '../support/fake-broker.js';
import { RawClient, API_VERSIONS_V3 } from '../support/raw-client.js';

const RATE = 20;
const REQUESTS = 100;
/** The requests beyond the burst take (REQUESTS - RATE) / RATE = 4 s at the quota's rate; one more comes after that. */
const EXCESS_S = (REQUESTS - RATE) / RATE;
const AFTER_MS = 5000;

async function run(t: Test, config: Record<string, unknown>) {
  const broker = new FakeBroker(answerApiVersions);
  const { proxy, port } = await proxyBefore(broker, { quotaTable: { newBucketShare: 1 }, ...config });
  const client = await RawClient.open(port);
  t.teardown(async () => {
    client.close();
    await proxy.stop();
    await broker.close();
  });
  const started = performance.now();
  const ids = Array.from({ length: REQUESTS }, () => client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3));
  let throttled = 0;
  for (const id of ids) {
    const res = decodeResponseFrame((await client.response(id)).subarray(4), ApiKey.ApiVersions, 3).body as ApiVersionsResponse;
    if (res.throttleTimeMs > 0) throttled++;
  }
  const seconds = (performance.now() - started) / 1000;
  // one more request once the would-be mute is over: shadow mode meters that mute as its time passes, seen at the
  // connection's next request
  await sleep(Math.max(0, started + AFTER_MS - performance.now()));
  await client.response(client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3));
  const text = await proxy.metrics.registry.metrics();
  const metric = (name: string) => Number(new RegExp(`^${name}\\{tenant="raw-client"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { seconds, throttled, throttleSeconds: metric('kqp_tenant_throttle_seconds_total'), wouldThrottleSeconds: metric('kqp_tenant_would_throttle_seconds_total'), proxy };
}

const quota = (extra: Record<string, unknown> = {}) => ({ clientId: 'raw-client', requestsPerSec: RATE, requestBurst: RATE, ...extra });
/**
 * Enforced, 100 requests at 20/s with a burst of 20 are muted for about EXCESS_S (the first subtest asserts more than
 * this); in shadow, served sooner than this shows nobody was muted (the counts say it too), on however slow a machine.
 */
const ENFORCED_S = EXCESS_S - 0.5;

/**
 * What the same workload enforced was told (the first subtest), for the record: a little under the excess at the
 * quota's rate, as each muted request is read a moment after its mute ends and what refilled meanwhile is not owed.
 */
let enforced = 0;

t.test('enforced: muted and told, and nothing metered as would-be', async (t) => {
  const r = await run(t, { quotas: [quota()] });
  t.ok(r.seconds > ENFORCED_S, `${REQUESTS} requests took ${r.seconds.toFixed(2)} s at ${RATE}/s`);
  t.ok(r.throttled > 0 && r.throttleSeconds > 0 && r.throttleSeconds <= EXCESS_S + 0.01, `throttled (${r.throttled} responses told, ${r.throttleSeconds.toFixed(3)} s)`);
  t.equal(r.wouldThrottleSeconds, 0);
  enforced = r.throttleSeconds;
});

t.test('mode: shadow on a quota entry', async (t) => {
  const r = await run(t, { quotas: [quota({ mode: 'shadow' })] });
  t.ok(r.seconds < ENFORCED_S, `${REQUESTS} requests at ${RATE}/s served in ${r.seconds.toFixed(2)} s (enforced, more than ${ENFORCED_S} s): nobody muted`);
  t.equal(r.throttled, 0, 'no response carries a throttle_time_ms');
  t.equal(r.throttleSeconds, 0, 'no throttle given');
  t.ok(r.wouldThrottleSeconds > 0 && r.wouldThrottleSeconds <= EXCESS_S + 0.01,
    `the throttle it would have had is metered: ${r.wouldThrottleSeconds.toFixed(3)} s (the excess at the quota's rate: ${EXCESS_S} s, less what refilled while the requests were read; enforced, it was told ${enforced.toFixed(3)} s)`);
  t.match(r.proxy.quotas.inspect('ANONYMOUS', 'raw-client'), { requests: { quota: { mode: 'shadow' } } }, '/quota says shadow');
});

t.test('enforce: false puts every quota in shadow mode', async (t) => {
  const r = await run(t, { enforce: false, quotas: [quota()] });
  t.ok(r.seconds < ENFORCED_S, `served in ${r.seconds.toFixed(2)} s (enforced, more than ${ENFORCED_S} s)`);
  t.equal(r.throttled + r.throttleSeconds, 0, 'no throttle given or told');
  t.ok(r.wouldThrottleSeconds > 0 && r.wouldThrottleSeconds <= EXCESS_S + 0.01,
    `the throttle it would have had is metered: ${r.wouldThrottleSeconds.toFixed(3)} s (the excess at the quota's rate: ${EXCESS_S} s, less what refilled while the requests were read; enforced, it was told ${enforced.toFixed(3)} s)`);
});

t.test('the simulated mute, on a clock of its own: requests arriving during it extend it by their cost at the rate; it is metered as its time passes', async (t) => {
  let now = 0;
  const registry = new Registry();
  const quotas = new QuotaEnforcer(configFromObject({ listen: '127.0.0.1:1', upstream: '127.0.0.1:2', quotaTable: { newBucketShare: 1 }, quotas: [quota({ mode: 'shadow' })] }), new QuotaMetrics(registry), () => now);
  const state = quotas.newTenant(undefined);
  const metered = async () => Number(/^kqp_tenant_would_throttle_seconds_total\{tenant="raw-client"\} (\S+)$/m.exec(await registry.metrics())?.[1] ?? 0);
  const throttles = Array.from({ length: REQUESTS }, () => quotas.chargeRequest(state, 'raw-client'));
  t.same(throttles.filter((ms) => ms !== 0), [], `${REQUESTS} requests at once: none throttled`);
  t.equal(await metered(), 0, 'nothing metered yet: the would-be mute has not passed');
  now = 1000;
  quotas.chargeRequest(state, 'raw-client');
  t.equal(await metered(), 1, 'a second later, a second of it (and that request, arriving during it, extends it)');
  now = AFTER_MS;
  quotas.chargeRequest(state, 'raw-client');
  const beyond = REQUESTS - RATE + 1;
  t.equal(await metered(), beyond / RATE, `after it: the ${beyond} requests beyond the burst at ${RATE}/s`);
});

t.test('a fetch in flight across a reload to enforce: false: its response is charged in shadow, throttling nobody', async (t) => {
  const base = { listen: '127.0.0.1:1', upstream: '127.0.0.1:2', quotas: [{ clientId: 'app', fetchBytesPerSec: 1000 }] };
  const quotas = new QuotaEnforcer(configFromObject(base), new QuotaMetrics(new Registry()), () => 0);
  const tenant = quotas.newTenant('10.0.0.1');
  t.equal(quotas.fetchAllowance(tenant, 'app').maxBytes, 250, 'the fetch is read under the enforced quota (capped to a quarter of the burst)');
  quotas.configure(configFromObject({ ...base, enforce: false }));
  t.equal(quotas.chargeFetchResponse(tenant, 100_000), 0, 'its 100 KB response throttles nobody (before: 99 s under the quota read before the reload)');
});
