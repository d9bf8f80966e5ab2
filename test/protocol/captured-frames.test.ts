// Real frames captured between kafkajs, kcat, the Java client and a Kafka 4.4 broker (test/fixtures/capture-frames.ts)
// decode completely and encode back to the very same bytes: headers, bodies, tagged fields and record batches.
import t from 'tap';
import { REQUEST_CODECS, RESPONSE_CODECS } from '../../src/protocol/generated/codecs.js';
import { readRequestHeader, readResponseHeader, writeRequestHeader, writeResponseHeader } from '../../src/protocol/headers.js';
import { Reader } from '../../src/protocol/reader.js';
import { Writer } from '../../src/protocol/writer.js';
import { apiName } from '../../src/protocol/api.js';
import { loadFixtures, type Fixture } from '../support/fixtures.js';

/** Decodes a whole frame and encodes it again. */
function roundTrip(f: Fixture): Buffer {
  const w = new Writer(256);
  if (f.direction === 'request') {
    const h = readRequestHeader(f.frame);
    const r = new Reader(f.frame, h.length);
    const body = REQUEST_CODECS.get(h.apiKey)!.decode(r, h.apiVersion);
    r.expectEnd();
    writeRequestHeader(w, h);
    REQUEST_CODECS.get(h.apiKey)!.encode(w, h.apiVersion, body);
  } else {
    const h = readResponseHeader(f.frame, f.apiKey, f.apiVersion);
    const r = new Reader(f.frame, h.length);
    const body = RESPONSE_CODECS.get(f.apiKey)!.decode(r, f.apiVersion);
    r.expectEnd();
    writeResponseHeader(w, h.correlationId, h.headerVersion, h.unknownTaggedFields);
    RESPONSE_CODECS.get(f.apiKey)!.encode(w, f.apiVersion, body);
  }
  return Buffer.from(w.finish());
}

const fixtures = loadFixtures();

t.test('every captured frame decodes and re-encodes byte for byte', async (t) => {
  const failures: string[] = [];
  for (const f of fixtures) {
    const label = `${f.source} ${apiName(f.apiKey)} v${f.apiVersion} ${f.direction} (${f.frame.length} bytes)`;
    try {
      if (!roundTrip(f).equals(f.frame)) failures.push(`${label}: bytes differ`);
    } catch (err) {
      failures.push(`${label}: ${(err as Error).message}`);
    }
  }
  t.ok(fixtures.length >= 150, `${fixtures.length} frames`);
  t.same(failures, []);
});

// API keys: Produce 0, Fetch 1, Metadata 3, OffsetCommit 8, JoinGroup 11, Heartbeat 12, SyncGroup 14,
// InitProducerId 22, EndTxn 26, CreateTopics 19, DeleteTopics 20, DescribeConfigs 32, SaslAuthenticate 36.
const REQUIRED: Record<string, number[]> = {
  kafkajs: [0, 1, 3, 8, 11, 14, 22, 25, 26, 28, 19, 20, 32, 33, 36],
  kcat: [0, 1, 3, 8, 11, 12, 14, 36],
  java: [0, 1, 3, 8, 11, 14, 22, 26, 19, 20, 32, 44, 36],
};

t.test('the fixtures cover produce, fetch, metadata, groups, transactions, admin and SASL from every client', async (t) => {
  for (const [source, keys] of Object.entries(REQUIRED)) {
    for (const direction of ['request', 'response'] as const) {
      const seen = new Set(fixtures.filter((f) => f.source === source && f.direction === direction).map((f) => f.apiKey));
      t.same(keys.filter((k) => !seen.has(k)).map(apiName), [], `${source} ${direction}s`);
    }
  }
});

/** Compression codecs (attributes & 7) of the record batches in a Produce request. */
function produceCodecs(f: Fixture): number[] {
  const h = readRequestHeader(f.frame);
  const body = REQUEST_CODECS.get(0)!.decode(new Reader(f.frame, h.length), h.apiVersion) as {
    topicData: { partitionData: { records: Buffer | null }[] }[];
  };
  // record batch: baseOffset int64, length int32, leaderEpoch int32, magic int8, crc int32, attributes int16 at 21
  return body.topicData.flatMap((t) => t.partitionData.flatMap((p) => (p.records && p.records.length > 22 ? [p.records.readInt16BE(21) & 7] : [])));
}

t.test('produce requests with compressed and uncompressed batches are among them', async (t) => {
  const codecs = new Set(fixtures.filter((f) => f.direction === 'request' && f.apiKey === 0).flatMap(produceCodecs));
  for (const [codec, name] of [[0, 'none'], [1, 'gzip'], [2, 'snappy'], [3, 'lz4'], [4, 'zstd']] as const) {
    t.ok(codecs.has(codec), `a ${name} batch`);
  }
});
