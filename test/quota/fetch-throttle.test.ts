// Fetch throttles that SREs and clients can see, against the real cluster: a fetch that takes its tenant into debt
// comes back at once with throttle_time_ms (the way a broker answers a KIP-219 client), the connection is not read
// until the throttle is over, and the fetch counts as throttled in the proxy's metrics. A consumer held to its quota
// is sent each record once: no record batch is cut in two by a capped max_bytes and fetched again.
import t from 'tap';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { testKafka } from '../support/kafkajs.js';
import { startSidecarProcesses } from '../support/proxy-process.js';
import { RawClient } from '../support/raw-client.js';
import { fetchRequest } from '../support/requests.js';
import { kcatConsume, kcatProduce } from '../support/kcat.js';
import { topicLogBytes } from '../support/broker-bytes.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import type { FetchResponse } from '../../src/protocol/generated/fetch-response.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

/**
 * 100 KB/s: a new bucket holds 10 KB and a fetch may ask for a quarter of the burst, 25 KB; the topic's one record is
 * a 600 KB batch, which the broker returns whole however little was asked for (KIP-74), so the response takes the
 * tenant about 5.9 s into debt, less the round trip (the bucket refills 100 KB a second meanwhile): over 1 s unless
 * the round trip took over 4.9 s.
 */
const FETCH_QUOTA = 102_400;
const RECORD_BYTES = 600 * 1024;

const cluster = sharedCluster();
const node = cluster.nodes[0]!;
const admin = testKafka(`${node.host}:${node.port}`).admin();
await admin.connect();
t.teardown(() => admin.disconnect());
const topic = uniqueName('fetch-throttle');
await createTopicsAndWait(admin, [{ topic, replicaAssignment: [{ partition: 0, replicas: [node.id] }] }]);
t.teardown(() => admin.deleteTopics({ topics: [topic] }).catch(() => undefined));
// one 600 KB record, straight to the broker
await kcatProduce(`${node.host}:${node.port}`, topic, ['x'.repeat(RECORD_BYTES)]);

// the default config: nothing but the rate
const sidecars = await startSidecarProcesses(cluster.nodes, {
  quotas: [{ clientId: 'raw-client', fetchBytesPerSec: FETCH_QUOTA }, { clientId: 'batches-consumer', fetchBytesPerSec: FETCH_QUOTA }],
});
t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));
const proxy = sidecars[0]!;

t.test('a fetch that takes the tenant into debt carries throttle_time_ms, and the next one waits it out', async (t) => {
  const client = await RawClient.open(proxy.port);
  t.teardown(() => client.close());
  const fetch = () => client.send(1, 12, fetchRequest(topic, { maxBytes: 50_000_000, partitionMaxBytes: 50_000_000 }));
  const sentAt = performance.now();
  const first = decodeResponseFrame((await client.response(fetch(), 20_000)).subarray(4), 1, 12).body as FetchResponse;
  const records = first.responses[0]!.partitions[0]!.records?.length ?? 0;
  t.ok(records >= RECORD_BYTES && records < RECORD_BYTES + 1024, `the first response carried the whole ${records}-byte batch (KIP-74)`);
  t.ok(first.throttleTimeMs > 1000, `it carries throttle_time_ms ${first.throttleTimeMs}`);
  const second = await client.response(fetch(), 20_000);
  t.ok(second.length > 0 && performance.now() - sentAt >= first.throttleTimeMs - 50, 'the next fetch was answered after the throttle (the client was muted)');
  t.ok((await proxy.metric('kqp_tenant_throttled_requests_total{tenant="raw-client"}')) >= 1, 'and counted as throttled');
});

t.test('a consumer held to its quota is sent its records once: no batch cut in two by the cap and fetched again', async (t) => {
  // 600 records of 1 KB in batches of about 16 KB (librdkafka's batch.size), straight to the broker
  const batched = uniqueName('fetch-batches');
  await createTopicsAndWait(admin, [{ topic: batched, replicaAssignment: [{ partition: 0, replicas: [node.id] }] }]);
  t.teardown(() => admin.deleteTopics({ topics: [batched] }).catch(() => undefined));
  await kcatProduce(`${node.host}:${node.port}`, batched, Array.from({ length: 600 }, (_, i) => `${i}`.padEnd(1000, 'r')), { 'batch.size': '16384', 'linger.ms': '100' });
  const logBytes = topicLogBytes(node, batched);
  // a quarter of the 100 KB burst is 25 KB: capped to that, each fetch brought one batch and most of the next, which
  // the consumer dropped and fetched again (1.4-1.5x the log was sent); capped to one batch, each is sent once
  const values = await kcatConsume(proxy.bootstrap, batched, { 'client.id': 'batches-consumer' });
  t.equal(values.length, 600, 'the consumer read every record');
  const sent = await proxy.metric('kqp_tenant_bytes_total{tenant="batches-consumer",kind="fetch"}');
  t.ok(sent <= logBytes * 1.1, `the proxy sent it ${sent} bytes for a log of ${logBytes} (${(sent / logBytes).toFixed(2)}x; at most 1.1x: the responses' own headers)`);
  t.ok((await proxy.metric('kqp_tenant_throttled_requests_total{tenant="batches-consumer"}')) > 0, 'and it was throttled');
});
