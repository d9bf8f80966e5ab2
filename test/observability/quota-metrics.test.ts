// The per-tenant quota metrics are plain numbers on the hot path; scraped, they must read exactly as the prom-client
// counters they replace would for the same updates (a count never touched not listed, as a child never incremented).
import t from 'tap';
import { Counter, Registry } from 'prom-client';
import { QuotaMetrics } from '../../src/observability/quota-metrics.js';
import { MAX_NAMED_TENANTS } from '../../src/quota/quota-rules.js';
import { configFromObject } from '../../src/config/load-config.js';
import { QUOTA_KINDS } from '../../src/quota/quota-kinds.js';

const kind = (name: string) => QUOTA_KINDS.findIndex((k) => k.name === name);

t.test('scraped, the tenant counts read as prom-client counters fed the same updates', async (t) => {
  const ours = new Registry();
  const metrics = new QuotaMetrics(ours);
  const theirs = new Registry();
  const registers = [theirs];
  const byteKinds = QUOTA_KINDS.filter((k) => k.unit === 'bytes').map((k) => k.charged).join('; ');
  const bytes = new Counter({ name: 'kqp_tenant_bytes_total', help: `Bytes charged to a tenant, by kind: ${byteKinds}`, labelNames: ['tenant', 'kind'], registers });
  const throttleSeconds = new Counter({ name: 'kqp_tenant_throttle_seconds_total', help: 'Throttle time given to a tenant (summed over its connections)', labelNames: ['tenant'], registers });
  const throttledTime = new Counter({
    name: 'kqp_tenant_throttled_time_seconds_total', help: 'Time during which a tenant had a connection throttled (at most one second a second)', labelNames: ['tenant'], registers,
  });
  const throttledRequests = new Counter({ name: 'kqp_tenant_throttled_requests_total', help: 'Requests that got a throttle', labelNames: ['tenant'], registers });
  const wouldThrottle = new Counter({
    name: 'kqp_tenant_would_throttle_seconds_total', help: 'Throttle time a tenant would have been given by its quotas in shadow mode (nothing was enforced)', labelNames: ['tenant'], registers,
  });
  // alice: produce and fetch bytes, throttles with and without a new request; bob: fetch bytes only (no produce sample),
  // one zero; carol: only shadow-mode throttles; other: one throttle that counted no new request
  const updates: (() => void)[] = [];
  for (let i = 0; i < 50; i++) {
    updates.push(() => { metrics.bytes('alice', kind('produce'), 1000 + i); bytes.labels('alice', 'produce').inc(1000 + i); });
    updates.push(() => { metrics.bytes('alice', kind('fetch'), 7 * i); bytes.labels('alice', 'fetch').inc(7 * i); });
    updates.push(() => { metrics.bytes('bob', kind('fetch'), i % 5 === 0 ? 0 : 333); bytes.labels('bob', 'fetch').inc(i % 5 === 0 ? 0 : 333); });
    updates.push(() => {
      // one throttle a second apart, each shorter than a second: the time throttled is their sum
      metrics.throttled('alice', 12.5 * i, i % 2 === 0, 1000 * i);
      throttleSeconds.labels('alice').inc((12.5 * i) / 1000);
      throttledTime.labels('alice').inc((12.5 * i) / 1000);
      if (i % 2 === 0) throttledRequests.labels('alice').inc();
    });
    updates.push(() => { metrics.wouldThrottle('carol', 3 * i); wouldThrottle.labels('carol').inc((3 * i) / 1000); });
  }
  updates.push(() => { metrics.throttled('other', 40, false, 0); throttleSeconds.labels('other').inc(0.04); throttledTime.labels('other').inc(0.04); });
  for (const u of updates) u();
  // the tenants' series (the configured quotas' are tested below)
  const lines = async (r: Registry) => (await r.metrics()).split('\n').filter((l) => l && !/kqp_quota_(rate|burst)\b/.test(l)).sort();
  t.strictSame(await lines(ours), await lines(theirs), 'the same exposition, line for line');
  const other = (await ours.getSingleMetric('kqp_tenant_throttle_seconds_total')!.get()).values.find((v) => v.labels.tenant === 'other');
  t.equal(other?.value, 0.04, 'getSingleMetric reads it too');
});

