// Cluster-scoped quotas (issue 16) on the shared 3-node cluster, a sidecar process per broker, coordinating through a
// compacted topic of their own: one tenant with a cluster quota of 3 MB/s pushes as hard as it can with the Java
// client. What the brokers received (their own log files, summed over the three) is the tenant's total:
// (a) its partitions led by all three brokers: each sidecar sees a third of its traffic, the total is 3 MB/s ± 5%;
// (b) skew, all its partitions on one broker: one sidecar sees it all and gets nearly the whole quota (all but the
//     two idle sidecars' floors, coordination.floorShare = 2% split three ways: 98.7%), so the total is still
//     3 MB/s ± 5% (a per-broker quota of 1 MB/s would give it 1 MB/s; of 3 MB/s, up to 9 across three brokers).
// (c) a shift: the tenant's load moves from one broker's partitions to another's: the new broker's sidecar holds at
//     least 90% of the quota within 5 s of its first request there (convergenceMs), and what that broker received
//     from 5 s after the load's first bytes there is within the quota as in (a).
// Rates are least-squares slopes of the byte counts sampled every 500 ms, from 6 s after the load starts (the shares
// converge within two or three intervals of 1 s) to its end. As in accuracy.serial, the lower side is scaled by the
// share of the time each sidecar throttled the tenant: a client starved of CPU asks for less than its quota (and when
// it was throttled less than half the time, only the upper side is judged).
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { testKafka } from '../support/kafkajs.js';
import { startSidecarProcesses, type ProxyProcess } from '../support/proxy-process.js';
import { sampler, slope, topicLogBytes } from '../support/broker-bytes.js';
import { push } from '../support/load.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const MB = 1024 * 1024;
const QUOTA = 3 * MB;
const TOLERANCE = 0.05;
const LOAD_SECONDS = 18;
const FROM_SECONDS = 6;
/** Below this share of the quota held throttled, the client is starved and the lower side is not judged. */
const STARVED = 0.5;
const cluster = sharedCluster();
const nodes = cluster.nodes;
const admin = testKafka(cluster.bootstrap).admin();
await admin.connect();
t.teardown(() => admin.disconnect());

const tenants = { even: uniqueName('cluster-even'), skew: uniqueName('cluster-skew'), shift: uniqueName('cluster-shift') };
const sidecars = await startSidecarProcesses(nodes, {
  quotas: Object.values(tenants).map((clientId) => ({ clientId, produceBytesPerSec: QUOTA, scope: 'cluster' })),
  coordination: { topic: uniqueName('kqp-coordination') },
});
t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));

interface Coordination { mode: string; liveSidecars: number; bytesPublished: number }
const coordination = async (s: ProxyProcess) =>
  ((await s.quota('ANONYMOUS', tenants.even)).sidecar as { coordination?: Coordination }).coordination;

// every sidecar reads its own reports back and hears the two others (the consumers join their groups first)
const deadline = Date.now() + 60_000;
for (;;) {
  const states = await Promise.all(sidecars.map(coordination));
  if (states.every((c) => c?.mode === 'coordinated' && c.liveSidecars === 3)) break;
  if (Date.now() > deadline) throw new Error(`coordination not established in 60 s: ${JSON.stringify(states)}`);
  await sleep(250);
}

/** The tenant's share of the quota at each sidecar. */
const shares = async (clientId: string) =>
  Promise.all(sidecars.map(async (s) => ((await s.quota('ANONYMOUS', clientId)).produce as { quota: { share: number } }).quota.share));

async function topicOn(t: Test, leaders: number[]): Promise<string> {
  const topic = uniqueName('cluster-quota');
  await createTopicsAndWait(admin, [{ topic, replicaAssignment: leaders.map((id, partition) => ({ partition, replicas: [id] })) }]);
  t.teardown(() => admin.deleteTopics({ topics: [topic] }));
  return topic;
}

/** Asserts a rate against the quota: above, + 5%; below, the sidecars' shares scaled by their time throttled, - 5%. */
function assertRate(t: Test, what: string, rate: number, shares: number[], throttled: number[], extra: string): void {
  const held = shares.reduce((sum, share, i) => sum + share * throttled[i]!, 0);
  // a client throttled less than half the time was starved of CPU (measured once at load average 29: throttled 11% of
  // the time, 0.29 MB/s): only the upper side says something about the proxy then
  const floor = held < STARVED ? 0 : QUOTA * (1 - TOLERANCE) * held;
  t.ok(rate <= QUOTA * (1 + TOLERANCE) && rate >= floor,
    `${what} ${(rate / MB).toFixed(3)} MB/s (${((rate / QUOTA - 1) * 100).toFixed(1)}% off 3 MB/s; at least ${(floor / MB).toFixed(3)}); ` +
    `shares at the sidecars ${shares.map((x) => x.toFixed(3)).join(', ')}, throttled ${throttled.map((x) => `${(x * 100).toFixed(0)}%`).join(', ')} of the time; ${extra}`);
}

