// The per-tenant quota metrics are plain numbers on the hot path; scraped, they must read exactly as the prom-client
// counters they replace would for the same updates (a count never touched not listed, as a child never incremented).
import t from 'tap';
import { Counter, Registry } from 'prom-client';
import { QuotaMetrics } from '../../src/observability/quota-metrics.js';
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
  const lines = async (r: Registry) => (await r.metrics()).split('\n').sort();
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
