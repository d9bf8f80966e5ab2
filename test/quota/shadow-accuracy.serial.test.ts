// Shadow mode against the real cluster (issue 12): the same workload, a Java producer sending as fast as it can, first
// under an enforced produce quota, then with the quota in shadow mode. In shadow the broker receives the tenant's full
// rate, and kqp_tenant_would_throttle_seconds_total grows by about a second a second, as the mute it simulates covers
// about all the time, and by at least what kqp_tenant_throttle_seconds_total grew by when the quota was enforced, over
// the same length of time (how close the two are is reported).
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { testKafka } from '../support/kafkajs.js';
import { startProxyProcess } from '../support/proxy-process.js';
import { sampler, slope, topicLogBytes } from '../support/broker-bytes.js';
import { push } from '../support/load.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

/**
 * Enforced, a producer that sends as fast as it can is muted all the time but what it takes to send its quota's bytes
 * and to read each request after its mute; shadow mode simulates the mute alone. Against this producer's 16-21 MB/s a
 * 128 KB/s quota leaves that share near 1% (measured: enforced 14.85 s, shadow 15.03 s of 15; at 512 KB/s it was 4-5%).
 */
const QUOTA = 128 * 1024;
/** From the producer's first bytes, its JVM's warm-up; then the measured window. */
const WARM_UP_S = 3;
const WINDOW_S = 15;
/**
 * The shadow meter counts the would-be mute as it passes, seen at the next charge: over the window, up to the gap
 * between two of the producer's requests more or less. Enforced, a throttle counts when given: the last one may run
 * past the window (a 16 KB batch at 128 KB/s owes 0.125 s). A second is far more than either.
 */
const SLACK_S = 1;

const cluster = sharedCluster();
const node = cluster.nodes[0]!;

async function measure(t: Test, mode: 'enforce' | 'shadow', topic: string) {
  const proxy = await startProxyProcess({
    upstream: `${node.host}:${node.port}`,
    quotas: [{ clientId: 'shadowed', produceBytesPerSec: QUOTA, mode }],
  }, { advertiseSelf: node.id });
  t.teardown(() => proxy.stop());
  const base = topicLogBytes(node, topic);
  const bytes = sampler(() => topicLogBytes(node, topic) - base, 250);
  const producer = push('java', { classpath: cluster.classpath, bootstrap: proxy.bootstrap, topic, clientId: 'shadowed', extra: { 'batch.size': '16384' } });
  t.teardown(() => producer.stop());
  while ((bytes.samples.at(-1)?.value ?? 0) === 0) await sleep(100);
  await sleep(WARM_UP_S * 1000);
  const metric = mode === 'enforce' ? 'kqp_tenant_throttle_seconds_total{tenant="shadowed"}' : 'kqp_tenant_would_throttle_seconds_total{tenant="shadowed"}';
  const from = bytes.samples.at(-1)!.seconds;
  const started = performance.now();
  const before = await proxy.metric(metric);
  await sleep(WINDOW_S * 1000);
  const throttle = (await proxy.metric(metric)) - before;
  const elapsed = (performance.now() - started) / 1000;
  const rate = slope(bytes.samples, from, from + WINDOW_S);
  const told = await proxy.metric('kqp_tenant_throttle_seconds_total{tenant="shadowed"}');
  await producer.stop();
  await bytes.stop();
  await proxy.stop();
  return { throttle, rate, told, elapsed };
}

t.test('a produce quota in shadow mode meters what enforcing it gives, and lets the full rate through', async (t) => {
  const admin = testKafka(`${node.host}:${node.port}`).admin();
  await admin.connect();
  const topic = uniqueName('shadow');
  await createTopicsAndWait(admin, [{ topic, replicaAssignment: [{ partition: 0, replicas: [node.id] }] }]);
  t.teardown(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined); // cleanup: a slow broker's timeout must not fail the file
    await admin.disconnect();
  });
  const enforced = await measure(t, 'enforce', topic);
  const shadow = await measure(t, 'shadow', topic);
  const kb = (x: number) => `${(x / 1024).toFixed(0)} KB/s`;
  t.comment(`enforced: ${kb(enforced.rate)}, throttled ${enforced.throttle.toFixed(2)} s in ${WINDOW_S} s; shadow: ${kb(shadow.rate)}, would have been ${shadow.throttle.toFixed(2)} s`);
  t.ok(enforced.rate <= QUOTA * 1.1, `enforced, the broker received ${kb(enforced.rate)} (quota ${kb(QUOTA)})`);
  t.ok(shadow.rate >= QUOTA * 3, `in shadow, the broker received the tenant's full rate: ${kb(shadow.rate)}`);
  t.equal(shadow.told, 0, 'in shadow, no throttle was given');
  t.ok(shadow.throttle >= WINDOW_S * 0.95 && shadow.throttle <= shadow.elapsed + SLACK_S,
    `in shadow, it would have been muted ${shadow.throttle.toFixed(2)} s of the ${shadow.elapsed.toFixed(2)} s between the two readings`);
  // enforced, the time to read each request after its mute is not muted: enforcement gives a little less
  const apart = (100 * (shadow.throttle - enforced.throttle)) / enforced.throttle;
  t.ok(enforced.throttle <= shadow.throttle + SLACK_S,
    `the throttle it would have had, ${shadow.throttle.toFixed(2)} s, is not below what enforcement gave, ${enforced.throttle.toFixed(2)} s, by more than ${SLACK_S} s (${apart.toFixed(1)}% apart)`);
});
