// How a throttle is applied, against an in-process fake broker (the relay alone): KIP-219 versions get their response
// at once with throttle_time_ms and the client is not read meanwhile; older versions get the response held; the
// larger of the broker's and the proxy's throttle wins; acks=0 is throttled by not reading; a fetch in debt is held
// and every fetch's max_bytes is capped.
import t, { type Test } from 'tap';
import { Writer } from '../../src/protocol/writer.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import * as ProduceRes from '../../src/protocol/generated/produce-response.js';
import * as MetadataRes from '../../src/protocol/generated/metadata-response.js';
import * as FetchRes from '../../src/protocol/generated/fetch-response.js';
import { defaultMetadataRequest } from '../../src/protocol/generated/metadata-request.js';
import { FakeBroker, apiKeyOf, correlationOf, responseFrame, proxyBefore, type Script } from '../support/fake-broker.js';
import { RawClient, encodeRequest } from '../support/raw-client.js';
import { readRequestHeader } from '../../src/protocol/headers.js';
import { fetchMaxBytesOffset, produceAcks } from '../../src/proxy/request-peek.js';
import { fetchRequest, produceRequest } from '../support/requests.js';

const encode = (f: (w: Writer) => void) => {
  const w = new Writer();
  f(w);
  return Buffer.from(w.finish());
};

function brokerScript(o: { brokerThrottle?: number; fetchBytes?: number } = {}): Script {
  return (frame) => {
    if (frame.includes('kqp-probe')) return undefined;
    const key = apiKeyOf(frame);
    const version = frame.readInt16BE(6);
    const id = correlationOf(frame);
    if (key === 0) {
      if (produceAcks(frame, 4 + readRequestHeader(frame, undefined, undefined, 4).length, version) === 0) return undefined;
      return [responseFrame(id, encode((w) => ProduceRes.encodeProduceResponse(w, version, { ...ProduceRes.defaultProduceResponse(), throttleTimeMs: o.brokerThrottle ?? 0 })), version >= 9)];
    }
    if (key === 3) return [responseFrame(id, encode((w) => MetadataRes.encodeMetadataResponse(w, version, { ...MetadataRes.defaultMetadataResponse(), throttleTimeMs: o.brokerThrottle ?? 0 })), version >= 9)];
    if (key === 1) {
      const part = { ...FetchRes.defaultPartitionData(), records: Buffer.alloc(o.fetchBytes ?? 1000, 1) };
      const body = { ...FetchRes.defaultFetchResponse(), responses: [{ ...FetchRes.defaultFetchableTopicResponse(), topic: 't', partitions: [part] }] };
      return [responseFrame(id, encode((w) => FetchRes.encodeFetchResponse(w, version, body)), version >= 12)];
    }
    return undefined;
  };
}

async function setup(t: Test, quotas: object[], script: Script) {
  const broker = new FakeBroker(script);
  const { proxy, port } = await proxyBefore(broker, { quotas });
  const client = await RawClient.open(port);
  t.teardown(async () => {
    client.close();
    await proxy.stop();
    await broker.close();
  });
  // when each request reached the broker
  const arrivals: { key: number; at: number; frame: Buffer }[] = [];
  const inner = script;
  broker.setScript((frame, socket) => {
    if (!frame.includes('kqp-probe')) arrivals.push({ key: apiKeyOf(frame), at: performance.now(), frame });
    return inner(frame, socket);
  });
  return { client, arrivals, proxy };
}

// The proxy arms its timers with setTimeout(ms) from a performance.now() reading, but libuv counts from its cached loop
// time, which lags by the time already spent in the loop iteration: a mute or hold may end up to that much early. Where
// a hold is compared with its exact length, this margin allows for it.
const TIMER_EARLY_MS = 50;

t.test('KIP-219 version (Produce v9): the response comes at once with throttle_time_ms; the client is not read meanwhile', async (t) => {
  // 10 KB/s with a 10 KB burst; a 30 KB produce leaves 20 KB of debt: 2 s
  const { client, arrivals } = await setup(t, [{ clientId: 'raw-client', produceBytesPerSec: 10_240 }], brokerScript());
  // taken before the send: the produce is charged, and the mute starts, after it
  const started = performance.now();
  const first = client.send(0, 9, produceRequest('t', 0, Buffer.alloc(30_000, 1), 1));
  const r = await client.response(first);
  const answeredAfter = performance.now() - started;
  const body = decodeResponseFrame(r.subarray(4), 0, 9).body as ProduceRes.ProduceResponse;
  // Not held: half the throttle is far more than a response takes unheld, and far less than a held one would.
  t.ok(answeredAfter < body.throttleTimeMs / 2, `answered after ${answeredAfter.toFixed(0)} ms`);
  t.ok(body.throttleTimeMs >= 1900 && body.throttleTimeMs <= 2100, `throttle_time_ms ${body.throttleTimeMs}`);
  const second = client.send(3, 12, { ...defaultMetadataRequest(), topics: [] });
  await client.response(second, 20_000);
  const muted = arrivals[1]!.at - started;
  t.ok(muted >= body.throttleTimeMs - TIMER_EARLY_MS, `the next request reached the broker ${muted.toFixed(0)} ms after the produce was sent: the socket was muted`);
});

