// The admin stages against an in-process fake broker. The partition-mutation quota (KIP-599): topics are accepted
// while the tenant's bucket is not in debt and the rest of the same request are answered THROTTLING_QUOTA_EXCEEDED by
// the proxy (the broker sees a request without them; a request refused whole never reaches it, and its answer keeps
// its place among pipelined responses); validate_only is not charged; versions older than KIP-599 are held instead;
// DeleteTopics is charged the partitions the sidecar looks up itself. The admission gate: at most maxInFlight at the
// broker, the rest served fairly across tenants; a waiting request whose client goes away frees its place; one that
// waits too long is answered REQUEST_TIMED_OUT.
import t, { type Test } from 'tap';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writer } from '../../src/protocol/writer.js';
import { decodeRequestFrame, decodeResponseFrame } from '../../src/protocol/message.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { ErrorCode } from '../../src/protocol/generated/error-codes.js';
import * as CreateReq from '../../src/protocol/generated/create-topics-request.js';
import * as CreateRes from '../../src/protocol/generated/create-topics-response.js';
import * as DeleteReq from '../../src/protocol/generated/delete-topics-request.js';
import * as DeleteRes from '../../src/protocol/generated/delete-topics-response.js';
import * as MetadataRes from '../../src/protocol/generated/metadata-response.js';
import * as HandshakeRes from '../../src/protocol/generated/sasl-handshake-response.js';
import * as AuthRes from '../../src/protocol/generated/sasl-authenticate-response.js';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger.js';
import { configFromObject } from '../../src/config/load-config.js';
import { encodeApiVersionsResponse, defaultApiVersionsResponse } from '../../src/protocol/generated/api-versions-response.js';
import { FakeBroker, apiKeyOf, correlationOf, responseFrame, proxyBefore } from '../support/fake-broker.js';
import { RawClient, API_VERSIONS_V3, encodeRequest } from '../support/raw-client.js';

const encode = (f: (w: Writer) => void) => {
  const w = new Writer();
  f(w);
  return Buffer.from(w.finish());
};

/**
 * Answers CreateTopics (each topic created with the partitions it asked for), DeleteTopics, Metadata (every topic has
 * METADATA_PARTITIONS, or, given `shown`, the topics in it; the others are unknown) and ApiVersions.
 */
const METADATA_PARTITIONS = 7;
function answer(frame: Buffer, shown?: Set<string>): Buffer | undefined {
  const id = correlationOf(frame);
  const v = frame.readInt16BE(6);
  switch (apiKeyOf(frame)) {
    case ApiKey.CreateTopics: {
      const req = decodeRequestFrame(frame.subarray(4)).body as CreateReq.CreateTopicsRequest;
      const topics = req.topics.map((x) => ({ ...CreateRes.defaultCreatableTopicResult(), name: x.name, numPartitions: x.numPartitions < 0 ? 3 : x.numPartitions, replicationFactor: 1 }));
      return responseFrame(id, encode((w) => CreateRes.encodeCreateTopicsResponse(w, v, { ...CreateRes.defaultCreateTopicsResponse(), topics })), v >= 5);
    }
    case ApiKey.DeleteTopics: {
      const req = decodeRequestFrame(frame.subarray(4)).body as DeleteReq.DeleteTopicsRequest;
      const names = v >= 6 ? req.topics.map((x) => x.name) : req.topicNames;
      const responses = names.map((name) => ({ ...DeleteRes.defaultDeletableTopicResult(), name }));
      return responseFrame(id, encode((w) => DeleteRes.encodeDeleteTopicsResponse(w, v, { ...DeleteRes.defaultDeleteTopicsResponse(), responses })), v >= 4);
    }
    case ApiKey.Metadata: {
      const req = decodeRequestFrame(frame.subarray(4)).body as { topics: { name: string }[] };
      const partitions = Array.from({ length: METADATA_PARTITIONS }, (_, i) => ({ ...MetadataRes.defaultMetadataResponsePartition(), partitionIndex: i }));
      const topics = req.topics.map((x) => (!shown || shown.has(x.name)
        ? { ...MetadataRes.defaultMetadataResponseTopic(), name: x.name, topicId: Buffer.alloc(16, 1), partitions }
        : { ...MetadataRes.defaultMetadataResponseTopic(), name: x.name, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }));
      return responseFrame(id, encode((w) => MetadataRes.encodeMetadataResponse(w, v, { ...MetadataRes.defaultMetadataResponse(), topics })), v >= 9);
    }
    case ApiKey.ApiVersions:
      return responseFrame(id, encode((w) => encodeApiVersionsResponse(w, 3, defaultApiVersionsResponse())));
    default:
      return undefined;
  }
}

