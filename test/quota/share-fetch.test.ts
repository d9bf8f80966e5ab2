// Share consumers (KIP-932) through the sidecars, against the real cluster: their ShareFetch responses are charged to
// the tenant's fetch quota, as Kafka charges them (KafkaApis.processShareFetchResponse), and, taken whole to rewrite
// their NodeEndpoints, they are asked to fit limits.maxRewriteFrameBytes (the connection closed on each one before).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { testKafka } from '../support/kafkajs.js';
import { startSidecarProcesses, type ProxyProcess } from '../support/proxy-process.js';
import { producerPerformance, shareConsumer } from '../support/java-clients.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const RECORDS = 4000;
const RECORD_BYTES = 1000;
/** 100 KB/s, its burst the default one second of it. */
const RATE = 102_400;
/**
 * What a tenant may take beyond rate × time and what its bucket starts with (at most the burst): the last fetch,
 * forwarded while the bucket is in debt by no more than 10 ms of the rate and capped to what the bucket holds or a
 * quarter of the burst (at most the burst), plus one record batch beyond that (KIP-74; ProducerPerformance's batches
 * are 16 KB) and the response frame's own bytes.
 */
const SLACK = 2 * RATE;
/** Enough bytes fetched that the tenant has used its burst and been throttled (4 × the burst). */
const PROGRESS = 4 * RATE;

const cluster = sharedCluster();
const node = cluster.nodes[0]!;
const direct = `${node.host}:${node.port}`;
const admin = testKafka(direct).admin();
await admin.connect();
t.teardown(() => admin.disconnect());
const topic = uniqueName('share-fetch');
await createTopicsAndWait(admin, [{ topic, replicaAssignment: [{ partition: 0, replicas: [node.id] }] }]);
t.teardown(() => admin.deleteTopics({ topics: [topic] }).catch(() => undefined));
await producerPerformance(cluster.classpath, { bootstrap: direct, topic, numRecords: RECORDS, recordSize: RECORD_BYTES, props: { acks: 'all' } });

const running = new Set<number>();
const kill = (pid: number) => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone (it read every record it was asked for)
  }
};
t.teardown(() => running.forEach(kill));
const consume = (sidecars: ProxyProcess[], clientId: string, timeoutMs: number) => {
  let pid = 0;
  const done = shareConsumer(cluster.classpath, {
    adminBootstrap: direct, bootstrap: sidecars[0]!.bootstrap, topic, group: uniqueName('share'), clientId, maxMessages: RECORDS, recordBytes: RECORD_BYTES, timeoutMs,
    onSpawn: (p) => running.add((pid = p)),
  }).finally(() => running.delete(pid));
  return { done, kill: () => running.has(pid) && kill(pid) };
};

t.test('a share consumer is held to its tenant\'s fetch quota', async (t) => {
  const sidecars = await startSidecarProcesses(cluster.nodes, { quotas: [{ clientId: 'share-quota', fetchBytesPerSec: RATE }] });
  t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));
  const sum = async (metric: string) => (await Promise.all(sidecars.map((s) => s.metric(metric)))).reduce((a, b) => a + b, 0);
  // what the sidecars relayed, whoever it was charged to (the consumer is the only share consumer here)
  const fetched = () => sum('kqp_response_bytes_total{api="ShareFetch"}');
  const consumer = consume(sidecars, 'share-quota', 180_000);
  // from the last sample that saw nothing fetched (the consumer's JVM and group join take seconds)
  const started = performance.now();
  let from = started;
  let bytes = 0;
  while ((bytes = await fetched()) < PROGRESS && performance.now() - started < 120_000) {
    if (bytes === 0) from = performance.now();
    await sleep(100);
  }
  t.ok(bytes >= PROGRESS, `the share consumer fetched ${bytes} bytes through the sidecar`);
  await sleep(3000);
  bytes = await fetched();
  const seconds = (performance.now() - from) / 1000;
  consumer.kill();
  await consumer.done;
  const bound = RATE + RATE * seconds + SLACK;
  t.ok(bytes <= bound, `${bytes} bytes in ${seconds.toFixed(1)} s since its first: within the burst, ${RATE} B/s and ${SLACK} bytes of slack (${Math.round(bound)}); ` +
    `the topic holds ${RECORDS * RECORD_BYTES} bytes`);
  const charged = await sum('kqp_tenant_bytes_total{tenant="share-quota",kind="fetch"}');
  const [relayed, fetches] = [await fetched(), await sum('kqp_requests_total{api="ShareFetch"}')];
  // the relayed bytes count each response's 4-byte size prefix, the charge does not
  t.ok(charged <= relayed && charged >= relayed - 4 * fetches, `the tenant's fetch quota was charged ${charged} of the ${relayed} bytes relayed in ${fetches} share fetches`);
  const throttled = await sum('kqp_tenant_throttled_requests_total{tenant="share-quota"}');
  t.ok(throttled >= 1, `its share fetches were throttled (${throttled})`);
});

t.test('share fetch responses fit maxRewriteFrameBytes: a share consumer reads every record with the smallest limit', async (t) => {
  const sidecars = await startSidecarProcesses(cluster.nodes, { limits: { maxRewriteFrameBytes: 65_536 } });
  t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));
  const r = await consume(sidecars, 'share-small-frames', 120_000).done;
  t.equal(r.records, RECORDS, `it read all ${RECORDS} records (exit ${r.code}) ${r.records < RECORDS ? r.stderr : ''}`);
  const closed = sidecars.flatMap((s) => readFileSync(s.logFile, 'utf8').split('\n').filter((l) => l.includes('exceeds maxRewriteFrameBytes')));
  t.same(closed, [], 'no connection was closed for a response too large to rewrite');
  const fetches = (await Promise.all(sidecars.map((s) => s.metric('kqp_requests_total{api="ShareFetch"}')))).reduce((a, b) => a + b, 0);
  t.ok(fetches >= (RECORDS * RECORD_BYTES) / 32_768, `in ${fetches} share fetches of at most 32 KB each`);
});
