// Protocol versions through a sidecar in front of the pinned broker (the shared cluster), as clients that do not take
// the newest versions send them (issue 13, point 4):
// - Produce at every version both the codec and the broker know, with acks=all and acks=0: the acks=all ones are
//   answered without error, an acks=0 one gets no response and the connection stays in step (the request after it
//   is answered), and the broker holds every record sent (its end offset). The versions the broker no longer has
//   (v0-v2, removed by KIP-896 in Kafka 4.0) are produced against a Kafka 3.9 broker in kafka-3-9.serial.test.ts.
// - librdkafka forced onto the legacy protocol (no ApiVersions, Produce v1), which Kafka 4 still lists in ApiVersions
//   but no longer takes (KIP-896): the sidecar gives it what the broker gives it.
// - An ApiVersions request of a version newer than the codec knows: the sidecar gives what the broker gives, capped
//   (KIP-511: UNSUPPORTED_VERSION in the v0 format, with the versions the broker supports, from which the
//   client retries).
// - SaslHandshake (v0 with raw tokens, and v1 with SaslAuthenticate) as a connection's first request, with no
//   ApiVersions before it: authenticated through the sidecar, then a produce goes through.
import t from 'tap';
import { sharedCluster, SHARED_SASL_USERS, uniqueName } from '../support/shared-cluster.js';
import { startSidecarProcesses } from '../support/proxy-process.js';
import { testKafka } from '../support/kafkajs.js';
import { RawClient } from '../support/raw-client.js';
import { apiVersions, apiVersionsNewerThanKnown, produceAt, range } from '../support/protocol-versions.js';
import { produceRequest } from '../support/requests.js';
import { runKcat } from '../support/kcat.js';
import { recordBatch } from '../support/record-batch.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';
import { waitForTopicAt } from '../support/broker-metadata.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import * as ProduceRequest from '../../src/protocol/generated/produce-request.js';
import * as ApiVersionsRequest from '../../src/protocol/generated/api-versions-request.js';
import type { ProduceResponse } from '../../src/protocol/generated/produce-response.js';
import type { SaslHandshakeResponse } from '../../src/protocol/generated/sasl-handshake-response.js';
import type { SaslAuthenticateResponse } from '../../src/protocol/generated/sasl-authenticate-response.js';

const RECORDS = 10;
const UNSUPPORTED_VERSION = 35;
const API_VERSIONS = 18;
const cluster = sharedCluster();
const node = cluster.nodes[0]!;
const admin = testKafka(cluster.bootstrap).admin();
await admin.connect();
t.teardown(() => admin.disconnect());
const sidecars = await startSidecarProcesses(cluster.nodes, { quotas: [{ clientId: '<default>', produceBytesPerSec: 8 * 1024 * 1024 }] });
const saslSidecars = await startSidecarProcesses(cluster.nodes, {}, 'saslPort');
t.teardown(() => Promise.all([...sidecars, ...saslSidecars].map((s) => s.stop())));

async function topicOnFirstNode(): Promise<string> {
  const topic = uniqueName('versions');
  await createTopicsAndWait(admin, [{ topic, replicaAssignment: [{ partition: 0, replicas: [node.id] }] }]);
  // the raw produces below go to this broker and never retry: it must have applied the topic itself
  await waitForTopicAt(node.port, topic);
  return topic;
}

const endOffset = async (topic: string) => Number((await admin.fetchTopicOffsets(topic))[0]!.offset);

