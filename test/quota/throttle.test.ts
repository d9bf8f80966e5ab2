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

t.test('KIP-219 version (Produce v9): the response comes at once with throttle_time_ms; the client is not read meanwhile', async (t) => {
  // 10 KB/s with a 10 KB burst; a 30 KB produce leaves 20 KB of debt: 2 s
  const { client, arrivals } = await setup(t, [{ clientId: 'raw-client', produceBytesPerSec: 10_240 }], brokerScript());
  const started = performance.now();
  const first = client.send(0, 9, produceRequest('t', 0, Buffer.alloc(30_000, 1), 1));
  const r = await client.response(first);
  const answeredAfter = performance.now() - started;
  const body = decodeResponseFrame(r.subarray(4), 0, 9).body as ProduceRes.ProduceResponse;
  t.ok(answeredAfter < 500, `answered after ${answeredAfter.toFixed(0)} ms`);
  t.ok(body.throttleTimeMs >= 1900 && body.throttleTimeMs <= 2100, `throttle_time_ms ${body.throttleTimeMs}`);
  const second = client.send(3, 12, { ...defaultMetadataRequest(), topics: [] });
  await client.response(second, 5000);
  const gap = arrivals[1]!.at - arrivals[0]!.at;
  t.ok(gap >= 1800, `the next request reached the broker ${gap.toFixed(0)} ms later: the socket was muted`);
});

t.test('an older version (Metadata v5): the response is held for the throttle time, and carries it', async (t) => {
  // one request per second, burst 1: the second request in a row owes a second
  const { client } = await setup(t, [{ clientId: 'raw-client', requestsPerSec: 1, requestBurst: 1 }], brokerScript());
  await client.response(client.send(3, 5, { ...defaultMetadataRequest(), topics: [] }));
  const started = performance.now();
  const r = await client.response(client.send(3, 5, { ...defaultMetadataRequest(), topics: [] }), 5000);
  const waited = performance.now() - started;
  const body = decodeResponseFrame(r.subarray(4), 3, 5).body as MetadataRes.MetadataResponse;
  t.ok(waited >= 900, `the response was held ${waited.toFixed(0)} ms`);
  t.ok(body.throttleTimeMs >= 900, `and says throttle_time_ms ${body.throttleTimeMs}`);
});

t.test("the client sees the larger of the broker's throttle and the proxy's", async (t) => {
  const { client } = await setup(t, [{ clientId: 'raw-client', requestsPerSec: 1000 }], brokerScript({ brokerThrottle: 7777 }));
  const r = await client.response(client.send(3, 12, { ...defaultMetadataRequest(), topics: [] }));
  t.equal((decodeResponseFrame(r.subarray(4), 3, 12).body as MetadataRes.MetadataResponse).throttleTimeMs, 7777, 'the broker\'s, being larger');
});

t.test('acks=0 produce is throttled by not reading the client, even what came in the same read', async (t) => {
  const { client, arrivals } = await setup(t, [{ clientId: 'raw-client', produceBytesPerSec: 10_240 }], brokerScript());
  // one write: a 30 KB acks=0 produce (no response ever; 20 KB over a 10 KB burst: 2 s of debt), then a Metadata
  client.socket.write(Buffer.concat([
    encodeRequest(0, 9, 1, produceRequest('t', 0, Buffer.alloc(30_000, 1), 0)),
    encodeRequest(3, 12, 2, { ...defaultMetadataRequest(), topics: [] }),
  ]));
  await client.response(2, 5000);
  t.same(arrivals.map((a) => a.key), [0, 3]);
  const gap = arrivals[1]!.at - arrivals[0]!.at;
  t.ok(gap >= 1800, `the request after an acks=0 produce that put the tenant in debt waited ${gap.toFixed(0)} ms`);
});

t.test('fetch: max_bytes is capped to what the tenant may take, and a fetch in debt is held', async (t) => {
  // 100 KB/s, burst 100 KB; the broker answers each fetch with 150 KB
  const { client, arrivals } = await setup(t, [{ clientId: 'raw-client', fetchBytesPerSec: 102_400 }], brokerScript({ fetchBytes: 150_000 }));
  await client.response(client.send(1, 12, fetchRequest('t', { maxBytes: 50_000_000 })));
  const maxBytesAsked = (f: Buffer) => f.readInt32BE(4 + readRequestHeader(f, undefined, undefined, 4).length + fetchMaxBytesOffset(12));
  t.equal(maxBytesAsked(arrivals[0]!.frame), 102_400, 'the first fetch asked for the bucket (100 KB), not 50 MB');
  const started = performance.now();
  await client.response(client.send(1, 12, fetchRequest('t', { maxBytes: 50_000_000 })), 5000);
  const held = arrivals[1]!.at - started;
  // 150 KB taken from 100 KB leaves 50 KB of debt; the next fetch waits for half a bucket more: ~1 s
  t.ok(held >= 800, `the next fetch reached the broker after ${held.toFixed(0)} ms`);
  t.ok(maxBytesAsked(arrivals[1]!.frame) <= 102_400, 'and asked for no more than the bucket held');
});