const throttleSamplers = (clientId: string) => sidecars.map((s) => sampler(() => s.metric(`kqp_tenant_throttle_seconds_total{tenant="${clientId}"}`), 500));

async function measure(t: Test, clientId: string, leaders: number[]): Promise<void> {
  const topic = await topicOn(t, leaders);
  const bytes = sampler(() => nodes.reduce((sum, n) => sum + topicLogBytes(n, topic), 0), 500);
  // the seconds each sidecar throttled the tenant (a tenant named in the config is its own metric label)
  const throttles = throttleSamplers(clientId);
  const load = push('java', { classpath: cluster.classpath, bootstrap: sidecars[0]!.bootstrap, topic, clientId });
  await sleep(LOAD_SECONDS * 1000);
  const during = await shares(clientId);
  const modes = (await Promise.all(sidecars.map(coordination))).map((c) => c?.mode).join(', ');
  await load.stop();
  const samples = await bytes.stop();
  const throttled = (await Promise.all(throttles.map((s) => s.stop()))).map((s) => Math.min(1, slope(s, FROM_SECONDS, LOAD_SECONDS)));
  const rate = slope(samples, FROM_SECONDS, LOAD_SECONDS);
  assertRate(t, `from ${FROM_SECONDS} s to ${LOAD_SECONDS} s the brokers received`, rate, during, throttled, `coordination ${modes}`);
}

t.test('(a) partitions led by all three brokers: the brokers receive the cluster quota', (t) => measure(t, tenants.even, nodes.map((n) => n.id)));

t.test('(b) skew, every partition led by one broker: still the cluster quota', (t) => measure(t, tenants.skew, nodes.map(() => nodes[0]!.id)));

t.test('(c) a shift from one broker to another: the new sidecar takes the quota over within 5 s, the total stays within it', async (t) => {
  const [from, to] = [await topicOn(t, nodes.map(() => nodes[0]!.id)), await topicOn(t, nodes.map(() => nodes[1]!.id))];
  const first = push('java', { classpath: cluster.classpath, bootstrap: sidecars[0]!.bootstrap, topic: from, clientId: tenants.shift });
  await sleep(8000);
  await first.stop();
  const bytes = sampler(() => topicLogBytes(nodes[1]!, to), 250);
  // the new sidecar's share, and whether it has charged the tenant yet (its bucket has a slot): -1 until then
  const share = sampler(async () => {
    const p = (await sidecars[1]!.quota('ANONYMOUS', tenants.shift)).produce as { quota: { share: number }; bucket: { slot: number | null } };
    return p.bucket.slot === null ? -1 : p.quota.share;
  }, 250);
  const throttles = throttleSamplers(tenants.shift);
  const second = push('java', { classpath: cluster.classpath, bootstrap: sidecars[0]!.bootstrap, topic: to, clientId: tenants.shift });
  await sleep(LOAD_SECONDS * 1000);
  const during = await shares(tenants.shift);
  await second.stop();
  const [b, s] = [await bytes.stop(), await share.stop()];
  const throttled = (await Promise.all(throttles.map((x) => x.stop())));
  const charged = s.find((x) => x.value >= 0)!.seconds;
  const converged = s.find((x) => x.value >= 0.9);
  const convergenceMs = converged ? Math.round((converged.seconds - charged) * 1000) : Infinity;
  t.ok(convergenceMs <= 5000, `convergenceMs ${convergenceMs}: the new broker's sidecar held ${converged?.value.toFixed(3)} of the quota ${convergenceMs} ms after it first charged the tenant (sampled every 250 ms)`);
  const start = b.find((x) => x.value > 0)!.seconds;
  const rate = slope(b, start + 5, LOAD_SECONDS);
  assertRate(t, `from 5 s after the shift to the end the new broker received`, rate, during, throttled.map((x) => Math.min(1, slope(x, start + 5, LOAD_SECONDS))), `convergenceMs ${convergenceMs}`);
});

t.test('coordination traffic is reported', async (t) => {
  const states = await Promise.all(sidecars.map(coordination));
  for (const c of states) t.ok(c!.bytesPublished > 0, `published ${c!.bytesPublished} bytes`);
});