interface Received {
  key: number;
  body: object;
  at: number;
  clientId: string | null;
}

/**
 * A fake broker that records what reached it; CreateTopics answers wait for release() when `holdCreates` (so that
 * requests stay in flight at the gate); its Metadata shows only the topics in `shown`, when given.
 */
async function setup(t: Test, config: Record<string, unknown>, holdCreates = false, shown?: Set<string>, refuseOwnLookups = false) {
  const received: Received[] = [];
  const held: { frame: Buffer; socket: Socket }[] = [];
  const broker = new FakeBroker((frame, socket) => {
    const d = decodeRequestFrame(frame.subarray(4));
    received.push({ key: d.header.apiKey, body: d.body, at: performance.now(), clientId: d.header.clientId });
    // as a SASL listener does with a first request that is not part of a login
    if (refuseOwnLookups && d.header.clientId?.startsWith('kqp-')) {
      socket.destroy();
      return undefined;
    }
    if (holdCreates && d.header.apiKey === ApiKey.CreateTopics) {
      held.push({ frame, socket });
      return undefined;
    }
    const out = answer(frame, shown);
    return out ? [out] : undefined;
  });
  // as a sidecar runs: rewriting broker addresses (responses taken whole to merge them must come through that too)
  const { proxy, port } = await proxyBefore(broker, { quotaTable: { newBucketShare: 1 }, advertise: { mode: 'map', map: { '1': '127.0.0.1:19092' } }, ...config });
  const clients: RawClient[] = [];
  const open = async () => {
    const c = await RawClient.open(port);
    clients.push(c);
    return c;
  };
  /** Answers the oldest held CreateTopics. */
  const release = () => {
    const h = held.shift()!;
    h.socket.write(answer(h.frame)!);
  };
  t.teardown(async () => {
    for (const c of clients) c.close();
    await proxy.stop();
    await broker.close();
  });
  return { proxy, open, received, held, release };
}

const topic = (name: string, numPartitions: number) => ({ ...CreateReq.defaultCreatableTopic(), name, numPartitions, replicationFactor: 1 });
const create = (topics: ReturnType<typeof topic>[], validateOnly = false) => ({ ...CreateReq.defaultCreateTopicsRequest(), topics, timeoutMs: 30_000, validateOnly });
const createResponse = (frame: Buffer, v: number) => decodeResponseFrame(frame.subarray(4), ApiKey.CreateTopics, v).body as CreateRes.CreateTopicsResponse;
const byName = (r: CreateRes.CreateTopicsResponse) => Object.fromEntries(r.topics.map((x) => [x.name, x.errorCode]));
const mutationTokens = (proxy: { quotas: { inspect(u: string, c: string): object } }) =>
  (proxy.quotas.inspect('ANONYMOUS', 'raw-client') as { partitionMutations: { bucket: { tokens: number } } }).partitionMutations.bucket.tokens;

/** How early a timer may fire (as test/quota/throttle.test.ts allows). */
const TIMER_EARLY_MS = 50;
// 10 partitions a second, 10 at once (buckets start full here)
const QUOTA = { quotas: [{ clientId: 'raw-client', partitionMutationsPerSec: 10, partitionMutationBurst: 10 }] };

