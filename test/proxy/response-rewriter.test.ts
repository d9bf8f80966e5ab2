// Address rewriting and ApiVersions capping on encoded responses (the rewriter alone; the sidecar test runs it
// against real brokers and clients).
import t from 'tap';
import { ResponseRewriter, FETCH_MAX_VERSION_WHEN_REWRITING, throttleField } from '../../src/proxy/response-rewriter.js';
import { AddressMap } from '../../src/proxy/address-map.js';
import { parseHostPort } from '../../src/config/load-config.js';
import { API_SCHEMAS } from '../../src/protocol/generated/api-table.js';
import { encodeResponseFrame } from '../support/encode-response.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import * as Metadata from '../../src/protocol/generated/metadata-response.js';
import * as FindCoordinator from '../../src/protocol/generated/find-coordinator-response.js';
import * as DescribeCluster from '../../src/protocol/generated/describe-cluster-response.js';
import * as Produce from '../../src/protocol/generated/produce-response.js';
import * as ApiVersions from '../../src/protocol/generated/api-versions-response.js';

const map = new AddressMap({ mode: 'map', map: new Map([[1, parseHostPort('proxy-1:9092')], [2, parseHostPort('proxy-2:9093')]]) });
const pattern = new AddressMap({ mode: 'pattern', pattern: 'kafka-{nodeId}.sidecar:9092' });
const none = new AddressMap({ mode: 'none' });

const frame = (apiKey: number, version: number, body: object) => encodeResponseFrame(apiKey, version, body).frame;

function decode<T>(f: Buffer, apiKey: number, version: number): T {
  t.equal(f.readInt32BE(0), f.length - 4, 'size prefix matches the rewritten frame');
  return decodeResponseFrame(f.subarray(4), apiKey, version).body as T;
}

const broker = (nodeId: number, host: string, port: number) => ({ ...Metadata.defaultMetadataResponseBroker(), nodeId, host, port });

