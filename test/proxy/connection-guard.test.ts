// Connection storms against an in-process fake broker: the per-address count (and its overrides), the per-address
// creation rate (waiting connections are not read and reach no broker; a bounded number of them), the per-principal
// count, and the state all this keeps: bounded by the connections open and the rate table's capacity, not by how
// many addresses came and went. Distinct source addresses are distinct loopback addresses (127.0.0.0/8).
import t, { type Test } from 'tap';
import { Writer } from '../../src/protocol/writer.js';
import * as Authenticate from '../../src/protocol/generated/sasl-authenticate-response.js';
import * as Handshake from '../../src/protocol/generated/sasl-handshake-response.js';
import * as CreateReq from '../../src/protocol/generated/create-topics-request.js';
import { encodeApiVersionsResponse, defaultApiVersionsResponse } from '../../src/protocol/generated/api-versions-response.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { decodeRequestFrame } from '../../src/protocol/message.js';
import { FakeBroker, apiKeyOf, correlationOf, responseFrame, proxyBefore } from '../support/fake-broker.js';
import { RawClient, served, API_VERSIONS_V3, encodeRequest } from '../support/raw-client.js';
import type { Socket } from 'node:net';
import type { ProxyServer } from '../../src/proxy/proxy-server.js';
import { createLogger } from '../../src/observability/logger.js';
import { ConnectionGuard } from '../../src/proxy/connection-guard.js';
import { configFromObject } from '../../src/config/load-config.js';

const encode = (f: (w: Writer) => void) => {
  const w = new Writer();
  f(w);
  return Buffer.from(w.finish());
};

/** Answers ApiVersions, and accepts every SASL exchange. */
const broker = () => new FakeBroker((frame) => {
  const id = correlationOf(frame);
  const version = frame.readInt16BE(6);
  switch (apiKeyOf(frame)) {
    case ApiKey.ApiVersions:
      return [responseFrame(id, encode((w) => encodeApiVersionsResponse(w, 3, defaultApiVersionsResponse())))];
    case ApiKey.SaslHandshake:
      return [responseFrame(id, encode((w) => Handshake.encodeSaslHandshakeResponse(w, version, { ...Handshake.defaultSaslHandshakeResponse(), mechanisms: ['PLAIN'] })))];
    case ApiKey.SaslAuthenticate:
      return [responseFrame(id, encode((w) => Authenticate.encodeSaslAuthenticateResponse(w, version, Authenticate.defaultSaslAuthenticateResponse())), version >= 2)];
    default:
      return undefined;
  }
});

async function setup(t: Test, connections: Record<string, unknown>, now?: () => number, b = broker(), config: Record<string, unknown> = {}) {
  const { proxy, port } = await proxyBefore(b, { connections, ...config }, createLogger('silent'), now ? { now } : {});
  const clients: RawClient[] = [];
  const open = async (from = '127.0.0.1') => {
    const c = await RawClient.open(port, '127.0.0.1', from);
    clients.push(c);
    return c;
  };
  t.teardown(async () => {
    for (const c of clients) c.close();
    await proxy.stop();
    await b.close();
  });
  return { proxy, open };
}

const rejected = async (proxy: ProxyServer, reason: string) =>
  Number((await proxy.metrics.registry.getSingleMetricAsString('kqp_connections_rejected_total')).split('\n').find((l) => l.includes(`reason="${reason}"`))?.split(' ').pop() ?? 0);

