// Connection handling against an in-process fake broker (unit tests of the relay alone): a response whose correlation
// id does not match closes the connection with one log line; acks=0 produce is not tracked; SASL v0 unframed tokens
// pass; a response with no request closes the connection; the in-flight limit holds even inside one chunk; frames
// over the size limits close their connection.
import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Writer } from '../../src/protocol/writer.js';
import { encodeApiVersionsResponse, defaultApiVersionsResponse, type ApiVersionsResponse } from '../../src/protocol/generated/api-versions-response.js';
import { encodeMetadataResponse, defaultMetadataResponse, defaultMetadataResponseBroker, type MetadataResponse } from '../../src/protocol/generated/metadata-response.js';
import { encodeProduceResponse, defaultProduceResponse } from '../../src/protocol/generated/produce-response.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import { encodeSaslHandshakeResponse, defaultSaslHandshakeResponse } from '../../src/protocol/generated/sasl-handshake-response.js';
import { defaultProduceRequest } from '../../src/protocol/generated/produce-request.js';
import { defaultMetadataRequest } from '../../src/protocol/generated/metadata-request.js';
import { PROBE_REQUEST } from '../../src/proxy/broker-probe.js';
import { API_SCHEMAS } from '../../src/protocol/generated/api-table.js';
import { FakeBroker, apiKeyOf, correlationOf, responseFrame, proxyBefore, type Script } from '../support/fake-broker.js';
import { RawClient, API_VERSIONS_V3, encodeRequest } from '../support/raw-client.js';
import { produceRequest } from '../support/requests.js';
import { recordBatch } from '../support/record-batch.js';

function body(encode: (w: Writer) => void): Buffer {
  const w = new Writer();
  encode(w);
  return Buffer.from(w.finish());
}

const apiVersionsBody = body((w) => encodeApiVersionsResponse(w, 3, defaultApiVersionsResponse()));
const metadataBody = body((w) => encodeMetadataResponse(w, 12, defaultMetadataResponse()));

/** Answers ApiVersions and Metadata like a broker would; ignores everything else. */
function normal(frame: Buffer): Buffer[] | undefined {
  const key = apiKeyOf(frame);
  if (key === 18) return [responseFrame(correlationOf(frame), apiVersionsBody)];
  if (key === 3) return [responseFrame(correlationOf(frame), metadataBody, true)];
  return undefined;
}

async function setup(t: Test, script: Script = normal, limits: Record<string, number> = {}) {
  const broker = new FakeBroker(script);
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => void (lines.push(String(chunk)), cb()) });
  const { proxy, port } = await proxyBefore(broker, { logLevel: 'warn', limits }, pino({ level: 'warn' }, sink));
  t.teardown(async () => {
    await proxy.stop();
    await broker.close();
  });
  return { broker, proxy, lines, port };
}

/** Checks every 20 ms until `check` holds or `timeoutMs` has passed; says whether it held. */
async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

t.test('ApiVersions at a version the codec cannot read is answered UNSUPPORTED_VERSION in v0 by the proxy, as Kafka does (KIP-511)', async (t) => {
  const reached: number[] = [];
  const { port, lines } = await setup(t, (frame) => {
    reached.push(frame.readInt16BE(6));
    // a broker that knows v6 answers in it, which the proxy cannot read (nor cap): here, bytes a v5 reader does not expect
    return [responseFrame(correlationOf(frame), frame.readInt16BE(6) === 6 ? Buffer.concat([apiVersionsBody, Buffer.from([1, 2, 3])]) : apiVersionsBody)];
  });
  const client = await RawClient.open(port);
  // ApiVersions v6, request header v2: api key, version, correlation id, client id, no tags; a v3-style body
  const w = new Writer();
  w.int16(18); w.int16(6); w.int32(7); w.string('future-client'); w.uvarint(0);
  w.compactString('kafka-java'); w.compactString('9.9.9'); w.uvarint(0);
  const request = Buffer.from(w.finish());
  const frame = Buffer.alloc(4 + request.length);
  frame.writeInt32BE(request.length, 0);
  request.copy(frame, 4);
  client.socket.write(frame);
  const answer = decodeResponseFrame((await client.response(7)).subarray(4), 18, 0).body as ApiVersionsResponse;
  t.equal(answer.errorCode, 35, 'UNSUPPORTED_VERSION, read as a v0 response');
  t.same(answer.apiKeys.map((k) => [k.apiKey, k.minVersion, k.maxVersion]), [[18, 0, 5]], 'listing the ApiVersions versions the proxy reads');
  t.same(reached, [], 'the broker saw nothing of it');
  t.ok((await client.response(client.send(18, 3, API_VERSIONS_V3))).length > 0, 'the client asks again at v3 and is served on the same connection');
  t.same(reached, [3], 'that one reached the broker');
  t.same(lines, [], 'nothing logged');
});