t.test('time throttled: the union of the throttles of a tenant\'s connections, at most one second a second', async (t) => {
  const registry = new Registry();
  const metrics = new QuotaMetrics(registry);
  const read = async (name: string) => (await registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.tenant === 'busy')!.value;
  // 50 connections, each muted 200 ms in every second for 10 s, at moments spread over the first 100 ms of the second
  for (let s = 0; s < 10; s++) for (let c = 0; c < 50; c++) metrics.throttled('busy', 200, true, s * 1000 + c * 2);
  t.ok(Math.abs((await read('kqp_tenant_throttle_seconds_total')) - 100) < 1e-9, 'throttle given: 100 s (50 connections x 10 x 0.2 s)');
  t.ok(Math.abs((await read('kqp_tenant_throttled_time_seconds_total')) - 10 * 0.298) < 1e-9, 'time throttled: 2.98 s of the 10 (0.298 s in each second)');
});

t.test('a reload keeps the counts of the tenants it still names, and of other', async (t) => {
  const registry = new Registry();
  const metrics = new QuotaMetrics(registry);
  for (const tenant of ['alice', 'bob', 'other']) metrics.throttled(tenant, 1000, true, 0);
  metrics.retain(new Set(['bob', 'carol']));
  const tenants = (await registry.getSingleMetric('kqp_tenant_throttle_seconds_total')!.get()).values.map((v) => v.labels.tenant);
  t.same(tenants.sort(), ['bob', 'other'], 'alice, named no more, is dropped: reloads do not grow the label set');
});

t.test('the configured quotas, by entity as Kafka writes it, kind, scope and mode; a reload replaces them; at most the first 1,000 entries', async (t) => {
  const registry = new Registry();
  const metrics = new QuotaMetrics(registry);
  const config = (quotas: object[], more: object = {}) => configFromObject({ listen: '127.0.0.1:1', upstream: '127.0.0.1:2', quotas, ...more }).quotas;
  metrics.quotas(config([
    { user: 'alice', produceBytesPerSec: 1048576, fetchBytesPerSec: 2097152, fetchBurstBytes: 4194304 },
    { user: 'alice', clientId: 'etl', requestsPerSec: 50 },
    { clientId: '<default>', partitionMutationsPerSec: 10, groupJoinsPerSec: 5, scope: 'cluster' },
    { user: '<default>', produceBytesPerSec: 65536, mode: 'shadow' },
  ]));
  const read = async (name: string) => (await registry.getSingleMetric(name)!.get()).values
    .map((v) => `${v.labels.entity} ${v.labels.kind} ${v.labels.scope} ${v.labels.mode} ${v.value}`);
  t.strictSame(await read('kqp_quota_rate'), [
    'user=alice produce broker enforce 1048576', 'user=alice fetch broker enforce 2097152',
    'user=alice,client-id=etl requests broker enforce 50',
    'client-id=<default> groupJoins cluster enforce 5', 'client-id=<default> partitionMutations cluster enforce 10',
    'user=<default> produce broker shadow 65536',
  ], 'each kind an entry sets, in the config\'s order');
  const bursts = await read('kqp_quota_burst');
  t.ok(bursts.includes('user=alice fetch broker enforce 4194304') && bursts.includes('user=alice produce broker enforce 1048576'),
    `bursts, set or the default (1 s of the rate): ${bursts.slice(0, 2).join('; ')}`);
  t.match(await registry.metrics(), /# TYPE kqp_quota_rate gauge/, 'a gauge');

  metrics.quotas(config([{ user: 'bob', produceBytesPerSec: 1000 }]));
  t.strictSame(await read('kqp_quota_rate'), ['user=bob produce broker enforce 1000'], 'a reload: the quotas it no longer sets are gone');
  metrics.quotas(config([{ user: 'bob', produceBytesPerSec: 1000 }], { enforce: false }));
  t.strictSame(await read('kqp_quota_rate'), ['user=bob produce broker shadow 1000'], 'enforce: false: every quota in shadow');

  metrics.quotas(config(Array.from({ length: MAX_NAMED_TENANTS + 500 }, (_, i) => ({ clientId: `app-${i}`, produceBytesPerSec: 1000 }))));
  const many = await read('kqp_quota_rate');
  t.same([many.length, many.at(-1)], [MAX_NAMED_TENANTS, `client-id=app-${MAX_NAMED_TENANTS - 1} produce broker enforce 1000`], `${MAX_NAMED_TENANTS + 500} entries: the first ${MAX_NAMED_TENANTS} exported`);
});
