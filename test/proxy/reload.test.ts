// ProxyServer.reload against a fake broker: open connections take the new quotas at their next request, a tenant in
// debt stays in debt, quotas can be turned on where there were none, and settings that need a restart are named and
// keep their values.
import t, { type Test } from 'tap';
import { configFromObject } from '../../src/config/load-config.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writer } from '../../src/protocol/writer.js';
import { decodeRequestFrame } from '../../src/protocol/message.js';
import * as CreateReq from '../../src/protocol/generated/create-topics-request.js';
import * as CreateRes from '../../src/protocol/generated/create-topics-response.js';
import { FakeBroker, proxyBefore, answerApiVersions, apiKeyOf, correlationOf, responseFrame } from '../support/fake-broker.js';
import { RawClient, API_VERSIONS_V3 } from '../support/raw-client.js';

const createOne = (name: string) => ({ ...CreateReq.defaultCreateTopicsRequest(), topics: [{ ...CreateReq.defaultCreatableTopic(), name, numPartitions: 1, replicationFactor: 1 }] });

/** A CreateTopics v7 response body: each topic asked for, created. */
function encodeCreateTopicsBody(frame: Buffer): Buffer {
  const req = decodeRequestFrame(frame.subarray(4)).body as CreateReq.CreateTopicsRequest;
  const topics = req.topics.map((x) => ({ ...CreateRes.defaultCreatableTopicResult(), name: x.name, numPartitions: 1, replicationFactor: 1 }));
  const w = new Writer();
  CreateRes.encodeCreateTopicsResponse(w, 7, { ...CreateRes.defaultCreateTopicsResponse(), topics });
  return Buffer.from(w.finish());
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

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
  const quotaRates = async () => (await proxy.metrics.registry.getSingleMetricAsString('kqp_quota_rate')).split('\n').filter((l) => !l.startsWith('#'));
  t.same(await quotaRates(), [], 'and no kqp_quota_rate series');
  const kept = proxy.reload(next({ quotas: [{ clientId: 'raw-client', requestsPerSec: 0.25, requestBurst: 1 }], quotaTable: { capacity: 2000, newBucketShare: 1 } }));
  t.same(kept, ['listen', 'upstream', 'metrics', 'quotaTable'], 'named: what needs a restart');
  const pending = (await proxy.metrics.registry.getSingleMetricAsString('kqp_config_restart_pending')).split('\n').filter((l) => l.endsWith(' 1'));
  t.same(pending.map((l) => /setting="([^"]+)"/.exec(l)![1]), kept, 'and kqp_config_restart_pending is 1 for each of them');
  const reloads = await proxy.metrics.registry.getSingleMetricAsString('kqp_config_reload_total');
  t.match(reloads, /kqp_config_reload_total\{result="failure"\} 0/, 'a reload failure\'s series exists at 0 before the first failure (so increase() sees the first)');
  t.same(await quotaRates(), ['kqp_quota_rate{entity="client-id=raw-client",kind="requests",scope="broker",mode="enforce"} 0.25'], 'the new quota in kqp_quota_rate');
  t.same(proxy.config.listen, listen, 'the listen address in force is the old one');
  t.equal(proxy.config.quotaTable.capacity, 10000, 'and the table keeps its capacity');
  await send(2);
  t.ok(requests().bucket!.tokens < 0, `the open connection is now charged (${requests().bucket!.tokens.toFixed(2)})`);
});