t.test('a controller-bound request at a version the codec cannot read is forwarded as it is (not decoded, not gated)', async (t) => {
  const max = API_SCHEMAS.find((a) => a.key === 19)!.maxVersion;
  const { port, lines } = await setup(t, (frame) => (frame.readInt16BE(4) === 19 ? [responseFrame(correlationOf(frame), Buffer.from([0, 0, 0, 0, 0, 1, 0]), true)] : normal(frame)));
  const client = await RawClient.open(port);
  // CreateTopics one version above what the codec reads (request header v2), with a body of bytes no codec reads
  const w = new Writer();
  w.int16(19); w.int16(max + 1); w.int32(9); w.string('future-admin'); w.uvarint(0);
  w.int32(0x01020304); w.uvarint(0);
  const request = Buffer.from(w.finish());
  const frame = Buffer.alloc(4 + request.length);
  frame.writeInt32BE(request.length, 0);
  request.copy(frame, 4);
  client.socket.write(frame);
  t.ok((await client.response(9)).length > 0, `CreateTopics v${max + 1} was answered by the broker (before: the connection closed on its body)`);
  t.ok((await client.response(client.send(18, 3, API_VERSIONS_V3))).length > 0, 'and the connection serves on');
  t.same(lines, [], 'nothing logged');
});

t.test('a response whose correlation id does not match closes the connection, with one log line', async (t) => {
  const { lines, port } = await setup(t, (frame) => [responseFrame(correlationOf(frame) + 1, apiVersionsBody)]);
  const client = await RawClient.open(port);
  client.send(18, 3, API_VERSIONS_V3);
  await client.closedWithin(10_000);
  t.equal(client.frames.length, 0, 'the mismatched response was not forwarded');
  const warnings = lines.filter((l) => l.includes('correlation id'));
  t.equal(warnings.length, 1, 'one log line');
  t.match(warnings[0], /correlation id 2 does not match the ApiVersions request in flight \(1\)/);
});

t.test('acks=0 produce is not tracked: the next response still matches its request', async (t) => {
  const { broker, port } = await setup(t);
  const client = await RawClient.open(port);
  const produce = { ...defaultProduceRequest(), acks: 0, timeoutMs: 1000 };
  client.send(0, 9, produce); // no response will ever come
  const meta = client.send(3, 12, { ...defaultMetadataRequest(), topics: [] });
  const r = await client.response(meta);
  t.equal(r.readInt32BE(4), meta, 'metadata answered');
  t.notOk(client.closed, 'connection open');
  t.same(broker.received.map(apiKeyOf), [0, 3], 'both requests reached the broker');
  client.close();
});

t.test('a response with no request in flight closes the connection', async (t) => {
  let brokerSide: Socket | undefined;
  const { port } = await setup(t, (frame, socket) => {
    brokerSide = socket;
    return [responseFrame(correlationOf(frame), apiVersionsBody)];
  });
  const client = await RawClient.open(port);
  await client.response(client.send(18, 3, API_VERSIONS_V3));
  // once the client has its response: written sooner, the two could reach the proxy in one read
  brokerSide!.write(responseFrame(99, apiVersionsBody));
  await client.closedWithin(10_000);
  t.pass('closed after the unsolicited response');
});