t.test('one CreateTopics: topics accepted while the bucket is not in debt, the rest answered THROTTLING_QUOTA_EXCEEDED by the proxy', async (t) => {
  const { proxy, open, received } = await setup(t, QUOTA);
  const client = await open();
  // 10 tokens: a (6) leaves 4, b (44) takes the bucket to -40 (it was not in debt: accepted), c is refused
  const sentAt = performance.now();
  const id = client.send(ApiKey.CreateTopics, 7, create([topic('a', 6), topic('b', 44), topic('c', 6)]));
  const res = createResponse(await client.response(id), 7);
  const tookMs = performance.now() - sentAt;
  const forwarded = received.filter((r) => r.key === ApiKey.CreateTopics);
  t.same(forwarded.map((r) => (r.body as CreateReq.CreateTopicsRequest).topics.map((x) => x.name)), [['a', 'b']], 'the broker was asked for a and b only');
  t.same(byName(res), { a: ErrorCode.NONE, b: ErrorCode.NONE, c: ErrorCode.THROTTLING_QUOTA_EXCEEDED }, 'the client hears of all three, c refused');
  // the debt as the proxy decided: 40 partitions at 10/s, less what refilled while the request was in the proxy
  t.ok(res.throttleTimeMs >= 4000 - tookMs - 1 && res.throttleTimeMs <= 4000, `throttle_time_ms ${res.throttleTimeMs}: the debt of 40 partitions at 10/s (${tookMs.toFixed(0)} ms after the request was sent)`);
  t.ok(mutationTokens(proxy) < 0, 'the tenant is in debt');

  // in debt (this connection is muted for it, another of the tenant's is not): the next request is refused whole,
  // answered by the proxy in order between two ApiVersions
  received.length = 0;
  const other = await open();
  other.socket.write(Buffer.concat([
    encodeRequest(ApiKey.ApiVersions, 3, 10, API_VERSIONS_V3),
    encodeRequest(ApiKey.CreateTopics, 7, 11, create([topic('d', 1)])),
    encodeRequest(ApiKey.ApiVersions, 3, 12, API_VERSIONS_V3),
  ]));
  await other.response(12);
  t.same(other.frames.map((f) => f.readInt32BE(4)), [10, 11, 12], 'the local answer keeps its place among the pipelined responses');
  const refused = createResponse(other.frames[1]!, 7);
  t.same(byName(refused), { d: ErrorCode.THROTTLING_QUOTA_EXCEEDED }, 'd refused');
  t.ok(refused.throttleTimeMs > 0, `with throttle_time_ms ${refused.throttleTimeMs}`);
  t.notOk(received.some((r) => r.key === ApiKey.CreateTopics), 'a request refused whole never reaches the broker');
  t.equal(proxy.gate.stats.inFlight, 0, 'the refused request gave its gate place back');
});

t.test('validate_only is not charged', async (t) => {
  const { proxy, open, received } = await setup(t, QUOTA);
  const client = await open();
  const id = client.send(ApiKey.CreateTopics, 7, create([topic('a', 100), topic('b', 100)], true));
  const res = createResponse(await client.response(id), 7);
  t.same(byName(res), { a: ErrorCode.NONE, b: ErrorCode.NONE }, 'both validated by the broker');
  t.equal(received.filter((r) => r.key === ApiKey.CreateTopics).length, 1, 'forwarded');
  t.ok(mutationTokens(proxy) > 9, `the bucket is untouched (${mutationTokens(proxy).toFixed(2)} of 10)`);
});

t.test('a CreateTopics of no topics, with or without a quota, is the broker\'s to answer', async (t) => {
  for (const config of [{}, QUOTA]) {
    const { open, received } = await setup(t, config);
    const client = await open();
    const res = createResponse(await client.response(client.send(ApiKey.CreateTopics, 7, create([]))), 7);
    t.same(res.topics, [], 'an empty answer, not THROTTLING_QUOTA_EXCEEDED');
    t.equal(received.filter((r) => r.key === ApiKey.CreateTopics).length, 1, 'forwarded');
  }
});