t.test('Metadata: every broker gets its sidecar address; unknown node ids are left alone', async (t) => {
  const m = { ...Metadata.defaultMetadataResponse(), brokers: [broker(1, '10.0.0.1', 9092), broker(2, '10.0.0.2', 9092), broker(7, '10.0.0.7', 9092)] };
  const out = decode<Metadata.MetadataResponse>(new ResponseRewriter(map).rewrite(frame(3, 12, m), 3, 12), 3, 12);
  t.same(out.brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`), ['1@proxy-1:9092', '2@proxy-2:9093', '7@10.0.0.7:9092']);
  const viaPattern = decode<Metadata.MetadataResponse>(new ResponseRewriter(pattern).rewrite(frame(3, 1, m), 3, 1), 3, 1);
  t.same(viaPattern.brokers.map((b) => b.host), ['kafka-1.sidecar', 'kafka-2.sidecar', 'kafka-7.sidecar'], 'pattern, in a non-flexible version');
});

t.test('FindCoordinator v3 (single node) and v6 (coordinators array)', async (t) => {
  const v3 = { ...FindCoordinator.defaultFindCoordinatorResponse(), nodeId: 2, host: 'b2', port: 1 };
  t.match(decode(new ResponseRewriter(map).rewrite(frame(10, 3, v3), 10, 3), 10, 3), { nodeId: 2, host: 'proxy-2', port: 9093 });
  const v6 = {
    ...FindCoordinator.defaultFindCoordinatorResponse(),
    coordinators: [{ ...FindCoordinator.defaultCoordinator(), key: 'g', nodeId: 1, host: 'b1', port: 1 }],
  };
  const out = decode<FindCoordinator.FindCoordinatorResponse>(new ResponseRewriter(map).rewrite(frame(10, 6, v6), 10, 6), 10, 6);
  t.match(out.coordinators[0], { key: 'g', host: 'proxy-1', port: 9092 });
  const missing = { ...FindCoordinator.defaultFindCoordinatorResponse(), nodeId: -1, host: '', port: -1, errorCode: 15 };
  const f = frame(10, 3, missing);
  t.equal(new ResponseRewriter(map).rewrite(f, 10, 3), f, 'no coordinator: the frame passes unchanged');
});

t.test('DescribeCluster and Produce v10+ NodeEndpoints', async (t) => {
  const dc = { ...DescribeCluster.defaultDescribeClusterResponse(), brokers: [{ ...DescribeCluster.defaultDescribeClusterBroker(), brokerId: 1, host: 'b1', port: 1 }] };
  t.match(decode<DescribeCluster.DescribeClusterResponse>(new ResponseRewriter(map).rewrite(frame(60, 1, dc), 60, 1), 60, 1).brokers[0], { host: 'proxy-1', port: 9092 });
  const pr = { ...Produce.defaultProduceResponse(), nodeEndpoints: [{ ...Produce.defaultNodeEndpoint(), nodeId: 2, host: 'b2', port: 2 }] };
  t.match(decode<Produce.ProduceResponse>(new ResponseRewriter(map).rewrite(frame(0, 11, pr), 0, 11), 0, 11).nodeEndpoints[0], { host: 'proxy-2', port: 9093 });
  const rw = new ResponseRewriter(map);
  t.ok(rw.needsWhole(0, 10) && !rw.needsWhole(0, 9), 'Produce held whole from v10 only');
  t.ok(rw.needsWhole(3, 12) && rw.needsWhole(10, 4) && rw.needsWhole(60, 0) && rw.needsWhole(78, 1) && rw.needsWhole(79, 1));
  t.notOk(rw.needsWhole(1, 15), 'Fetch is always streamed');
  t.notOk(new ResponseRewriter(none).needsWhole(3, 12), 'brokers that advertise their sidecars: nothing is held');
});

t.test('a throttle longer than throttle_time_ms can say (a quota of a few bytes a second) is carried as its int32 maximum', async (t) => {
  const pr = { ...Produce.defaultProduceResponse(), nodeEndpoints: [{ ...Produce.defaultNodeEndpoint(), nodeId: 2, host: 'b2', port: 2 }] };
  const out = new ResponseRewriter(map).rewrite(frame(0, 11, pr), 0, 11, 3e9);
  t.equal(decode<Produce.ProduceResponse>(out, 0, 11).throttleTimeMs, 0x7fffffff, 'decoded and encoded again');
  t.equal(throttleField(3e9), 0x7fffffff);
  t.equal(throttleField(10.2), 11, 'rounded up');
});

t.test('an ApiVersions response cut short after its correlation id is a protocol error (the connection closes as for any bad frame)', async (t) => {
  const short = Buffer.alloc(8);
  short.writeInt32BE(4, 0);
  short.writeInt32BE(1, 4);
  let thrown: unknown;
  try {
    new ResponseRewriter(map).rewrite(short, 18, 3);
  } catch (err) {
    thrown = err;
  }
  t.type(thrown, ProtocolError, `${String(thrown)}`);
});

t.test('ApiVersions is capped once per version: the same answer again comes out the same, with its own correlation id; another answer is capped anew', async (t) => {
  const key = (apiKey: number, maxVersion: number) => ({ ...ApiVersions.defaultApiVersion(), apiKey, minVersion: 0, maxVersion });
  const rw = new ResponseRewriter(map);
  const answer = (apiKeys: ReturnType<typeof key>[], correlationId: number) => encodeResponseFrame(18, 3, { ...ApiVersions.defaultApiVersionsResponse(), apiKeys }, correlationId).frame;
  const first = rw.rewrite(answer([key(1, 99), key(3, 5)], 1), 18, 3);
  const again = rw.rewrite(answer([key(1, 99), key(3, 5)], 2), 18, 3);
  t.equal(again.readInt32BE(4), 2, 'its own correlation id');
  t.strictSame(again.subarray(8), first.subarray(8), 'the same capped body');
  t.equal(again.readInt32BE(0), again.length - 4, 'size prefix');
  const upgraded = decode<ApiVersions.ApiVersionsResponse>(rw.rewrite(answer([key(1, 99), key(3, 5), key(2, 99)], 3), 18, 3), 18, 3);
  t.same(upgraded.apiKeys.map((a) => [a.apiKey, a.maxVersion]), [[1, FETCH_MAX_VERSION_WHEN_REWRITING], [3, 5], [2, API_SCHEMAS.find((a) => a.key === 2)!.maxVersion]], 'a different answer capped anew');
  const unchanged = answer([key(3, 5)], 4);
  t.equal(rw.rewrite(unchanged, 18, 3), unchanged, 'nothing to cap: the frame itself');
  const unchangedAgain = answer([key(3, 5)], 5);
  t.equal(rw.rewrite(unchangedAgain, 18, 3), unchangedAgain, 'and again, from the memo');
});

t.test('ApiVersions: versions capped to what the codec knows (also those listed with UNSUPPORTED_VERSION); unknown APIs untouched; Fetch ≤ 15 when rewriting', async (t) => {
  const key = (apiKey: number, minVersion: number, maxVersion: number) => ({ ...ApiVersions.defaultApiVersion(), apiKey, minVersion, maxVersion });
  const m = { ...ApiVersions.defaultApiVersionsResponse(), apiKeys: [key(0, 3, 99), key(1, 4, 99), key(3, 0, 5), key(999, 0, 7)] };
  const codecMax = (k: number) => API_SCHEMAS.find((a) => a.key === k)!.maxVersion;
  const rewriting = decode<ApiVersions.ApiVersionsResponse>(new ResponseRewriter(map).rewrite(frame(18, 3, m), 18, 3), 18, 3);
  t.same(rewriting.apiKeys.map((a) => [a.apiKey, a.maxVersion]), [[0, codecMax(0)], [1, FETCH_MAX_VERSION_WHEN_REWRITING], [3, 5], [999, 7]]);
  const plain = decode<ApiVersions.ApiVersionsResponse>(new ResponseRewriter(none).rewrite(frame(18, 3, m), 18, 3), 18, 3);
  t.same(plain.apiKeys.map((a) => [a.apiKey, a.maxVersion]), [[0, codecMax(0)], [1, codecMax(1)], [3, 5], [999, 7]]);
  // KIP-511: a version the broker does not know is answered in v0, with the versions it supports, whatever the request's
  const unsupported = frame(18, 0, { ...m, errorCode: 35 });
  const capped = decode<ApiVersions.ApiVersionsResponse>(new ResponseRewriter(map).rewrite(unsupported, 18, 5), 18, 0);
  t.equal(capped.errorCode, 35, 'UNSUPPORTED_VERSION kept');
  t.same(capped.apiKeys.map((a) => [a.apiKey, a.maxVersion]), [[0, codecMax(0)], [1, FETCH_MAX_VERSION_WHEN_REWRITING], [3, 5], [999, 7]],
    'the versions listed with UNSUPPORTED_VERSION (v0 body) are capped too');
  const invalid = frame(18, 3, { ...ApiVersions.defaultApiVersionsResponse(), errorCode: 42 });
  t.equal(new ResponseRewriter(map).rewrite(invalid, 18, 3), invalid, 'another error (INVALID_REQUEST, no versions listed) passes as it is');
});