for (const [mechanism, tokens] of [['PLAIN', 1], ['SCRAM-SHA-512', 2]] as const) {
  t.test(`SASL ${mechanism} after a v0 handshake: ${tokens} unframed token(s), then Kafka requests again`, async (t) => {
    const handshakeBody = body((w) => encodeSaslHandshakeResponse(w, 0, { ...defaultSaslHandshakeResponse(), mechanisms: [mechanism] }));
    let raw = 0;
    const { broker, port } = await setup(t, (frame) => {
      if (raw > 0) {
        raw--;
        return [Buffer.from([0, 0, 0, 5, 0x73, 0x65, 0x72, 0x76, 0x72])]; // an unframed server token "servr"
      }
      if (apiKeyOf(frame) === 17) {
        raw = tokens;
        return [responseFrame(correlationOf(frame), handshakeBody)];
      }
      return normal(frame);
    });
    const client = await RawClient.open(port);
    await client.response(client.send(17, 0, { mechanism, unknownTaggedFields: undefined }));
    for (let i = 0; i < tokens; i++) {
      // a client token: bytes that would read as a nonsense Kafka header
      client.socket.write(Buffer.from([0, 0, 0, 11, 0, 0x75, 0x73, 0x65, 0x72, 0, 0x70, 0x61, 0x73, 0x73, 0x21]));
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = await client.response(client.send(18, 3, API_VERSIONS_V3));
    t.ok(after.length > 8, 'a Kafka request after the tokens is answered');
    t.equal(broker.received.length, 2 + tokens, 'the broker got handshake, tokens and the request');
    t.same(client.frames.filter((f) => f.toString('latin1', 4) === 'servr').length, tokens, 'each server token reached the client');
    client.close();
  });
}

t.test('a client id of kilobytes: the proxy reads a longer head and still tracks the requests', async (t) => {
  const { broker, port } = await setup(t);
  const client = await RawClient.open(port);
  const longId = 'c'.repeat(20_000);
  client.socket.write(encodeRequest(0, 9, 7, { ...defaultProduceRequest(), acks: 0, timeoutMs: 1000 }, longId));
  client.socket.write(encodeRequest(18, 3, 8, API_VERSIONS_V3, longId));
  const r = await client.response(8);
  t.equal(r.readInt32BE(4), 8, 'answered: the acks=0 produce before it was recognised and not tracked');
  t.equal(broker.received.length, 2);
  t.ok(broker.received.every((f) => f.includes(longId)), 'both forwarded intact');
  client.close();
});

t.test('at maxInFlightPerConnection the proxy forwards no more, even from one chunk, until a response frees a place', async (t) => {
  const waiting: { frame: Buffer; socket: Socket }[] = [];
  const { broker, port } = await setup(t, (frame, socket) => {
    waiting.push({ frame, socket });
    return undefined;
  }, { maxInFlightPerConnection: 5 });
  const answer = (n: number) => {
    for (const { frame, socket } of waiting.splice(0, n)) socket.write(responseFrame(correlationOf(frame), apiVersionsBody));
  };
  const client = await RawClient.open(port);
  const forwarded = () => broker.received.length;
  // Each count is awaited however slow the machine is, then checked again 300 ms later: a proxy past its limit would
  // have forwarded more by then, and one within it never does, so the second look cannot fail spuriously.
  client.socket.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => encodeRequest(18, 3, i + 1, API_VERSIONS_V3))));
  await until(() => forwarded() >= 5, 10_000);
  await sleep(300);
  t.equal(forwarded(), 5, 'twenty requests in one write: five forwarded');
  answer(2);
  await until(() => forwarded() >= 7, 10_000);
  await sleep(300);
  t.equal(forwarded(), 7, 'two answered: two more forwarded');
  const deadline = Date.now() + 20_000;
  while (client.frames.length < 20 && Date.now() < deadline) {
    answer(5);
    await sleep(100);
  }
  t.same(client.frames.map((f) => f.readInt32BE(4)), Array.from({ length: 20 }, (_, i) => i + 1), 'all twenty answered, in order');
  t.notOk(client.closed, 'connection open');
  client.close();
});

