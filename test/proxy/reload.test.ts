// ProxyServer.reload against a fake broker: open connections take the new quotas at their next request, a tenant in
// debt stays in debt, quotas can be turned on where there were none, and settings that need a restart are named and
// keep their values.
import t, { type Test } from 'tap';
import { configFromObject } from '../../src/config/load-config.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { FakeBroker, proxyBefore, answerApiVersions } from '../support/fake-broker.js';
import { RawClient, API_VERSIONS_V3 } from '../support/raw-client.js';

async function setup(t: Test, config: Record<string, unknown>) {
  const broker = new FakeBroker(answerApiVersions);
  const { proxy } = await proxyBefore(broker, { quotaTable: { newBucketShare: 1 }, ...config });
  const client = await RawClient.open(proxy.address().port);
  t.teardown(async () => {
    client.close();
    await proxy.stop();
    await broker.close();
  });
  /** The next config: the one in force with these settings changed. */
  const next = (changes: Record<string, unknown>) =>
    configFromObject({ listen: '127.0.0.1:1', upstream: '127.0.0.1:2', metrics: '127.0.0.1:3', logLevel: 'silent', quotaTable: { newBucketShare: 1 }, ...config, ...changes });
  const send = async (n: number) => {
    const ids = Array.from({ length: n }, () => client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3));
    for (const id of ids) await client.response(id);
  };
  const requests = () => (proxy.quotas.inspect('ANONYMOUS', 'raw-client') as { requests: { quota: { ratePerSec: number } | null; bucket?: { tokens: number } } }).requests;
  return { proxy, next, send, requests };
}

t.test('a quota lowered while a connection is open applies to its next request; a tenant in debt stays in debt when it is raised', async (t) => {
  const config = { quotas: [{ clientId: 'raw-client', requestsPerSec: 1000, requestBurst: 1000 }] };
  const { proxy, next, send, requests } = await setup(t, config);
  // listen and upstream are what the test harness gave: the reload's own are ignored with them named
  const keep = { listen: `${proxy.config.listen.host}:${proxy.config.listen.port}`, upstream: `${proxy.config.upstream.host}:${proxy.config.upstream.port}`, metrics: `${proxy.config.metrics.host}:${proxy.config.metrics.port}` };
  await send(5);
  // lowered to one request every 4 s: a debt of one request lasts 4 s, long beside the milliseconds the test takes
  t.same(proxy.reload(next({ ...keep, quotas: [{ clientId: 'raw-client', requestsPerSec: 0.25, requestBurst: 2 }] })), [], 'nothing that needs a restart changed');
  t.equal(requests().quota!.ratePerSec, 0.25, 'the lowered quota is in force');
  t.ok(requests().bucket!.tokens <= 2, `the bucket's balance is clipped to the new burst (${requests().bucket!.tokens.toFixed(2)})`);
  await send(3);
  const debt = requests().bucket!.tokens;
  t.ok(debt < 0, `the open connection's next requests were charged under the lowered quota: in debt (${debt.toFixed(2)})`);
  proxy.reload(next({ ...keep, quotas: [{ clientId: 'raw-client', requestsPerSec: 0.5, requestBurst: 2 }] }));
  t.ok(requests().bucket!.tokens < 0, `raised, the tenant is still in debt (${requests().bucket!.tokens.toFixed(2)})`);
});

t.test('quotas turned on where there were none, and settings that need a restart are named and kept', async (t) => {
  const { proxy, next, send, requests } = await setup(t, {});
  const listen = proxy.config.listen;
  await send(1);
  t.equal(requests().quota, null, 'no quota at first');
  const kept = proxy.reload(next({ quotas: [{ clientId: 'raw-client', requestsPerSec: 0.25, requestBurst: 1 }], quotaTable: { capacity: 2000, newBucketShare: 1 } }));
  t.same(kept, ['listen', 'upstream', 'metrics', 'quotaTable'], 'named: what needs a restart');
  t.same(proxy.config.listen, listen, 'the listen address in force is the old one');
  t.equal(proxy.config.quotaTable.capacity, 10000, 'and the table keeps its capacity');
  await send(2);
  t.ok(requests().bucket!.tokens < 0, `the open connection is now charged (${requests().bucket!.tokens.toFixed(2)})`);
});

t.test("limits apply to open connections too: a lowered idle timeout closes a quiet one", async (t) => {
  const { proxy, next, send } = await setup(t, {});
  await send(1);
  t.equal(proxy.connectionCount, 1, 'one connection open');
  proxy.reload(next({ limits: { idleTimeoutMs: 1000 } }));
  t.equal(proxy.config.limits.idleTimeoutMs, 1000);
  const started = Date.now();
  while (proxy.connectionCount > 0 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 50));
  const ms = Date.now() - started;
  t.ok(proxy.connectionCount === 0 && ms < 5000, `the open connection, quiet, was closed ${ms} ms after the reload (idle timeout 1 s; it was 600 s)`);
});
