// A tenant at 100× its quota with large batches for 60 s: the proxy's RSS stays bounded, and at no moment has the
// broker received more than the quota's rate times the time elapsed, plus the burst, plus the one request that put the
// tenant in debt (it is forwarded whole; the tenant is then not read until the debt is paid).
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { testKafka } from '../support/kafkajs.js';
import { startSidecarProcesses } from '../support/proxy-process.js';
import { sampler, topicLogBytes } from '../support/broker-bytes.js';
import { push } from '../support/load.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const RATE = 256 * 1024; // unthrottled, this producer sends 25-45 MB/s here: 100× and more
const BURST = RATE;
const MAX_REQUEST = 1024 * 1024 + 4096; // max.request.size and a request's own overhead
const SECONDS = 60;
const RSS_GROWTH_BOUND_MB = 50;

const cluster = sharedCluster();
const node = cluster.nodes[0]!;

t.test('a tenant at 100× its quota for 60 s', async (t) => {
  const admin = testKafka(`${node.host}:${node.port}`).admin();
  await admin.connect();
  const topic = uniqueName('overload');
  await createTopicsAndWait(admin, [{ topic, replicaAssignment: [{ partition: 0, replicas: [node.id] }] }]);
  t.teardown(async () => {
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
  });
  const sidecars = await startSidecarProcesses(cluster.nodes, { quotas: [{ clientId: 'hog', produceBytesPerSec: RATE, produceBurstBytes: BURST }] });
  t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));
  const proxy = sidecars[0]!;
  const rssStart = proxy.rssMB();

  const base = topicLogBytes(node, topic);
  const bytes = sampler(() => topicLogBytes(node, topic) - base, 250);
  const rss = sampler(() => proxy.rssMB(), 1000);
  const hog = push('java', {
    classpath: cluster.classpath, bootstrap: proxy.bootstrap, topic, clientId: 'hog',
    extra: { 'batch.size': '1048576', 'linger.ms': '100', 'max.request.size': '1048576', 'buffer.memory': '67108864' },
  });
  await sleep(SECONDS * 1000);
  await hog.stop();
  const samples = await bytes.stop();
  const rssSamples = (await rss.stop()).map((s) => s.value);

  const excess = samples.map((s) => s.value - (BURST + RATE * s.seconds + MAX_REQUEST));
  const worst = Math.max(...excess);
  t.ok(worst <= 0, `at every one of ${samples.length} samples the broker had received no more than burst + rate × t + one request (closest: ${(-worst / 1024).toFixed(0)} KB under)`);
  const last = samples.at(-1)!;
  const average = last.value / last.seconds;
  t.ok(average <= RATE * 1.1 && average >= RATE * 0.8, `on average ${(average / 1024).toFixed(0)} KB/s for a ${RATE / 1024} KB/s quota`);
  const peak = Math.max(...rssSamples);
  t.comment(`proxy RSS (MB, every second): ${rssSamples.map(Math.round).join(' ')}`);
  t.ok(peak - rssStart < RSS_GROWTH_BOUND_MB, `proxy RSS stayed bounded: ${rssStart.toFixed(0)} MB at start, ${peak.toFixed(0)} MB at most`);
});
