// The per-tenant metrics' label set is bounded by the config: tenants it names get their own series, every other
// tenant (however many client ids and users come and go) shares "other".
import t from 'tap';
import { Registry } from 'prom-client';
import { configFromObject } from '../../src/config/load-config.js';
import { QuotaMetrics } from '../../src/observability/quota-metrics.js';
import { QuotaEnforcer } from '../../src/quota/quota-enforcer.js';
import { MAX_NAMED_TENANTS, QuotaRules } from '../../src/quota/quota-rules.js';

const CLIENT_IDS = 20_000;

t.test(`${CLIENT_IDS.toLocaleString('en')} unnamed client ids add no label values`, async (t) => {
  const config = configFromObject({
    listen: '127.0.0.1:1', upstream: '127.0.0.1:2',
    quotas: [
      { clientId: 'named-app', produceBytesPerSec: 1000, fetchBytesPerSec: 1000 },
      { user: 'alice', produceBytesPerSec: 1000 },
      { clientId: '<default>', produceBytesPerSec: 1000, fetchBytesPerSec: 1000 },
    ],
  });
  const registry = new Registry();
  let now = 0;
  const quotas = new QuotaEnforcer(config, new QuotaMetrics(registry), () => now);
  const charge = (clientId: string) => {
    const tenant = quotas.newTenant('10.0.0.1');
    const throttle = quotas.chargeProduce(tenant, clientId, 5000).throttleMs; // over the burst: throttled every time
    if (throttle > 0) quotas.throttled(tenant, throttle);
    quotas.fetchAllowance(tenant, clientId);
    quotas.chargeFetchResponse(tenant, 5000);
    now += 1;
  };
  charge('named-app');
  for (let i = 0; i < CLIENT_IDS; i++) charge(`app-${i}`);

  const tenants = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    if (!metric.name.startsWith('kqp_tenant_')) continue;
    for (const v of metric.values) tenants.add(String(v.labels.tenant));
  }
  t.same([...tenants].sort(), ['named-app', 'other'], 'one series per named tenant that showed up, and "other"');
  const other = (await registry.getSingleMetric('kqp_tenant_throttled_requests_total')!.get()).values.find((v) => v.labels.tenant === 'other');
  t.equal(other?.value, CLIENT_IDS, 'every unnamed client id was counted under "other"');
});

t.test('a client that names itself after a user is not that user: not in its series, not in its admin gate queue', async (t) => {
  const config = configFromObject({ listen: '127.0.0.1:1', upstream: '127.0.0.1:2', quotas: [{ user: 'alice', produceBytesPerSec: 1000 }] });
  const registry = new Registry();
  const quotas = new QuotaEnforcer(config, new QuotaMetrics(registry), () => 0);
  const anonymous = quotas.newTenant('10.0.0.1');
  quotas.chargeProduce(anonymous, 'alice', 5000);
  const labels = (await registry.getSingleMetric('kqp_tenant_bytes_total')!.get()).values.map((v) => v.labels.tenant);
  t.same(labels, ['other'], 'an unauthenticated client with client id "alice" is counted as other');
  const alice = quotas.newTenant('10.0.0.2', 'alice');
  t.not(quotas.tenantOf(anonymous, 'alice'), quotas.tenantOf(alice, 'app'), `its gate queue (${quotas.tenantOf(anonymous, 'alice')}) is not user alice's (${quotas.tenantOf(alice, 'app')})`);
});

t.test(`at most ${MAX_NAMED_TENANTS} tenants named in the config get labels of their own, the first in its order`, async (t) => {
  const quotas = Array.from({ length: 3000 }, (_, i) => ({ clientId: `app-${i}`, requestsPerSec: 100 }));
  const named = QuotaRules.namedTenants(configFromObject({ listen: '127.0.0.1:1', upstream: '127.0.0.1:2', quotas }).quotas);
  t.equal(named.users.size + named.clients.size, MAX_NAMED_TENANTS, `${MAX_NAMED_TENANTS} of 3,000 (before: 3,000 series of each per-tenant metric)`);
  t.ok(named.clients.has('app-0') && named.clients.has(`app-${MAX_NAMED_TENANTS - 1}`) && !named.clients.has(`app-${MAX_NAMED_TENANTS}`), 'the first in the config');
});