t.test('at maxInFlightPerConnection 1, a request that arrives in pieces is forwarded whole before reading stops', async (t) => {
  const produceBody = body((w) => encodeProduceResponse(w, 9, defaultProduceResponse()));
  const { broker, port } = await setup(t, (frame) => (apiKeyOf(frame) === 0 ? [responseFrame(correlationOf(frame), produceBody, true)] : normal(frame)),
    { maxInFlightPerConnection: 1 });
  const client = await RawClient.open(port);
  // 20 KB: its head is forwarded (and fills the queue of one) before its body has arrived
  const frame = encodeRequest(0, 9, 7, produceRequest('t', 0, recordBatch(1, 20_000), 1));
  client.socket.write(frame.subarray(0, 600));
  await sleep(100);
  client.socket.write(frame.subarray(600));
  const r = await client.response(7);
  t.equal(r.readInt32BE(4), 7, 'answered: the broker got all of it');
  t.same(broker.received.map((f) => f.length), [frame.length], 'forwarded whole');
  const next = client.send(18, 3, API_VERSIONS_V3);
  t.equal((await client.response(next)).readInt32BE(4), next, 'and the next request goes once the response freed the place');
  client.close();
});

t.test('responses that came in one chunk go to the client in one write per run of adjacent pieces, in order', async (t) => {
  // Two Produce responses passed on as they came, a Metadata patched in place (broker 1's host as long as its
  // sidecar's), one written anew (broker 2's sidecar has a longer host), a last Produce: three writes, not five.
  const metadata = (nodeId: number) => body((w) => encodeMetadataResponse(w, 12, { ...defaultMetadataResponse(), brokers: [{ ...defaultMetadataResponseBroker(), nodeId, host: '127.0.0.1', port: 9092 }] }));
  const produce = body((w) => encodeProduceResponse(w, 9, defaultProduceResponse()));
  const order = [produce, produce, metadata(1), metadata(2), produce];
  const waiting: Buffer[] = [];
  const broker = new FakeBroker((frame, socket) => {
    waiting.push(frame);
    if (waiting.length === order.length) socket.write(Buffer.concat(waiting.map((f, i) => responseFrame(correlationOf(f), order[i]!, true))));
    return undefined;
  });
  const { proxy, port } = await proxyBefore(broker, { advertise: { mode: 'map', map: { '1': '127.0.0.1:19092', '2': 'sidecar-2.example:19093' } } });
  t.teardown(async () => {
    await proxy.stop();
    await broker.close();
  });
  const client = await RawClient.open(port);
  const writes: number[] = [];
  const write = Socket.prototype.write;
  Socket.prototype.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
    if (this.remotePort === client.socket.localPort) writes.push((args[0] as Buffer).length);
    return write.apply(this, args);
  } as Socket['write'];
  t.teardown(() => void (Socket.prototype.write = write));
  const requests = [0, 0, 3, 3, 0].map((key, i) => encodeRequest(key, key === 0 ? 9 : 12, i + 1, key === 0 ? { ...defaultProduceRequest(), acks: 1 } : { ...defaultMetadataRequest(), topics: [] }));
  client.socket.write(Buffer.concat(requests));
  const got = await Promise.all(requests.map((_, i) => client.response(i + 1)));
  Socket.prototype.write = write;
  t.same(writes.length, 3, `three writes (${writes.join(', ')} bytes)`);
  t.same(writes.reduce((a, b) => a + b, 0), got.reduce((a, b) => a + b.length, 0), 'of every byte the client got');
  const brokers = (f: Buffer) => (decodeResponseFrame(f.subarray(4), 3, 12).body as MetadataResponse).brokers.map((b) => `${b.host}:${b.port}`);
  t.same([brokers(got[2]!), brokers(got[3]!)], [['127.0.0.1:19092'], ['sidecar-2.example:19093']], 'each Metadata with its sidecar\'s address');
  client.close();
});