t.test('a version older than KIP-599 (CreateTopics v5) is held while the tenant is in debt, then forwarded whole', async (t) => {
  const { open, received } = await setup(t, QUOTA);
  const client = await open();
  const other = await open();
  // 15 partitions: 5 in debt, half a second from when the first is charged (after it is sent)
  const firstSentAt = performance.now();
  const first = client.send(ApiKey.CreateTopics, 5, create([topic('a', 15)]));
  await client.response(first);
  // a second connection of the same tenant (the first is muted for its throttle)
  const second = other.send(ApiKey.CreateTopics, 5, create([topic('b', 1), topic('c', 1)]));
  const res = createResponse(await other.response(second), 5);
  const arrived = received.filter((r) => r.key === ApiKey.CreateTopics)[1]!;
  t.same(byName(res), { b: ErrorCode.NONE, c: ErrorCode.NONE }, 'no topic refused: a v5 client cannot be told 89');
  // the debt is paid 500 ms after the first was charged, however late a loaded machine sends the second
  t.ok(arrived.at - firstSentAt >= 500 - TIMER_EARLY_MS, `the broker saw it ${(arrived.at - firstSentAt).toFixed(0)} ms after the first was sent (500 ms of debt)`);
});

t.test('DeleteTopics is charged the partitions the sidecar looks up itself', async (t) => {
  // one partition a second: at most the seconds from the send to the reading refill (the bucket starts full)
  const { proxy, open, received } = await setup(t, { quotas: [{ clientId: 'raw-client', partitionMutationsPerSec: 1, partitionMutationBurst: 100 }] });
  const client = await open();
  const started = performance.now();
  const id = client.send(ApiKey.DeleteTopics, 6, { ...DeleteReq.defaultDeleteTopicsRequest(), topics: [{ ...DeleteReq.defaultDeleteTopicState(), name: 'x' }], timeoutMs: 30_000 });
  const res = decodeResponseFrame((await client.response(id)).subarray(4), ApiKey.DeleteTopics, 6).body as DeleteRes.DeleteTopicsResponse;
  t.equal(res.responses[0]!.errorCode, ErrorCode.NONE, 'deleted');
  const lookup = received.find((r) => r.key === ApiKey.Metadata && r.clientId === 'kqp-topic-partitions');
  t.ok(lookup, 'the sidecar asked the broker how many partitions x has');
  const used = 100 - mutationTokens(proxy);
  const elapsedS = (performance.now() - started) / 1000;
  t.ok(used <= METADATA_PARTITIONS && used >= METADATA_PARTITIONS - elapsedS, `charged ${used.toFixed(2)} partitions (x has ${METADATA_PARTITIONS}; ${elapsedS.toFixed(2)} s to refill since the send)`);
});

