// Fetch throttles that SREs and clients can see, against the real cluster: a fetch that takes its tenant into debt
// comes back at once with throttle_time_ms (the way a broker answers a KIP-219 client), the connection is not read
// until the throttle is over, and the fetch counts as throttled in the proxy's metrics.
import t from 'tap';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { testKafka } from '../support/kafkajs.js';
import { startSidecarProcesses } from '../support/proxy-process.js';
import { RawClient } from '../support/raw-client.js';
import { fetchRequest } from '../support/requests.js';
import { kcatProduce } from '../support/kcat.js';
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
const sidecars = await startSidecarProcesses(cluster.nodes, { quotas: [{ clientId: 'raw-client', fetchBytesPerSec: FETCH_QUOTA }] });
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