t.test('per address: connections beyond maxPerIp are refused; other addresses and overrides are counted on their own', async (t) => {
  const { proxy, open } = await setup(t, { maxPerIp: 2, maxPerIpOverrides: { '127.0.0.3/32': 1 } });
  const [a, b] = [await open(), await open()];
  t.ok((await served(a)) && (await served(b)), 'two connections from 127.0.0.1 are served');
  const third = await open();
  await third.closedWithin(5_000);
  t.pass('the third from 127.0.0.1 is closed');
  t.ok(await served(await open('127.0.0.2')), 'one from 127.0.0.2 is served');
  t.ok(await served(await open('127.0.0.3')), 'one from 127.0.0.3 (override: 1) is served');
  await (await open('127.0.0.3')).closedWithin(5_000);
  t.pass('a second from 127.0.0.3 is closed');
  t.equal(await rejected(proxy, 'per_ip_limit'), 2, 'both counted in kqp_connections_rejected_total{reason="per_ip_limit"}');
  a.close();
  await a.closedWithin(5_000);
  for (let i = 0; i < 100 && proxy.guard.stats.ips > 3; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(await served(await open()), 'once one closes, a new one from 127.0.0.1 is served');
});

t.test('per address overrides: the most specific network holding the address decides, whatever the order written', async (t) => {
  const limits = (overrides: [string, number][]) => ({ ...configFromObject({ listen: 'a:1', upstream: 'b:1' }).connections, maxPerIpOverrides: new Map(overrides) });
  for (const order of [[['10.0.0.0/8', 10], ['10.20.0.0/16', 10000], ['10.20.3.4/32', 1]], [['10.20.3.4/32', 1], ['10.20.0.0/16', 10000], ['10.0.0.0/8', 10]]] as [string, number][][]) {
    const guard = new ConnectionGuard(limits(order), () => 0);
    t.same(['10.1.1.1', '10.20.9.9', '10.20.3.4', '192.168.0.1'].map((ip) => guard.maxFor(ip)), [10, 10000, 1, 2000], `written ${order.map(([c]) => c).join(', ')}`);
  }
});

t.test('per address creation rate: over it, a connection waits unread and reaches no broker; a bounded number wait', async (t) => {
  // burst 2, then one every 2 s: the 3rd and 4th wait 2 and 4 s; with 2 waiting, the 5th is refused (if the five are
  // accepted within the 3rd's 2 s, which a loaded machine has to spare; at 5 per second it needed them within 200 ms)
  const { proxy, open } = await setup(t, { creationRatePerIp: 0.5, creationBurstPerIp: 2, maxWaiting: 2 });
  const started = performance.now();
  const clients = [await open(), await open(), await open(), await open()];
  const fifth = await open();
  await fifth.closedWithin(5_000);
  const refusedAt = performance.now() - started;
  t.equal(await rejected(proxy, 'creation_rate_queue_full'), 1, `the 5th is refused after ${refusedAt.toFixed(0)} ms: two were waiting already`);
  const answeredAt = await Promise.all(clients.map(async (c) => ((await served(c)) ? performance.now() - started : NaN)));
  t.ok(answeredAt.every((ms) => !Number.isNaN(ms)), `all four are served, after ${answeredAt.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  // the broker connection is opened only when the wait is over, so the request sent at once is answered after it
  t.ok(answeredAt[2]! >= 2000 - 50 && answeredAt[3]! >= 4000 - 50, 'the 3rd and 4th not before their waits (less 50 ms of timer slack)');
  t.equal(proxy.guard.waiting, 0, 'nobody waits any more');
});

t.test("a waiting connection opens when the proxy's clock says its wait is over, not when a timer thinks so", async (t) => {
  // A burst of accepts handled in one event-loop iteration leaves its timers counting from a time long past: they fire
  // early. Here the proxy's clock stands still while timers run, as it would relative to such stale timers.
  let clock = 0;
  const { proxy, open } = await setup(t, { creationRatePerIp: 10, creationBurstPerIp: 1 }, () => clock);
  t.ok(await served(await open()), 'the first is served (the burst)');
  const second = await open();
  for (let i = 0; i < 100 && proxy.guard.waiting === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(proxy.guard.waiting, 1, 'the second waits: 100 ms at 10 a second');
  t.notOk(await served(second, 1_000), 'ten times its wait later by the timers, the clock unmoved: still not served');
  t.equal(proxy.guard.waiting, 1, 'and still waiting');
  clock = 100;
  t.ok(await served(second), 'served once the clock reached the end of its wait');
  t.equal(proxy.guard.waiting, 0, 'nobody waits any more');
});

t.test('a waiting connection that goes away frees its place', async (t) => {
  const { proxy, open } = await setup(t, { creationRatePerIp: 0.5, creationBurstPerIp: 1, maxWaiting: 1 });
  t.ok(await served(await open()), 'the first is served');
  const waiting = await open();
  for (let i = 0; i < 100 && proxy.guard.waiting === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(proxy.guard.waiting, 1, 'the second waits (2 s at half a connection per second)');
  waiting.close();
  for (let i = 0; i < 100 && proxy.guard.waiting > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(proxy.guard.waiting, 0, 'it went away: its place is free');
  t.equal(proxy.guard.stats.ips, 1, 'and it no longer counts against its address');
});

t.test('a waiting client that sends its request and leaves is not forwarded; those that leave give their charge back', async (t) => {
  let clock = 0;
  const b = broker();
  const { proxy, open } = await setup(t, { creationRatePerIp: 1, creationBurstPerIp: 1, maxWaiting: 5 }, () => clock, b);
  const waitingFor = async (n: number) => {
    for (let i = 0; i < 200 && proxy.guard.waiting !== n; i++) await new Promise((r) => setTimeout(r, 10));
    return proxy.guard.waiting;
  };
  t.ok(await served(await open()), 'the first is served (the burst)');
  const forwarded = b.received.length;
  const leaver = await open();
  t.equal(await waitingFor(1), 1, 'the second waits (1 s)');
  leaver.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
  (leaver as unknown as { socket: Socket }).socket.end();
  await new Promise((r) => setTimeout(r, 100));
  clock = 1000;
  t.equal(await waitingFor(0), 0, 'its wait over, it no longer waits');
  t.equal(b.received.length, forwarded, 'what it sent before leaving did not reach the broker');
  t.equal(proxy.guard.stats.ips, 1, 'and it no longer counts against its address');
  t.ok(await served(await open(), 1000), 'its charge given back: the next one opens at once, the clock unmoved');
  const quitter = await open();
  t.equal(await waitingFor(1), 1, 'the one after waits');
  quitter.close();
  t.equal(await waitingFor(0), 0, 'and leaves before its turn');
  const next = await open();
  clock = 2000;
  t.ok(await served(next, 3000), 'its charge given back too: the next one waits its own second only (two without the refund)');
});

t.test('per principal: once the broker accepted its SASL exchange, connections beyond maxPerPrincipal are closed', async (t) => {
  const { proxy, open } = await setup(t, { maxPerPrincipal: 1 });
  const login = async (c: RawClient, user: string) => {
    await c.response(c.send(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN', unknownTaggedFields: undefined }));
    await c.response(c.send(ApiKey.SaslAuthenticate, 2, { authBytes: Buffer.from(`\0${user}\0secret`), unknownTaggedFields: undefined })).catch(() => undefined);
  };
  const [alice, alice2, bob] = [await open(), await open(), await open()];
  await login(alice, 'alice');
  t.ok(await served(alice), "alice's first connection is served");
  await login(alice2, 'alice');
  await alice2.closedWithin(5_000);
  t.pass("alice's second is closed once the broker accepted her");
  await login(bob, 'bob');
  t.ok(await served(bob), 'bob is counted on his own');
  t.equal(await rejected(proxy, 'per_principal_limit'), 1, 'counted in kqp_connections_rejected_total{reason="per_principal_limit"}');
  t.equal(proxy.guard.stats.principals, 2, 'two principals with connections open');
});

t.test('a request pipelined behind the SASL token of a connection its principal is over the limit on never reaches the broker', async (t) => {
  // the broker holds the CreateTopics of "other" (a place in flight); "pipelined" sends a CreateTopics right behind
  // its SaslAuthenticate, in one write: it is read only once the broker's verdict bound alice, who has her one
  // connection already, so the connection closes with it unforwarded (and the admin gate's places untouched)
  const reached: string[] = [];
  const b = new FakeBroker((frame) => {
    const id = correlationOf(frame);
    const client = decodeRequestFrame(frame.subarray(4)).header.clientId ?? '';
    switch (apiKeyOf(frame)) {
      case ApiKey.SaslHandshake:
        return [responseFrame(id, encode((w) => Handshake.encodeSaslHandshakeResponse(w, 1, { ...Handshake.defaultSaslHandshakeResponse(), mechanisms: ['PLAIN'] })))];
      case ApiKey.SaslAuthenticate:
        return [responseFrame(id, encode((w) => Authenticate.encodeSaslAuthenticateResponse(w, 2, Authenticate.defaultSaslAuthenticateResponse())), true)];
      case ApiKey.CreateTopics:
        reached.push(client);
        return undefined;
      default:
        return undefined;
    }
  });
  const { proxy, open: openFrom } = await setup(t, { maxPerPrincipal: 1 }, undefined, b, { admin: { maxInFlight: 2 } });
  const open = async (clientId: string) => Object.assign(await openFrom(), { clientId });
  const other = await open('other');
  const create = (name: string) => ({ ...CreateReq.defaultCreateTopicsRequest(), topics: [{ ...CreateReq.defaultCreatableTopic(), name, numPartitions: 1, replicationFactor: 1 }] });
  other.send(ApiKey.CreateTopics, 7, create('a'));
  const handshake = (c: RawClient) => c.response(c.send(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN', unknownTaggedFields: undefined }));
  const authenticate = { authBytes: Buffer.from('\0alice\0secret'), unknownTaggedFields: undefined };
  const alice = await open('alice');
  await handshake(alice);
  await alice.response(alice.send(ApiKey.SaslAuthenticate, 2, authenticate));
  const pipelined = await open('pipelined');
  await handshake(pipelined);
  pipelined.socket.write(Buffer.concat([
    encodeRequest(ApiKey.SaslAuthenticate, 2, 100, authenticate, 'pipelined'),
    encodeRequest(ApiKey.CreateTopics, 7, 101, create('b'), 'pipelined'),
  ]));
  await pipelined.closedWithin(5_000);
  t.same(reached, ['other'], 'the CreateTopics behind the token never reached the broker');
  t.equal(proxy.gate.stats.inFlight, 1, 'the other\'s CreateTopics alone counts as in flight at the gate');
  const protocolErrors = (await proxy.metrics.registry.getSingleMetric('kqp_protocol_errors_total')!.get()).values.reduce((n, v) => n + v.value, 0);
  t.equal(protocolErrors, 0, 'no bad frame counted');
});

t.test('the state is bounded: 2,000 addresses come and go through a 100-slot rate table', async (t) => {
  const { proxy, open } = await setup(t, { rateTableCapacity: 100 });
  for (let i = 0; i < 2_000; i++) {
    const c = await open(`127.1.${i >> 8}.${i & 255}`);
    c.close();
    await c.closedWithin(5_000);
  }
  for (let i = 0; i < 100 && proxy.guard.stats.ips > 0; i++) await new Promise((r) => setTimeout(r, 20));
  const s = proxy.guard.stats;
  t.equal(s.ips, 0, 'no address is counted once its connections closed');
  t.ok(s.rateSlotsUsed <= s.rateSlotsCapacity && s.rateSlotsCapacity === 100, `the rate table holds ${s.rateSlotsUsed} of its ${s.rateSlotsCapacity} slots`);
});
