// Metadata's broker addresses rewritten without decoding the rest, against the generated codec: for every version,
// responses of every shape (brokers with and without racks and unknown tagged fields, topics and partitions, cluster
// id, authorized operations) encoded by the codec; the codec must read the result back as the input with each mapped
// broker's address replaced and throttle_time_ms raised, and nothing else changed.
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { rewriteMetadataBrokers, METADATA_BROKERS_MAX_VERSION } from '../../src/proxy/metadata-brokers.js';
import * as Metadata from '../../src/protocol/generated/metadata-response.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import { ResponseRewriter } from '../../src/proxy/response-rewriter.js';
import { AddressMap } from '../../src/proxy/address-map.js';
import { encodeResponseFrame } from '../support/encode-response.js';
import { prng } from '../support/populate.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import type { HostPort } from '../../src/config/load-config.js';

const rnd = prng(11);
const random = (n: number) => Math.floor(rnd() * n);

function response(v: number): Metadata.MetadataResponse {
  const m = Metadata.defaultMetadataResponse();
  m.throttleTimeMs = v >= 3 ? random(500) : 0;
  for (let n = random(5); n > 0; n--) {
    m.brokers.push({
      ...Metadata.defaultMetadataResponseBroker(), nodeId: random(6), host: `broker-${random(1000)}.example`, port: 9000 + random(100),
      rack: v >= 1 && random(2) ? `rack-${random(3)}` : null,
      unknownTaggedFields: v >= 9 && random(4) === 0 ? [{ tag: 4, data: Buffer.from([9, 9]) }] : undefined,
    });
  }
  m.clusterId = v >= 2 && random(2) ? 'cluster-id' : null;
  m.controllerId = v >= 1 ? random(6) : -1;
  for (let n = random(4); n > 0; n--) {
    const topic = { ...Metadata.defaultMetadataResponseTopic(), name: `topic-${random(100)}`, isInternal: v >= 1 && random(5) === 0 };
    for (let p = random(4); p > 0; p--) topic.partitions.push({ ...Metadata.defaultMetadataResponsePartition(), partitionIndex: p, leaderId: random(6), replicaNodes: [1, 2], isrNodes: [1] });
    m.topics.push(topic);
  }
  if (v >= 9 && random(4) === 0) m.unknownTaggedFields = [{ tag: 7, data: Buffer.alloc(3) }];
  return m;
}

const frame = (version: number, m: Metadata.MetadataResponse) => encodeResponseFrame(3, version, m);

const decode = (f: Buffer, v: number) => decodeResponseFrame(f.subarray(4), 3, v).body as Metadata.MetadataResponse;
// ids 0-3 mapped (1 to the address it may already have; 3 to a host as long as broker-10..99's, patched in place when
// no other is moved), 4-5 not
const sidecars = new Map<number, HostPort>([
  [0, { host: 'sidecar-0', port: 19092 }], [1, { host: 'broker-1.example', port: 9001 }], [2, { host: 's2', port: 1 }],
  [3, { host: 'sidecar-3.example', port: 19093 }],
]);
// the rewriter takes this path when it rewrites addresses and keeps no topic cache; it raises throttle_time_ms itself
const rewriter = new ResponseRewriter(new AddressMap({ mode: 'map', map: sidecars }));

t.equal(METADATA_BROKERS_MAX_VERSION, Metadata.MAX_VERSION, 'it covers every version the codec has (a new one needs it reviewed against MetadataResponse.json)');

t.test('every version, 200 shapes each: read back as the input with the addresses replaced', async (t) => {
  for (let v = Metadata.MIN_VERSION; v <= METADATA_BROKERS_MAX_VERSION; v++) {
    let wrong = 0;
    let same = 0;
    for (let i = 0; i < 200; i++) {
      const m = response(v);
      const { frame: f } = frame(v, m);
      const throttle = random(3) === 0 ? 250.5 : 0;
      const input = decode(f, v); // before: a frame passed on is changed in place
      const out = rewriter.rewrite(f, 3, v, throttle);
      const expected = { ...input, brokers: input.brokers.map((b) => ({ ...b, ...(sidecars.get(b.nodeId) ?? {}) })) };
      if (v >= 3 && throttle > input.throttleTimeMs) expected.throttleTimeMs = 251;
      if (out === f) same++;
      if (out.readInt32BE(0) !== out.length - 4 || !isDeepStrictEqual(decode(out, v), expected)) wrong++;
    }
    t.equal(wrong, 0, `v${v}: every one right (${same} of 200 passed on as the same buffer)`);
  }
});

t.test('new hosts as long as the old ones: the frame itself, patched in place (v1 and v12)', async (t) => {
  for (const v of [1, 12]) {
    const m = Metadata.defaultMetadataResponse();
    m.brokers = [3, 4].map((nodeId) => ({ ...Metadata.defaultMetadataResponseBroker(), nodeId, host: `broker-1${nodeId}.example`, port: 9092, rack: 'r' }));
    m.topics = [{ ...Metadata.defaultMetadataResponseTopic(), name: 'topic', partitions: [{ ...Metadata.defaultMetadataResponsePartition(), replicaNodes: [3, 4] }] }];
    const { frame: f, bodyAt } = frame(v, m);
    const input = decode(f, v);
    t.equal(rewriteMetadataBrokers(f, bodyAt, v, (id) => sidecars.get(id)), f, `v${v}: the same buffer`);
    t.same(decode(f, v), { ...input, brokers: [{ ...input.brokers[0]!, host: 'sidecar-3.example', port: 19093 }, input.brokers[1]] }, `v${v}: broker 3 moved, broker 4 as it was`);
  }
});

t.test('a truncated brokers array is a protocol error', async (t) => {
  const m = { ...Metadata.defaultMetadataResponse(), brokers: [{ ...Metadata.defaultMetadataResponseBroker(), nodeId: 0, host: 'b0', port: 1, rack: 'r' }] };
  const { frame: f, bodyAt } = frame(12, m);
  const brokersEnd = bodyAt + 4 + 1 + 4 + 3 + 4 + 2 + 1;
  let failed = 0;
  for (let end = bodyAt; end < brokersEnd; end++) {
    try {
      rewriteMetadataBrokers(f.subarray(0, end), bodyAt, 12, (id) => sidecars.get(id));
    } catch (err) {
      if (err instanceof ProtocolError) failed++;
    }
  }
  t.equal(failed, brokersEnd - bodyAt, `each of the ${brokersEnd - bodyAt} cuts inside it`);
});