t.test("on a SASL listener the sidecar's lookups log in with upstream.sasl; refused, the count is admin.defaultPartitions and the log says why", async (t) => {
  // a broker whose listener wants a PLAIN login before anything else (as Kafka's SASL listeners do, ApiVersions aside)
  const loggedIn = new WeakSet<Socket>();
  const saslBroker = () => new FakeBroker((frame, socket) => {
    const id = correlationOf(frame);
    const d = decodeRequestFrame(frame.subarray(4));
    if (d.header.apiKey === ApiKey.SaslHandshake) {
      const body = { ...HandshakeRes.defaultSaslHandshakeResponse(), mechanisms: ['PLAIN'] };
      return [responseFrame(id, encode((w) => HandshakeRes.encodeSaslHandshakeResponse(w, 1, body)))];
    }
    if (d.header.apiKey === ApiKey.SaslAuthenticate) {
      const right = (d.body as { authBytes: Buffer }).authBytes.toString() === '\0sidecar\0sidecar-secret';
      if (right) loggedIn.add(socket);
      const body = { ...AuthRes.defaultSaslAuthenticateResponse(), ...(right ? {} : { errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED, errorMessage: 'Authentication failed: Invalid username or password' }) };
      return [responseFrame(id, encode((w) => AuthRes.encodeSaslAuthenticateResponse(w, 2, body)), true)];
    }
    if (d.header.clientId?.startsWith('kqp-') && !loggedIn.has(socket)) {
      socket.destroy();
      return undefined;
    }
    const out = answer(frame);
    return out ? [out] : undefined;
  });
  const settings = {
    admin: { defaultPartitions: 2 }, quotaTable: { newBucketShare: 1 },
    quotas: [{ clientId: 'raw-client', partitionMutationsPerSec: 0.001, partitionMutationBurst: 100 }],
  };
  const sidecarWith = async (password: string) => {
    process.env.KQP_TEST_SIDECAR_PASSWORD = password;
    const lines: string[] = [];
    const logger = createLogger('warn', new Writable({ write: (chunk: Buffer, _e, done) => done(void lines.push(chunk.toString())) }));
    const broker = saslBroker();
    const login = { sasl: { mechanism: 'PLAIN', username: 'sidecar', passwordEnv: 'KQP_TEST_SIDECAR_PASSWORD' } };
    const { proxy, port } = await proxyBefore(broker, { upstream: login, ...settings }, logger);
    const client = await RawClient.open(port);
    t.teardown(async () => {
      client.close();
      await proxy.stop();
      await broker.close();
    });
    /** Deletes x; how many partitions that was charged. */
    const charged = async () => {
      const before = mutationTokens(proxy);
      await client.response(client.send(ApiKey.DeleteTopics, 6, { ...DeleteReq.defaultDeleteTopicsRequest(), topics: [{ ...DeleteReq.defaultDeleteTopicState(), name: 'x' }], timeoutMs: 30_000 }));
      return before - mutationTokens(proxy);
    };
    const reloadWith = (next: string) => {
      process.env.KQP_TEST_SIDECAR_PASSWORD = next;
      const at = (e: { host: string; port: number }) => `${e.host}:${e.port}`;
      const c = proxy.config;
      return proxy.reload(configFromObject({ ...settings, listen: at(c.listen), upstream: { address: at(c.upstream), ...login }, metrics: at(c.metrics), logLevel: 'silent' }));
    };
    const metrics = () => proxy.metrics.registry.getSingleMetricAsString('kqp_upstream_errors_total');
    return { charged, reloadWith, metrics, refusals: () => lines.filter((l) => l.includes('upstream-login-refused')) };
  };
  t.teardown(() => delete process.env.KQP_TEST_SIDECAR_PASSWORD);
  const right = await sidecarWith('sidecar-secret');
  const logged = await right.charged();
  t.ok(Math.abs(logged - METADATA_PARTITIONS) < 0.01, `logged in: charged ${logged.toFixed(3)} partitions (x has ${METADATA_PARTITIONS})`);
  t.same(right.refusals(), [], 'nothing said');
  const wrong = await sidecarWith('not-the-secret');
  const refused = await wrong.charged();
  t.ok(Math.abs(refused - 2) < 0.01, `refused: charged ${refused.toFixed(3)} partitions (admin.defaultPartitions 2)`);
  t.equal(wrong.refusals().length, 1, 'one warning');
  t.match(wrong.refusals()[0], /Invalid username or password/, "with the broker's reason");
  t.match(await wrong.metrics(), /kqp_upstream_errors_total\{kind="login"\} 1\n/, 'counted in kqp_upstream_errors_total{kind="login"}');
  t.same(wrong.reloadWith('sidecar-secret'), [], 'a new password is not a restart-only change');
  const mended = await wrong.charged();
  t.ok(Math.abs(mended - METADATA_PARTITIONS) < 0.01, `after a reload with the right password: charged ${mended.toFixed(3)} partitions`);
});

t.test('a topic created by an older client (CreateTopics v3: no count in the response) is charged its partitions when deleted (DeleteTopics v1), without a lookup', async (t) => {
  const { proxy, open, received } = await setup(t, { quotas: [{ clientId: 'raw-client', partitionMutationsPerSec: 1, partitionMutationBurst: 100 }] });
  const client = await open();
  const started = performance.now();
  t.same(byName(createResponse(await client.response(client.send(ApiKey.CreateTopics, 3, create([topic('k', 20)]))), 3)), { k: ErrorCode.NONE }, 'created');
  const id = client.send(ApiKey.DeleteTopics, 1, { ...DeleteReq.defaultDeleteTopicsRequest(), topicNames: ['k'], timeoutMs: 30_000 });
  const res = decodeResponseFrame((await client.response(id)).subarray(4), ApiKey.DeleteTopics, 1).body as DeleteRes.DeleteTopicsResponse;
  t.equal(res.responses[0]!.errorCode, ErrorCode.NONE, 'deleted');
  t.notOk(received.some((r) => r.key === ApiKey.Metadata && r.clientId === 'kqp-topic-partitions'), 'no lookup: the count came from the create');
  const used = 100 - mutationTokens(proxy);
  const elapsedS = (performance.now() - started) / 1000;
  t.ok(used <= 40 && used >= 40 - elapsedS, `charged ${used.toFixed(2)} partitions: 20 created and 20 deleted (${elapsedS.toFixed(2)} s to refill since the create)`);
});

