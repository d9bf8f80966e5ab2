// Accuracy: tenants with 1 MB/s and 10 MB/s quotas push (and pull) as hard as they can for 30 s with the Java
// client, kafkajs and kcat. What the broker received (its log files) and sent (its own BytesOutPerSec metric, over
// JMX) grows at no more than each quota + 5%, measured from 5 s to 30 s (after the first burst), and at no less than
// quota - 5% of the time the tenant was throttled. That lower bound is what the proxy controls: while a tenant is in
// debt it gets exactly its quota, but a client starved of CPU on two shared cores may not ask for it all, and the
// time it then spends unthrottled (measured by the proxy's own throttle-seconds counter) is its own.
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { testKafka } from '../support/kafkajs.js';
import { startSidecarProcesses } from '../support/proxy-process.js';
import { sampler, slope, topicLogBytes } from '../support/broker-bytes.js';
import { pull, push, type ClientKind } from '../support/load.js';
import { producerPerformance } from '../support/java-clients.js';
import { jmxSampler } from '../support/broker-metrics.js';
import { runKcat } from '../support/kcat.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const MB = 1024 * 1024;
const SECONDS = 32;
const TOLERANCE = 0.05;
const cluster = sharedCluster();
const node = cluster.nodes[0]!;
const direct = `${node.host}:${node.port}`;
const admin = testKafka(direct).admin();
await admin.connect();
t.teardown(() => admin.disconnect());

const onThisBroker = (topic: string) => ({ topic, replicaAssignment: [{ partition: 0, replicas: [node.id] }] });

// a sidecar per broker (clients must never learn a broker's own address); the topics live on broker 1
const sidecars = await startSidecarProcesses(cluster.nodes, {
  quotas: [
    { clientId: 'produce-1mb', produceBytesPerSec: MB },
    { clientId: 'produce-10mb', produceBytesPerSec: 10 * MB },
    { clientId: 'fetch-1mb', fetchBytesPerSec: MB },
    { clientId: 'fetch-10mb', fetchBytesPerSec: 10 * MB },
  ],
});
t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));
const proxy = sidecars[0]!;

const pct = (rate: number, quota: number) => `${((rate / quota - 1) * 100).toFixed(1)}%`;

/** Samples the throttle seconds the proxy gave a tenant (a tenant named in the config is its own metric label). */
const throttleSeconds = (tenant: string) => sampler(() => proxy.metric(`kqp_tenant_throttle_seconds_total{tenant="${tenant}"}`));

/** Asserts the rate against the quota, the lower bound scaled by the share of the window the tenant was throttled. */
function assertRate(t: Test, what: string, rate: number, quota: number, throttled: number): void {
  const share = Math.min(1, throttled);
  const floor = quota * (1 - TOLERANCE) * share;
  t.ok(rate <= quota * (1 + TOLERANCE) && rate >= floor,
    `${what}: ${(rate / MB).toFixed(3)} MB/s (${pct(rate, quota)}); throttled ${(share * 100).toFixed(0)}% of the time, so at least ${(floor / MB).toFixed(3)} MB/s`);
}

for (const kind of ['java', 'kafkajs', 'kcat'] as ClientKind[]) {
  t.test(`produce, ${kind}: the broker receives each tenant's quota`, async (t) => {
    const topics = [uniqueName(`acc-${kind}-1`), uniqueName(`acc-${kind}-10`)];
    await createTopicsAndWait(admin, topics.map(onThisBroker));
    t.teardown(() => admin.deleteTopics({ topics }));
    const loads = [
      push(kind, { classpath: cluster.classpath, bootstrap: proxy.bootstrap, topic: topics[0]!, clientId: 'produce-1mb' }),
      push(kind, { classpath: cluster.classpath, bootstrap: proxy.bootstrap, topic: topics[1]!, clientId: 'produce-10mb' }),
    ];
    const samplers = topics.map((topic) => sampler(() => topicLogBytes(node, topic)));
    const throttles = ['produce-1mb', 'produce-10mb'].map(throttleSeconds);
    await sleep(SECONDS * 1000);
    for (const l of loads) await l.stop();
    const [slow, fast] = (await Promise.all(samplers.map((s) => s.stop()))).map((s) => slope(s, 5, 30));
    const [slowThrottled, fastThrottled] = (await Promise.all(throttles.map((s) => s.stop()))).map((s) => slope(s, 5, 30));
    assertRate(t, '1 MB/s tenant: the broker received', slow!, MB, slowThrottled!);
    assertRate(t, '10 MB/s tenant: the broker received', fast!, 10 * MB, fastThrottled!);
  });
}

t.test('fetch: the broker sends each tenant its quota', async (t) => {
  const topics = [uniqueName('acc-fetch-1'), uniqueName('acc-fetch-10')];
  await createTopicsAndWait(admin, topics.map(onThisBroker));
  t.teardown(() => admin.deleteTopics({ topics }));
  // more to read than 1 MB/s and 10 MB/s take in 32 s
  for (const [topic, mb] of [[topics[0]!, 60], [topics[1]!, 400]] as const) {
    await producerPerformance(cluster.classpath, {
      bootstrap: direct, topic, numRecords: mb * 1024, recordSize: 1024, props: { acks: 1, 'linger.ms': 20, 'batch.size': 65536 },
    });
  }
  // one direct read creates each topic's BytesOutPerSec meter, so JmxTool finds it from the start
  for (const topic of topics) await runKcat(['-C', '-b', direct, '-t', topic, '-o', 'beginning', '-c', '1', '-e', '-q']);
  const bytesOut = (topic: string) => jmxSampler(cluster.classpath, node, `kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,topic=${topic}`);
  for (const kind of ['java', 'kafkajs', 'kcat'] as ClientKind[]) {
    const samplers = topics.map(bytesOut);
    const throttles = ['fetch-1mb', 'fetch-10mb'].map(throttleSeconds);
    const loads = [
      pull(kind, { classpath: cluster.classpath, bootstrap: proxy.bootstrap, topic: topics[0]!, group: uniqueName(`fetch-${kind}-1`), clientId: 'fetch-1mb' }),
      pull(kind, { classpath: cluster.classpath, bootstrap: proxy.bootstrap, topic: topics[1]!, group: uniqueName(`fetch-${kind}-10`), clientId: 'fetch-10mb' }),
    ];
    await sleep(SECONDS * 1000);
    for (const l of loads) await l.stop();
    const [slow, fast] = (await Promise.all(samplers.map((s) => s.stop()))).map((s) => slope(s, 5, 30));
    const [slowThrottled, fastThrottled] = (await Promise.all(throttles.map((s) => s.stop()))).map((s) => slope(s, 5, 30));
    assertRate(t, `${kind}, 1 MB/s tenant: the broker sent`, slow!, MB, slowThrottled!);
    assertRate(t, `${kind}, 10 MB/s tenant: the broker sent`, fast!, 10 * MB, fastThrottled!);
  }
});