t.test('an older version (Metadata v5): the response is held for the throttle time, and carries it', async (t) => {
  // One request per second, burst 1: the second request in a row owes what is left of the second after the first was
  // charged, and its response is held until that second ends. Both go in one write, so the second is charged right
  // after the first (a second request sent only after the first response could come so late on a slow machine that
  // it owed nothing).
  const { client } = await setup(t, [{ clientId: 'raw-client', requestsPerSec: 1, requestBurst: 1 }], brokerScript());
  // taken before the write: both requests are charged after it
  const started = performance.now();
  client.socket.write(Buffer.concat([
    encodeRequest(3, 5, 1, { ...defaultMetadataRequest(), topics: [] }),
    encodeRequest(3, 5, 2, { ...defaultMetadataRequest(), topics: [] }),
  ]));
  const r = await client.response(2, 20_000);
  const waited = performance.now() - started;
  const body = decodeResponseFrame(r.subarray(4), 3, 5).body as MetadataRes.MetadataResponse;
  t.ok(waited >= 1000 - TIMER_EARLY_MS, `the response was held ${waited.toFixed(0)} ms after the first request was sent`);
  t.ok(body.throttleTimeMs > 0 && body.throttleTimeMs <= 1000, `and says throttle_time_ms ${body.throttleTimeMs}`);
  // both were sent at `started`: the response was held at least the throttle it says
  t.ok(waited >= body.throttleTimeMs - TIMER_EARLY_MS, 'held at least its throttle_time_ms');
});

t.test("the client sees the larger of the broker's throttle and the proxy's", async (t) => {
  const { client } = await setup(t, [{ clientId: 'raw-client', requestsPerSec: 1000 }], brokerScript({ brokerThrottle: 7777 }));
  const r = await client.response(client.send(3, 12, { ...defaultMetadataRequest(), topics: [] }));
  t.equal((decodeResponseFrame(r.subarray(4), 3, 12).body as MetadataRes.MetadataResponse).throttleTimeMs, 7777, 'the broker\'s, being larger');
});

t.test('acks=0 produce is throttled by not reading the client, even what came in the same read', async (t) => {
  const { client, arrivals } = await setup(t, [{ clientId: 'raw-client', produceBytesPerSec: 10_240 }], brokerScript());
  // One write: an acks=0 produce of a 30 000-byte batch (no response ever), then a Metadata. The produce frame is
  // 30 042 bytes (header + body), 19 802 over the 10 240-byte burst: 1934 ms of debt at 10 240 B/s, at least 1900.
  // Taken before the write: the produce is charged, and the mute starts, after it.
  const started = performance.now();
  client.socket.write(Buffer.concat([
    encodeRequest(0, 9, 1, produceRequest('t', 0, Buffer.alloc(30_000, 1), 0)),
    encodeRequest(3, 12, 2, { ...defaultMetadataRequest(), topics: [] }),
  ]));
  await client.response(2, 20_000);
  t.same(arrivals.map((a) => a.key), [0, 3]);
  const waited = arrivals[1]!.at - started;
  t.ok(waited >= 1900 - TIMER_EARLY_MS, `the request after an acks=0 produce that put the tenant in debt reached the broker ${waited.toFixed(0)} ms after the write`);
});

t.test('fetch: max_bytes is capped to what the tenant may take, and a fetch in debt is held', async (t) => {
  // 100 KB/s, burst 100 KB; the broker answers each fetch with 150 KB
  const { client, arrivals } = await setup(t, [{ clientId: 'raw-client', fetchBytesPerSec: 102_400 }], brokerScript({ fetchBytes: 150_000 }));
  // taken before the first fetch is sent: its response is charged after it
  const started = performance.now();
  await client.response(client.send(1, 12, fetchRequest('t', { maxBytes: 50_000_000 })));
  const maxBytesAsked = (f: Buffer) => f.readInt32BE(4 + readRequestHeader(f, undefined, undefined, 4).length + fetchMaxBytesOffset(12));
  t.equal(maxBytesAsked(arrivals[0]!.frame), 102_400, 'the first fetch asked for the bucket (100 KB), not 50 MB');
  await client.response(client.send(1, 12, fetchRequest('t', { maxBytes: 50_000_000 })), 20_000);
  const held = arrivals[1]!.at - started;
  // The response (at least its 150 000 record bytes) took the 102 400-byte bucket to -47 600 or below; the next fetch
  // is forwarded once the bucket is back to half (51 200), at least 98 800 bytes later at 102 400 B/s: 965 ms after
  // the response was charged (QuotaEnforcer.fetchAllowance).
  const refill = ((150_000 - 102_400 / 2) / 102_400) * 1000;
  t.ok(held >= refill - TIMER_EARLY_MS, `the next fetch reached the broker ${held.toFixed(0)} ms after the first was sent`);
  t.ok(maxBytesAsked(arrivals[1]!.frame) <= 102_400, 'and asked for no more than the bucket held');
});