t.test('the gate: at most maxInFlight at the broker; a freed place goes to the next tenant in turn', async (t) => {
  const { proxy, open, received, held, release } = await setup(t, { admin: { maxInFlight: 1 } }, true);
  const busy = await Promise.all(Array.from({ length: 5 }, () => open()));
  // five requests of tenant "busy" on five connections, then one of tenant "quiet"
  for (const [i, c] of busy.entries()) {
    c.socket.write(encodeRequest(ApiKey.CreateTopics, 7, 1, create([topic(`busy-${i}`, 1)]), 'busy'));
    await waitFor(() => proxy.gate.stats.inFlight + proxy.gate.stats.waiting === i + 1);
  }
  const quiet = await open();
  quiet.socket.write(encodeRequest(ApiKey.CreateTopics, 7, 1, create([topic('quiet', 1)]), 'quiet'));
  await waitFor(() => proxy.gate.stats.waiting === 5);
  t.equal(held.length, 1, 'one request at the broker');
  t.same(proxy.gate.stats, { inFlight: 1, waiting: 5, waitingTenants: 2, maxInFlight: 1 }, 'five wait, of two tenants');
  const order: string[] = [];
  for (let n = 0; n < 6; n++) {
    await waitFor(() => held.length === 1);
    order.push((received.filter((r) => r.key === ApiKey.CreateTopics)[n]!.body as CreateReq.CreateTopicsRequest).topics[0]!.name);
    release();
  }
  t.same(order, ['busy-0', 'busy-1', 'quiet', 'busy-2', 'busy-3', 'busy-4'], 'the quiet tenant waited behind one busy request, not four');
  await waitFor(() => proxy.gate.stats.inFlight === 0);
});

t.test('an older version waits out its tenant\'s debt without holding a place at the gate', async (t) => {
  const { proxy, open, received } = await setup(t, {
    admin: { maxInFlight: 1 }, quotas: [{ clientId: 'busy', partitionMutationsPerSec: 10, partitionMutationBurst: 10 }],
  });
  const [a, b, quiet] = [await open(), await open(), await open()];
  // 50 partitions from a bucket of 10: 4 s of debt
  a.socket.write(encodeRequest(ApiKey.CreateTopics, 5, 1, create([topic('busy-a', 50)]), 'busy'));
  await a.response(1);
  b.socket.write(encodeRequest(ApiKey.CreateTopics, 5, 2, create([topic('busy-b', 1)]), 'busy'));
  await sleep(300);
  t.equal(proxy.gate.stats.inFlight, 0, 'busy-b, waiting for its tenant\'s debt, holds no place');
  quiet.socket.write(encodeRequest(ApiKey.CreateTopics, 7, 3, create([topic('quiet', 1)]), 'quiet'));
  t.same(byName(createResponse(await quiet.response(3), 7)), { quiet: ErrorCode.NONE }, 'another tenant\'s request goes through the gate meanwhile');
  t.same(byName(createResponse(await b.response(2, 10_000), 5)), { 'busy-b': ErrorCode.NONE }, 'busy-b created once the debt is paid');
  t.same(received.filter((r) => r.key === ApiKey.CreateTopics).map((r) => (r.body as CreateReq.CreateTopicsRequest).topics[0]!.name), ['busy-a', 'quiet', 'busy-b'],
    'the quiet tenant did not wait behind the debt');
});

