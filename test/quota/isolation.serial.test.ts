// Isolation: a quiet tenant producing at half its quota, while a noisy tenant (kcat, which ignores throttle_time_ms)
// tries far more than its own quota through the same sidecar. The noisy tenant is held to its quota, and the quiet
// tenant's latency stays where it was alone, far from where an unthrottled neighbour puts it.
// (`npm run bench -- isolation` measures the p99 ratio over longer, alternating runs.)
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { testKafka } from '../support/kafkajs.js';
import { startSidecarProcesses } from '../support/proxy-process.js';
import { fixedRateProduce, percentile } from '../support/fixed-rate.js';
import { sampler, slope, topicLogBytes } from '../support/broker-bytes.js';
import { push } from '../support/load.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const MB = 1024 * 1024;
const QUOTA = 2 * MB;
const ROUNDS = 3;
const SECONDS = 8;
const cluster = sharedCluster();
const node = cluster.nodes[0]!;

t.test('a noisy neighbour at many times its quota does not move a quiet tenant', async (t) => {
  const admin = testKafka(`${node.host}:${node.port}`).admin();
  await admin.connect();
  const [quietTopic, noisyTopic] = [uniqueName('quiet'), uniqueName('noisy')];
  await createTopicsAndWait(admin, [quietTopic, noisyTopic].map((topic) => ({ topic, replicaAssignment: [{ partition: 0, replicas: [node.id] }] })));
  t.teardown(async () => {
    await admin.deleteTopics({ topics: [quietTopic, noisyTopic] });
    await admin.disconnect();
  });
  const sidecars = await startSidecarProcesses(cluster.nodes, {
    quotas: [{ clientId: 'quiet', produceBytesPerSec: QUOTA }, { clientId: 'noisy', produceBytesPerSec: QUOTA }],
  });
  t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));
  const proxy = sidecars[0]!;
  const quiet = () => fixedRateProduce(proxy.port, quietTopic!, { requestsPerSec: QUOTA / 2 / (16 * 1024), seconds: SECONDS, clientId: 'quiet' });
  const withNeighbour = async (clientId: string, measureRate = false) => {
    const base = topicLogBytes(node, noisyTopic!);
    const rate = sampler(() => topicLogBytes(node, noisyTopic!) - base, 500);
    const noisy = push('kcat', { classpath: cluster.classpath, bootstrap: proxy.bootstrap, topic: noisyTopic!, clientId });
    await sleep(2000);
    const r = await quiet();
    await noisy.stop();
    const samples = await rate.stop();
    return { latencies: r.latencies, noisyRate: measureRate ? slope(samples, 3, 2 + SECONDS) : 0 };
  };

  await quiet(); // warm-up
  const alone: number[] = [];
  const beside: number[] = [];
  const noisyRates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    alone.push(...(await quiet()).latencies);
    const n = await withNeighbour('noisy', true);
    beside.push(...n.latencies);
    noisyRates.push(n.noisyRate);
  }
  const unthrottled = (await withNeighbour('no-quota')).latencies;
  const [p50a, p99a, p50n, p99n, p99u] = [percentile(alone, 50), percentile(alone, 99), percentile(beside, 50), percentile(beside, 99), percentile(unthrottled, 99)];
  t.comment(`quiet tenant, ${alone.length} round trips a side: alone p50 ${p50a.toFixed(2)} ms p99 ${p99a.toFixed(2)} ms; ` +
    `beside the throttled neighbour p50 ${p50n.toFixed(2)} ms p99 ${p99n.toFixed(2)} ms (ratio ${(p99n / p99a).toFixed(2)}); ` +
    `beside an unthrottled one p99 ${p99u.toFixed(2)} ms`);
  const noisyRate = noisyRates.reduce((a, b) => a + b, 0) / noisyRates.length;
  t.ok(noisyRate < QUOTA * 1.1, `the noisy tenant was held to its quota: ${(noisyRate / MB).toFixed(2)} MB/s for ${QUOTA / MB} MB/s`);
  t.ok(p50n <= p50a * 1.2 + 0.5, `quiet p50 unchanged: ${p50a.toFixed(2)} ms alone, ${p50n.toFixed(2)} ms beside it`);
  t.ok(p99n < p99u / 3, `quiet p99 ${p99n.toFixed(2)} ms, against ${p99u.toFixed(2)} ms beside the same neighbour without a quota`);
});