t.test('the first cluster-scoped quota, added at a reload, starts coordination with the file\'s settings; a later change waits for a restart', async (t) => {
  const { proxy, next } = await setup(t, {});
  const keep = { listen: `${proxy.config.listen.host}:${proxy.config.listen.port}`, upstream: `${proxy.config.upstream.host}:${proxy.config.upstream.port}`, metrics: `${proxy.config.metrics.host}:${proxy.config.metrics.port}` };
  const cluster = { ...keep, quotas: [{ clientId: 'raw-client', requestsPerSec: 100, scope: 'cluster' }] };
  const kept = proxy.reload(next({ ...cluster, coordination: { sidecarId: 'kafka-0', intervalMs: 500, topic: 'my-topic' } }));
  t.same(kept, [], 'nothing kept');
  const state = () => (proxy.sidecarState() as { coordination?: { sidecarId: string } }).coordination;
  t.equal(state()?.sidecarId, 'kafka-0', 'coordination started with the sidecarId of the file');
  t.match(proxy.config.coordination, { intervalMs: 500, topic: 'my-topic' }, 'and its other settings');
  t.same(proxy.reload(next({ ...cluster, coordination: { sidecarId: 'kafka-1', intervalMs: 500, topic: 'my-topic' } })), ['coordination'], 'running: a change is named');
  t.equal(state()?.sidecarId, 'kafka-0', 'and waits for a restart');
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

t.test('maxInFlightPerConnection lowered below what a connection has in flight while a request of it is parked: the request waits for room', async (t) => {
  // the broker answers nothing until told, oldest first: a's CreateTopics holds the gate's one place
  const held: { frame: Buffer; socket: Socket }[] = [];
  const broker = new FakeBroker((frame, socket) => {
    held.push({ frame, socket });
    return undefined;
  });
  const config = { admin: { maxInFlight: 1 }, limits: { maxInFlightPerConnection: 10 } };
  const { proxy } = await proxyBefore(broker, config);
  const [a, b] = [await RawClient.open(proxy.address().port), await RawClient.open(proxy.address().port)];
  t.teardown(async () => {
    a.close();
    b.close();
    await proxy.stop();
    await broker.close();
  });
  const release = () => {
    const h = held.shift();
    h!.socket.write(apiKeyOf(h!.frame) === ApiKey.CreateTopics ? responseFrame(correlationOf(h!.frame), encodeCreateTopicsBody(h!.frame), true)
      : answerApiVersions(h!.frame, h!.socket)![0]!);
  };
  a.send(ApiKey.CreateTopics, 7, createOne('a'));
  await until(() => held.length === 1);
  const versions = [1, 2, 3].map(() => b.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3));
  await until(() => held.length === 4);
  const created = b.send(ApiKey.CreateTopics, 7, createOne('b'));
  await until(() => proxy.gate.stats.waiting === 1);
  const limitInFlight = (n: number) =>
    proxy.reload(configFromObject({ listen: '127.0.0.1:1', upstream: '127.0.0.1:2', metrics: '127.0.0.1:3', logLevel: 'silent', ...config, limits: { maxInFlightPerConnection: n } }));
  limitInFlight(2);
  release(); // a's CreateTopics: the gate admits b's, whose connection has 3 in flight, above the new limit of 2
  for (let i = 0; i < 3; i++) {
    await sleep(100);
    release();
    t.equal((await b.response(versions[i]!)).readInt32BE(4), versions[i], `b's ApiVersions ${i + 1} answered`);
  }
  await until(() => held.length === 1);
  release();
  t.equal((await b.response(created)).readInt32BE(4), created, "b's CreateTopics went once there was room, and was answered");
  t.notOk(b.closed, 'b still open');
  await until(() => proxy.gate.stats.inFlight === 0);

  // again, and b goes away while its admitted request waits for room: its place at the gate is released
  limitInFlight(10);
  a.send(ApiKey.CreateTopics, 7, createOne('a2'));
  await until(() => held.length === 1);
  [1, 2, 3].forEach(() => b.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3));
  await until(() => held.length === 4);
  b.send(ApiKey.CreateTopics, 7, createOne('b2'));
  await until(() => proxy.gate.stats.waiting === 1);
  limitInFlight(2);
  release(); // a's: the gate admits b's, which waits for room
  await until(() => proxy.gate.stats.inFlight === 1 && proxy.gate.stats.waiting === 0);
  b.close();
  await until(() => proxy.connectionCount === 1);
  t.same({ inFlight: proxy.gate.stats.inFlight, waiting: proxy.gate.stats.waiting }, { inFlight: 0, waiting: 0 }, 'b closed: no place held for it');
});
