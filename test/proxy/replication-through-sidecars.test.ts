// Brokers that replicate through their sidecars: a 3-node cluster of its own whose brokers advertise their sidecars on
// the one listener they also replicate through (inter.broker.listener.name), with a <default> client-id fetch quota
// of 100 KB/s on every sidecar. A follower's fetch is charged to no quota (as Kafka exempts replication from client
// quotas: KafkaApis.handleFetchRequest, isFromFollower), so 8 MB produced with acks=all and min.insync.replicas=3 is
// replicated at the brokers' speed; held to the quota, each follower would need over 78 s for it. A consumer's fetch
// through the same sidecar is still throttled.
import t from 'tap';
import { KafkaCluster } from '../../src/local-kafka/kafka-cluster.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';
import { freePorts } from '../../src/local-kafka/ports.js';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import { createLogger } from '../../src/observability/logger.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import type { FetchResponse } from '../../src/protocol/generated/fetch-response.js';
import { sidecarConfig } from '../support/sidecars.js';
import { testKafka } from '../support/kafkajs.js';
import { kcatProduce } from '../support/kcat.js';
import { RawClient } from '../support/raw-client.js';
import { fetchRequest } from '../support/requests.js';

const FETCH_QUOTA = 102_400;
const RECORD_BYTES = 100 * 1024;
const RECORDS = 80;
/** Held to FETCH_QUOTA, a follower would need (8 MB less a burst of one second) ÷ 100 KB/s = 79 s for the 8 MB. */
const PRODUCE_LIMIT_MS = 60_000;

// the sidecars first, on the ports the brokers will advertise; each in front of its broker's client listener
const ports = await freePorts(6);
const brokerPorts = ports.slice(0, 3);
const sidecarPorts = ports.slice(3);
const metricsPorts = await freePorts(3);
const sidecars = await Promise.all([0, 1, 2].map(async (i) => {
  const config = sidecarConfig(`127.0.0.1:${brokerPorts[i]}`, sidecarPorts[i]!, metricsPorts[i]!, undefined, {
    extra: { quotas: [{ clientId: '<default>', fetchBytesPerSec: FETCH_QUOTA }] },
  });
  const proxy = new ProxyServer(config, { logger: createLogger(config.logLevel, process.stderr) });
  await proxy.start();
  return proxy;
}));
t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));
const cluster = await KafkaCluster.start({
  nodes: 3,
  clientPorts: { 1: brokerPorts[0]!, 2: brokerPorts[1]!, 3: brokerPorts[2]! },
  advertise: (id, listener, bound) => (listener === 'CLIENT' ? { host: bound.host, port: sidecarPorts[id - 1]! } : undefined),
  brokerConfig: { 'inter.broker.listener.name': 'CLIENT' },
  log: (l) => t.comment(l),
});
t.teardown(() => cluster.stop());
const admin = testKafka(cluster.bootstrap).admin();
await admin.connect();
t.teardown(() => admin.disconnect());

/** The sum of a metric's series on a sidecar (those whose line starts with `prefix` and has `label`). */
const metric = async (proxy: ProxyServer, prefix: string, label = '') =>
  (await proxy.metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(prefix) && l.includes(label)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);

t.test("followers replicate through the leader's sidecar, charged to no quota", async (t) => {
  const topic = 'replicated';
  await createTopicsAndWait(admin, [{ topic, replicaAssignment: [{ partition: 0, replicas: [1, 2, 3] }], configEntries: [{ name: 'min.insync.replicas', value: '3' }] }]);
  const leader = sidecars[0]!;
  const fetchBytesBefore = await metric(leader, 'kqp_response_bytes_total{api="Fetch"}');
  const started = performance.now();
  await kcatProduce(`127.0.0.1:${sidecarPorts[0]}`, topic, Array.from({ length: RECORDS }, (_, i) => `${i}`.padEnd(RECORD_BYTES, 'r')), { 'batch.size': String(RECORD_BYTES + 1024) });
  const ms = performance.now() - started;
  const mb = (RECORDS * RECORD_BYTES) / 1048576;
  t.ok(ms < PRODUCE_LIMIT_MS, `${mb} MB produced with acks=all (min.insync.replicas 3) in ${(ms / 1000).toFixed(1)} s (followers held to the quota: over 78 s)`);
  const relayed = (await metric(leader, 'kqp_response_bytes_total{api="Fetch"}')) - fetchBytesBefore;
  t.ok(relayed >= 2 * RECORDS * RECORD_BYTES, `the leader's sidecar relayed ${(relayed / 1048576).toFixed(1)} MB of Fetch responses: both followers replicated through it`);
  for (const [i, s] of sidecars.entries()) {
    t.equal(await metric(s, 'kqp_tenant_bytes_total', 'kind="fetch"'), 0, `sidecar ${i + 1}: no fetched byte charged to any tenant`);
    t.equal(await metric(s, 'kqp_tenant_throttled_requests_total'), 0, `sidecar ${i + 1}: no request throttled`);
  }
  const { partitions } = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!;
  t.same([...partitions[0]!.isr].sort(), [1, 2, 3], 'all three replicas in sync');

  // a consumer's fetch of the same partition through the same sidecar is held to the <default> quota
  const client = await RawClient.open(sidecarPorts[0]!);
  t.teardown(() => client.close());
  const res = decodeResponseFrame((await client.response(client.send(1, 12, fetchRequest(topic, { maxBytes: 50_000_000, partitionMaxBytes: 50_000_000 })), 20_000)).subarray(4), 1, 12).body as FetchResponse;
  t.ok(res.throttleTimeMs > 0, `a consumer's fetch through it is throttled: throttle_time_ms ${res.throttleTimeMs}`);
  t.ok(await metric(leader, 'kqp_tenant_bytes_total', 'kind="fetch"') >= RECORD_BYTES, 'and charged');
});