t.test('a waiting request whose client goes away frees its place; one that waits too long is answered REQUEST_TIMED_OUT', async (t) => {
  const { proxy, open, received, held, release } = await setup(t, { admin: { maxInFlight: 1, maxWaitMs: 1000 } }, true);
  const [a, b, c] = [await open(), await open(), await open()];
  a.send(ApiKey.CreateTopics, 7, create([topic('a', 1)]));
  await waitFor(() => held.length === 1);
  b.send(ApiKey.CreateTopics, 7, create([topic('b', 1)]));
  await waitFor(() => proxy.gate.stats.waiting === 1);
  b.close();
  await waitFor(() => proxy.gate.stats.waiting === 0);
  t.pass('the request of the client that went away left the queue');
  const sentAt = performance.now();
  const id = c.send(ApiKey.CreateTopics, 7, create([topic('c', 1)]));
  const res = createResponse(await c.response(id, 5000), 7);
  const waited = performance.now() - sentAt;
  t.same(byName(res), { c: ErrorCode.REQUEST_TIMED_OUT }, `c answered REQUEST_TIMED_OUT after ${waited.toFixed(0)} ms`);
  t.ok(waited >= 900, 'after admin.maxWaitMs');
  release();
  await waitFor(() => proxy.gate.stats.inFlight === 0);
  t.same(received.filter((r) => r.key === ApiKey.CreateTopics).map((r) => (r.body as CreateReq.CreateTopicsRequest).topics[0]!.name), ['a'], 'only a reached the broker');
});

t.test("a place freed by a response is given back once, even when the connection it admits closes on what follows", async (t) => {
  const { proxy, open, received, held, release } = await setup(t, { admin: { maxInFlight: 1 } }, true);
  const [a, b, c] = [await open(), await open(), await open()];
  a.socket.write(encodeRequest(ApiKey.CreateTopics, 7, 1, create([topic('a1', 1)]), 'a'));
  await waitFor(() => held.length === 1);
  // a's second request waits for the gate, a bad frame (a negative size) behind it in the same write
  a.socket.write(Buffer.concat([encodeRequest(ApiKey.CreateTopics, 7, 2, create([topic('a2', 1)]), 'a'), Buffer.from([0xff, 0xff, 0xff, 0xfe])]));
  await waitFor(() => proxy.gate.stats.waiting === 1);
  b.socket.write(encodeRequest(ApiKey.CreateTopics, 7, 1, create([topic('b', 1)]), 'b'));
  await waitFor(() => proxy.gate.stats.waiting === 2);
  // a1's answer frees the place: a2 (a's turn comes first) is admitted and forwarded, then the bad frame closes a,
  // which gives a2's place back (its client is gone), and b is admitted
  release();
  await a.closedWithin(5_000);
  await waitFor(() => held.length === 2 && proxy.gate.stats.waiting === 0);
  c.socket.write(encodeRequest(ApiKey.CreateTopics, 7, 1, create([topic('c', 1)]), 'c'));
  await waitFor(() => proxy.gate.stats.waiting === 1);
  t.same(proxy.gate.stats, { inFlight: 1, waiting: 1, waitingTenants: 1, maxInFlight: 1 }, 'b holds the place, c waits (before: a1\'s place was given back twice and c went to the broker at once)');
  await sleep(200);
  t.same(received.filter((r) => r.key === ApiKey.CreateTopics).map((r) => (r.body as CreateReq.CreateTopicsRequest).topics[0]!.name), ['a1', 'a2', 'b'], 'c has not reached the broker');
  held.shift(); // a2's answer has no client to go to
  release();
  await waitFor(() => held.length === 1);
  release();
  await waitFor(() => proxy.gate.stats.inFlight === 0);
  t.equal(received.filter((r) => r.key === ApiKey.CreateTopics).length, 4, 'c reached the broker once b was answered');
});