t.test('Produce at every version the codec and the broker share, acks=all and acks=0, through the sidecar', async (t) => {
  const broker = range(await apiVersions(node.port), 0)!;
  const offered = range(await apiVersions(sidecars[0]!.port), 0)!;
  const from = Math.max(ProduceRequest.MIN_VERSION, broker[0]);
  const to = offered[1];
  t.equal(to, Math.min(ProduceRequest.MAX_VERSION, broker[1]), `the sidecar offers Produce up to v${to} (broker v${broker[0]}-v${broker[1]}, codec v${ProduceRequest.MIN_VERSION}-v${ProduceRequest.MAX_VERSION})`);
  const topic = await topicOnFirstNode();
  let sent = 0;
  for (let v = from; v <= to; v++) {
    for (const acks of [-1, 0]) {
      const r = await produceAt(sidecars[0]!.port, topic, v, acks, RECORDS);
      sent += RECORDS;
      if (acks === 0) t.equal(r.errorCode, null, `v${v} acks=0: no response`);
      else t.equal(r.errorCode, 0, `v${v} acks=all: answered without error`);
      t.ok(r.answersAfter, `v${v} acks=${acks}: the next request on the connection is answered`);
    }
  }
  // acks=0 records are appended after their request was read: wait for the last ones
  const deadline = Date.now() + 10_000;
  while ((await endOffset(topic)) < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.equal(await endOffset(topic), sent, `the broker holds all ${sent} records of v${from}-v${to}`);
});

t.test('kcat on the legacy protocol (api.version.request=false, broker.version.fallback=0.9.0) gets what the broker gives it', async (t) => {
  const values = Array.from({ length: 100 }, (_, i) => `legacy-${i}`).join('\n') + '\n';
  const legacy = async (bootstrap: string) => {
    const topic = await topicOnFirstNode();
    const r = await runKcat(['-P', '-b', bootstrap, '-t', topic, '-X', 'api.version.request=false', '-X', 'broker.version.fallback=0.9.0',
      '-X', 'acks=all', '-X', 'message.timeout.ms=8000'], values, 60_000);
    return { exitCode: r.code, stored: await endOffset(topic), stderr: r.stderr.trim().split('\n').slice(-1)[0] ?? '' };
  };
  const direct = await legacy(`${node.host}:${node.port}`);
  const through = await legacy(sidecars[0]!.bootstrap);
  t.same({ exitCode: through.exitCode, stored: through.stored }, { exitCode: direct.exitCode, stored: direct.stored },
    `direct: exit ${direct.exitCode}, ${direct.stored} stored (${direct.stderr}); through the sidecar: exit ${through.exitCode}, ${through.stored} stored (${through.stderr})`);
});

t.test('an ApiVersions request newer than the codec knows gets what the broker gives it, capped', async (t) => {
  const newer = ApiVersionsRequest.MAX_VERSION + 1;
  const direct = await apiVersionsNewerThanKnown(node.port, newer, ApiVersionsRequest.MAX_VERSION);
  const through = await apiVersionsNewerThanKnown(sidecars[0]!.port, newer, ApiVersionsRequest.MAX_VERSION);
  const offered = await apiVersions(sidecars[0]!.port);
  t.equal(direct.errorCode, UNSUPPORTED_VERSION, 'direct: UNSUPPORTED_VERSION');
  t.equal(range(direct.listed!, API_VERSIONS)?.[1], ApiVersionsRequest.MAX_VERSION, 'direct: the broker names the ApiVersions versions to retry with');
  t.equal(through.errorCode, UNSUPPORTED_VERSION, 'through the sidecar: UNSUPPORTED_VERSION, the connection open');
  // every API the broker listed, with the sidecar's cap (what it offers to a known version) where it has one (the
  // capping itself is shown in test/proxy/response-rewriter.test.ts: the pinned broker knows no version the codec does not)
  const expected = direct.listed!.apiKeys.map((a) => [a.apiKey, a.minVersion, Math.min(a.maxVersion, range(offered, a.apiKey)?.[1] ?? a.maxVersion)]);
  t.same(through.listed!.apiKeys.map((a) => [a.apiKey, a.minVersion, a.maxVersion]), expected, 'through the sidecar: the versions listed are capped as a retry\'s answer is');
});

const [user, password] = Object.entries(SHARED_SASL_USERS.plain!)[0]!;
const plainToken = Buffer.from(`\0${user}\0${password}`);

/** Produces RECORDS records at v9 on an authenticated connection; returns the partition's error code. */
async function produceOn(c: RawClient, topic: string): Promise<number> {
  const frame = await c.response(c.send(0, 9, produceRequest(topic, 0, recordBatch(RECORDS, 100))), 30_000);
  return (decodeResponseFrame(frame.subarray(4), 0, 9).body as ProduceResponse).responses[0]!.partitionResponses[0]!.errorCode;
}

t.test('SaslHandshake v1 as the first request (no ApiVersions), then SaslAuthenticate and a produce', async (t) => {
  const topic = await topicOnFirstNode();
  const c = await RawClient.open(saslSidecars[0]!.port);
  t.teardown(() => c.close());
  const hs = decodeResponseFrame((await c.response(c.send(17, 1, { mechanism: 'PLAIN', unknownTaggedFields: undefined }))).subarray(4), 17, 1).body as SaslHandshakeResponse;
  t.equal(hs.errorCode, 0, `handshake accepted (mechanisms ${hs.mechanisms.join(', ')})`);
  const auth = decodeResponseFrame((await c.response(c.send(36, 2, { authBytes: plainToken, unknownTaggedFields: undefined }))).subarray(4), 36, 2).body as SaslAuthenticateResponse;
  t.equal(auth.errorCode, 0, `authenticated as ${user}`);
  t.equal(await produceOn(c, topic), 0, 'then a produce is answered without error');
  t.equal(await endOffset(topic), RECORDS);
});

t.test('SaslHandshake v0 as the first request, then a raw PLAIN token (no Kafka header) and a produce', async (t) => {
  const topic = await topicOnFirstNode();
  const c = await RawClient.open(saslSidecars[0]!.port);
  t.teardown(() => c.close());
  const hs = decodeResponseFrame((await c.response(c.send(17, 0, { mechanism: 'PLAIN', unknownTaggedFields: undefined }))).subarray(4), 17, 0).body as SaslHandshakeResponse;
  t.equal(hs.errorCode, 0, 'handshake accepted');
  const token = Buffer.alloc(4 + plainToken.length);
  token.writeInt32BE(plainToken.length, 0);
  plainToken.copy(token, 4);
  const before = c.frames.length;
  c.socket.write(token);
  const deadline = Date.now() + 10_000;
  while (c.frames.length === before && !c.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(c.frames[before]?.length, 4, 'the broker answers the raw token with an empty raw frame (authenticated)');
  t.equal(await produceOn(c, topic), 0, 'then a produce is answered without error');
  t.equal(await endOffset(topic), RECORDS);
});