t.test('a request over maxFrameBytes and a response over maxRewriteFrameBytes close their connection', async (t) => {
  const BIG = 77; // the correlation id whose ApiVersions response the broker makes 70 KB long
  const { lines, port } = await setup(t, (frame) => {
    if (correlationOf(frame) !== BIG) return normal(frame);
    return [responseFrame(BIG, Buffer.concat([apiVersionsBody, Buffer.alloc(70_000)]))];
  }, { maxFrameBytes: 100_000, maxRewriteFrameBytes: 65_536 });
  const tooLarge = await RawClient.open(port);
  const other = await RawClient.open(port);
  const prefix = Buffer.alloc(4);
  prefix.writeInt32BE(100_001, 0);
  tooLarge.socket.write(prefix);
  await tooLarge.closedWithin(10_000);
  t.pass('a frame over maxFrameBytes closes the connection before its bytes are read');
  t.ok(lines.some((l) => l.includes('exceeds the maximum of 100000')), 'one log line names the limit');
  t.ok((await other.response(other.send(18, 3, API_VERSIONS_V3))).length > 0, 'another connection is unaffected');
  // ApiVersions responses are rewritten whole (versions capped): one of 70 KB is over maxRewriteFrameBytes
  other.socket.write(encodeRequest(18, 3, BIG, API_VERSIONS_V3));
  await other.closedWithin(10_000);
  t.ok(lines.some((l) => l.includes('exceeds maxRewriteFrameBytes')), 'a response too large to rewrite closes its connection, with a log line');
});

t.test('a response larger than maxFrameBytes (a request limit) is streamed to the client', async (t) => {
  const { port } = await setup(t, (frame) => (frame.readInt16BE(4) === 2 ? [responseFrame(correlationOf(frame), Buffer.alloc(150_000, 7))] : normal(frame)), { maxFrameBytes: 100_000 });
  const client = await RawClient.open(port);
  const response = await client.response(client.send(2, 1, { replicaId: -1, topics: [] }));
  t.equal(response.length, 4 + 4 + 150_000, 'a 150 KB ListOffsets response came whole (before: the connection closed, "exceeds the maximum of 100000")');
  client.close();
});

t.test('requests that came in one chunk go to the broker in one write, byte for byte', async (t) => {
  // Two 16 KB Produce requests (each handed over as its head and then the rest of its body), an ApiVersions and a
  // Metadata, written by the client at once: one write to the broker, as through a plain pipe, not six.
  const { broker, port } = await setup(t, (frame) => (frame.readInt16BE(4) === 0 ? [] : normal(frame)));
  const client = await RawClient.open(port);
  const writes: number[] = [];
  const write = Socket.prototype.write;
  Socket.prototype.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
    // the proxy's socket to the broker: the one neither accepted by a server (the proxy's, the broker's) nor the client's
    const accepted = (this as Socket & { server: unknown }).server;
    if (!accepted && this.remotePort !== port && !PROBE_REQUEST.equals(args[0] as Buffer)) writes.push((args[0] as Buffer).length);
    return write.apply(this, args);
  } as Socket['write'];
  t.teardown(() => void (Socket.prototype.write = write));
  const produce = (id: number) => encodeRequest(0, 9, id, produceRequest('t', 0, recordBatch(16, 1024), 0));
  const requests = [produce(1), encodeRequest(18, 3, 2, API_VERSIONS_V3), produce(3), encodeRequest(3, 12, 4, { ...defaultMetadataRequest(), topics: [] })];
  client.socket.write(Buffer.concat(requests));
  await client.response(4);
  Socket.prototype.write = write;
  t.same(writes, [requests.reduce((a, b) => a + b.length, 0)], 'one write of all four requests');
  t.same(broker.received.map((f) => f.readInt32BE(8)), [1, 2, 3, 4], 'the broker read the four, in order');
  t.same(Buffer.concat(broker.received), Buffer.concat(requests), 'byte for byte');
  client.close();
});