t.test('holdUntilAppliedMs: a topic change keeps its gate place until the broker shows it, or for holdUntilAppliedMs at most', async (t) => {
  const shown = new Set<string>();
  const HOLD_MS = 2000;
  const { proxy, open, received } = await setup(t, { admin: { maxInFlight: 1, holdUntilAppliedMs: HOLD_MS } }, false, shown);
  const forwarded = () => received.filter((r) => r.key === ApiKey.CreateTopics || r.key === ApiKey.DeleteTopics).length;
  const watching = () => received.filter((r) => r.key === ApiKey.Metadata && r.clientId === 'kqp-apply-watch').length;
  const a = await open();
  const b = await open();
  t.equal(createResponse(await a.response(a.send(ApiKey.CreateTopics, 7, create([topic('a', 7)]))), 7).topics[0]!.errorCode, ErrorCode.NONE, 'a created');
  t.equal(proxy.gate.stats.inFlight, 1, 'answered, its creation still holds the one place: the broker does not show a yet');
  const second = b.send(ApiKey.CreateTopics, 7, create([topic('b', 7)]));
  await waitFor(() => watching() >= 3);
  t.equal(forwarded(), 1, `b waits for the place (the sidecar asked the broker about a ${watching()} times meanwhile)`);
  shown.add('a');
  await b.response(second);
  t.equal(forwarded(), 2, 'once the broker shows a, b goes to the broker');

  // the broker never shows b: its place is given back after holdUntilAppliedMs, counted
  const answeredAt = performance.now();
  await waitFor(() => proxy.gate.stats.inFlight === 0);
  const heldMs = performance.now() - answeredAt;
  t.ok(heldMs >= HOLD_MS - TIMER_EARLY_MS - 100, `b's place was held ${heldMs.toFixed(0)} ms (holdUntilAppliedMs ${HOLD_MS})`);
  const timeouts = await proxy.metrics.registry.getSingleMetric('kqp_admin_apply_timeouts_total')!.get();
  t.equal(timeouts.values[0]!.value, 1, 'one change not applied in time');

  t.match(proxy.sidecarState(), { adminGate: { unapplied: 0, holdUntilAppliedMs: HOLD_MS } }, '/quota says so');
});

t.test('holdUntilAppliedMs: a deletion is applied once the broker no longer knows the topic, and ends the watch of its creation', async (t) => {
  const HOLD_MS = 10_000;
  const { proxy, open } = await setup(t, { admin: { maxInFlight: 2, holdUntilAppliedMs: HOLD_MS } }, false, new Set());
  const a = await open();
  await a.response(a.send(ApiKey.CreateTopics, 7, create([topic('d', 7)])));
  t.equal(proxy.gate.stats.inFlight, 1, 'd not shown by the broker: its creation holds a place');
  const deletedAt = performance.now();
  await a.response(a.send(ApiKey.DeleteTopics, 6, { ...DeleteReq.defaultDeleteTopicsRequest(), topics: [{ ...DeleteReq.defaultDeleteTopicState(), name: 'd' }], timeoutMs: 30_000 }));
  await waitFor(() => proxy.gate.stats.inFlight === 0, HOLD_MS / 2);
  t.pass(`both places free ${(performance.now() - deletedAt).toFixed(0)} ms after the deletion was sent (holdUntilAppliedMs ${HOLD_MS})`);
  const timeouts = await proxy.metrics.registry.getSingleMetric('kqp_admin_apply_timeouts_total')!.get();
  t.equal(timeouts.values[0]!.value, 0, 'neither timed out');
});

t.test('holdUntilAppliedMs: a broker that does not answer the sidecar\'s own Metadata request (a SASL listener) holds nothing', async (t) => {
  const HOLD_MS = 10_000;
  const { proxy, open } = await setup(t, { admin: { maxInFlight: 1, holdUntilAppliedMs: HOLD_MS } }, false, new Set(), true);
  const a = await open();
  const sentAt = performance.now();
  await a.response(a.send(ApiKey.CreateTopics, 7, create([topic('a', 7)])));
  await waitFor(() => proxy.gate.stats.inFlight === 0, HOLD_MS / 2);
  t.pass(`the place is free ${(performance.now() - sentAt).toFixed(0)} ms after the request was sent (holdUntilAppliedMs ${HOLD_MS})`);
  const unconfirmed = await proxy.metrics.registry.getSingleMetric('kqp_admin_apply_timeouts_total')!.get();
  t.equal(unconfirmed.values[0]!.value, 1, 'counted as let go unconfirmed');
});

t.test('holdUntilAppliedMs 0 (the default): a place is given back with the response', async (t) => {
  const { proxy, open, received } = await setup(t, {}, false, new Set());
  const a = await open();
  await a.response(a.send(ApiKey.CreateTopics, 7, create([topic('a', 7)])));
  t.equal(proxy.gate.stats.inFlight, 0, 'free at once');
  t.notOk(received.some((r) => r.clientId === 'kqp-apply-watch'), 'nothing watched');
});

async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
