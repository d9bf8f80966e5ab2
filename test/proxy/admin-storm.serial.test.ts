// Issue 11's admin storm against a 1-node Kafka of its own (a storm's leftovers would slow every other test on the
// shared cluster), first through a sidecar with the guard, then straight to the broker.
//
// Guarded: for STORM_SEC, 32 Java AdminClients (one tenant, storm) and KAFKAJS_WORKERS kafkajs admin clients (tenant
// kjs) create and delete 200-partition topics in a loop, and 16 workers churn new consumer groups, while a producer
// sends 1,000 records/s and a quiet tenant creates a topic every second and produces to it; the two go on for
// WATCH_SEC after the storm, and the broker is watched from outside throughout. What the guard guarantees is asserted:
// - every call of the storm (and the quiet tenant's CreateTopics, and the producer's records) succeeds: the Java AdminClient retries
//   THROTTLING_QUOTA_EXCEEDED by itself, and each refused topic's turn comes within 43 s of its 60 s; kafkajs' older
//   versions are held instead, never refused. The one exception allowed: a Java call that the broker's own latency
//   on this machine took past its 60 s deadline (DEADLINE_ERRORS, at most MAX_DEADLINE_SHARE of the calls);
// - the partition mutations the broker accepted (successful calls, by the second they completed: a call completes
//   after the sidecar forwarded it) never exceed, at any second since the storm began, what a tenant's bucket lets
//   through by then (burst + rate × 1.05 × seconds, plus the one topic that put it in debt), nor all tenants together
//   what the broker budget lets through (it charges before forwarding, so no topic goes past it);
// - the broker is alive at every sample, through the storm and the watch after it.
// Its open files and pending deletions are reported, and so is how long the quiet tenant waited from creating a topic
// to a record acknowledged in it (the broker can run behind its controller while the storm's own clients share its two
// cores: up to 18 s with its files on /dev/shm, 48 s on this VM's disk; issue 11's open target). Latency ratios (the producer's p99 against its own without the
// storm, the quiet tenant's CreateTopics) depend on how much of the two cores the storm's own clients take: they are
// measured by `npm run bench -- admin-storm`, not asserted here.
//
// Direct: the same storm roles straight to the broker for DIRECT_STORM_SEC. The mutations the broker accepts pass the
// bound the guard held within seconds: that is what the guard prevents (how far it goes, and whether the broker dies,
// is the bench's to record).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { KafkaCluster } from '../../src/local-kafka/kafka-cluster.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';
import { startSidecarProcesses } from '../support/proxy-process.js';
import { GUARD, PRODUCER, QUIET_INTERVAL_MS, STORM, WARM_UP_MS, runAdminStorm, type CallStats } from '../support/admin-storm.js';
import { runKafkajsAdminStorm } from '../support/kafkajs-admin-storm.js';
import { watchBrokerHealth } from '../support/broker-health.js';
import { testKafka } from '../support/kafkajs.js';

const STORM_SEC = 60;
/** The issue's 3 minutes after the storm: issue 11 saw brokers die 80-90 s after a 60 s storm had ended. */
const WATCH_SEC = 180;
/**
 * Straight to the broker, the storm passes the bound the guard holds within its first seconds (the controller accepts
 * thousands of partitions a second; the first 32 calls alone are 6,400): 10 s shows it, and its calls are waited for
 * 20 s more (what they do then is not asserted), so the broker is not left to fill its open files for a minute.
 */
const DIRECT_STORM_SEC = 10;
const DIRECT_AWAIT_SEC = 20;
const KAFKAJS_WORKERS = 2;
/** The issue's margin on a rate (timers, and the clients' clocks read when a call completes). */
const RATE_MARGIN = 1.05;
/**
 * The sidecar gives each refused topic its turn within 32 × 200 partitions ÷ 150/s = 43 s of the AdminClient's 60 s; the
 * rest is the broker's (its controller, on two cores shared with the storm's own JVMs), so a call can reach its deadline
 * (the AdminClient then reports the last THROTTLING_QUOTA_EXCEEDED, or a timeout): 0 of 89, 0 of 90 and 1 of 89 calls
 * in three fresh-clone CI runs. Failing any other way, or more often than this, is a defect.
 */
const DEADLINE_ERRORS = ['ThrottlingQuotaExceededException', 'TimeoutException'];
const MAX_DEADLINE_SHARE = 0.05;
const PRODUCER_TOPIC = 'well-behaved';
const GROUP_TOPIC = 'group-storm-source';

const quota = GUARD.quotas[0]!;
const budget = GUARD.brokerBudget;

const log = (line: string) => console.error(line);
const cluster = await KafkaCluster.start({ nodes: 1, log });
t.teardown(() => cluster.stop({ graceMs: 5000 }));
const node = cluster.info.nodes[0]!;
const direct = `${node.host}:${node.port}`;
{
  const admin = testKafka(direct).admin();
  await admin.connect();
  await createTopicsAndWait(admin, [PRODUCER_TOPIC, GROUP_TOPIC].map((topic) => ({ topic, numPartitions: 1 })));
  await admin.describeGroups(['admin-storm-warm-up']); // creates __consumer_offsets now, not in the storm's first join
  await admin.disconnect();
}

/** Running sums of per-second counts: what had been accepted by the end of each second. */
const cumulative = (perSec: readonly number[]) => {
  let sum = 0;
  return perSec.map((n) => (sum += n));
};
const sumAt = (a: readonly number[], b: readonly number[]) => Array.from({ length: Math.max(a.length, b.length) }, (_, i) => (a[Math.min(i, a.length - 1)] ?? 0) + (b[Math.min(i, b.length - 1)] ?? 0));

/** What a bucket lets through by the end of second k (k + 1 seconds since the storm began), and the topic over it. */
const allowed = (rate: number, burst: number, k: number, overshoot: number) => burst + overshoot + rate * RATE_MARGIN * (k + 1);

/** The first second at which `accepted` (cumulative) is over the bound, or undefined. */
const firstOver = (accepted: readonly number[], bound: (k: number) => number) => {
  const k = accepted.findIndex((n, i) => n > bound(i));
  return k < 0 ? undefined : { second: k, accepted: accepted[k]!, allowed: Math.round(bound(k)) };
};

/** A process's open-file limit (a broker that reaches it dies: issue 11), for the report. */
const openFilesLimit = (pid: number) => /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1] ?? 'unknown';

const failed = (...stats: (CallStats | undefined)[]) => stats.reduce((n, s) => n + (s?.failed ?? 0), 0);
const stats = (s: CallStats | undefined) => (s ? `${s.ok}/${s.calls} ok, p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms, max ${s.maxMs} ms` : 'none');

t.test(`the storm through a guarded sidecar: ${STORM_SEC} s, then ${WATCH_SEC} s watching the broker`, async (t) => {
  const [sidecar] = await startSidecarProcesses(cluster.info.nodes, GUARD);
  t.teardown(() => sidecar!.stop());
  const bootstrap = sidecar!.bootstrap;
  const health = watchBrokerHealth(node, cluster.pids()[0]!);
  const beginAt = Date.now() + WARM_UP_MS;
  const nonce = `g${Date.now().toString(36)}`;
  const [tenants, storm, kjs] = await Promise.all([
    runAdminStorm({
      classpath: cluster.info.classpath, durationSec: STORM_SEC, watchSec: WATCH_SEC, nonce, beginAt, heapMb: 256,
      quiet: { bootstrap, intervalMs: QUIET_INTERVAL_MS },
      producer: { bootstrap, topic: PRODUCER_TOPIC, rate: PRODUCER.rate, recordSize: PRODUCER.recordSize },
      log: (line) => log(`tenants: ${line}`),
    }),
    runAdminStorm({
      classpath: cluster.info.classpath, durationSec: STORM_SEC, nonce, beginAt, heapMb: 512,
      admin: { bootstrap, workers: STORM.adminWorkers, partitions: STORM.partitions, sharedClientId: STORM.sharedAdminClientId },
      groups: { bootstrap, workers: STORM.groupWorkers, topic: GROUP_TOPIC },
      log: (line) => log(`storm: ${line}`),
    }),
    runKafkajsAdminStorm({
      bootstrap, workers: KAFKAJS_WORKERS, partitions: STORM.partitions, durationSec: STORM_SEC, beginAt,
      clientId: 'kjs-admin', topicPrefix: 'kjs-t', nonce,
    }),
  ]);
  const h = await health.stop();
  const a = storm.admin!;
  const g = storm.groups!;
  const q = tenants.quiet!;
  const p = tenants.producer!;
  t.comment(`storm CreateTopics ${stats(a.create)}; DeleteTopics ${stats(a.delete)}; after its end ${stats(a.tail)}; ` +
    `JoinGroup ${stats(g.joins)}; kafkajs ${kjs.ok}/${kjs.calls} ok`);
  t.comment(`quiet CreateTopics ${stats(q.create)}, create→produce ${stats(q.endToEnd)} ${JSON.stringify(q.endToEnd.failures)}, ` +
    `after the storm ${stats(q.endToEndAfter)}; producer during the storm ` +
    `${stats(p.during)}, after it ${stats(p.after)}`);
  t.comment(`broker: max ${h.max.openFiles} open files (its limit: ${openFilesLimit(cluster.pids()[0]!)}), ${h.max.pendingDeletions} pending deletions, ${h.max.rssMB} MB RSS, ` +
    `${h.max.mutationsPerSec10s} log mutations/s over its busiest 10 s; accepted at most ${a.acceptedMutationsPerSecMax}/s (Java)`);

  t.equal(storm.exitCode, 0, `the storm's JVM ended normally: ${storm.stderrTail.slice(-2000)}`);
  t.equal(tenants.exitCode, 0, `the tenants' JVM ended normally: ${tenants.stderrTail.slice(-2000)}`);
  t.ok(a.create.calls >= STORM.adminWorkers && g.joins.calls >= STORM.groupWorkers && kjs.calls >= KAFKAJS_WORKERS, 'every storm worker made calls');
  const javaFailures: Record<string, number> = {};
  for (const f of [a.create.failures, a.delete.failures]) for (const [k, n] of Object.entries(f)) javaFailures[k] = (javaFailures[k] ?? 0) + n;
  const javaCalls = a.create.calls + a.delete.calls; // (a.tail: those of them that ended after the storm)
  t.equal(a.unfinished, 0, 'every Java admin call of the storm ended');
  t.same(Object.keys(javaFailures).filter((k) => !DEADLINE_ERRORS.includes(k)), [], `no Java admin call of the storm failed other than at its client's deadline: ${JSON.stringify(javaFailures)}`);
  t.ok(a.callsFailed <= MAX_DEADLINE_SHARE * javaCalls,
    `${a.callsFailed} of ${javaCalls} Java admin calls reached their 60 s deadline (at most ${MAX_DEADLINE_SHARE * 100}%; issue 11 asks for none)`);
  t.equal(g.joins.failed + g.tail.failed + g.unfinished, 0, `every group join succeeded: ${JSON.stringify({ ...g.joins.failures, ...g.tail.failures })}`);
  t.equal(kjs.failed, 0, `every kafkajs admin call succeeded: ${JSON.stringify(kjs.failures)}`);
  t.equal(failed(q.create, q.createAfter), 0, 'every CreateTopics of the quiet tenant succeeded');
  t.equal(failed(p.during, p.after), 0, 'every record of the producer was acknowledged');

  const javaAccepted = cumulative(a.acceptedMutationsPerSec);
  const kjsAccepted = cumulative(kjs.acceptedMutationsPerSec);
  const overTenant = (accepted: number[]) => firstOver(accepted, (k) => allowed(quota.partitionMutationsPerSec, quota.partitionMutationBurst, k, STORM.partitions));
  t.same(overTenant(javaAccepted), undefined, `the storm tenant's mutations stayed within its quota at every second (${javaAccepted.at(-1)} in all)`);
  t.same(overTenant(kjsAccepted), undefined, `the kafkajs tenant's mutations stayed within its quota at every second (${kjsAccepted.at(-1)} in all)`);
  const overBudget = firstOver(sumAt(javaAccepted, kjsAccepted), (k) => allowed(budget.partitionMutationsPerSec, budget.partitionMutationBurst, k, 0));
  t.same(overBudget, undefined, 'all tenants together stayed within the broker budget at every second');

  t.notOk(h.died, `the broker was alive at every sample (${h.samples.length} over ${h.samples.at(-1)?.seconds} s)`);
});

t.test(`the same storm straight to the broker for ${DIRECT_STORM_SEC} s`, async (t) => {
  const health = watchBrokerHealth(node, cluster.pids()[0]!);
  const beginAt = Date.now() + WARM_UP_MS;
  const nonce = `d${Date.now().toString(36)}`;
  const [storm, kjs] = await Promise.all([
    runAdminStorm({
      classpath: cluster.info.classpath, durationSec: DIRECT_STORM_SEC, awaitSec: DIRECT_AWAIT_SEC, nonce, beginAt, heapMb: 512,
      admin: { bootstrap: direct, workers: STORM.adminWorkers, partitions: STORM.partitions, sharedClientId: STORM.sharedAdminClientId },
      groups: { bootstrap: direct, workers: STORM.groupWorkers, topic: GROUP_TOPIC },
      log: (line) => log(`direct storm: ${line}`),
    }),
    runKafkajsAdminStorm({
      bootstrap: direct, workers: KAFKAJS_WORKERS, partitions: STORM.partitions, durationSec: DIRECT_STORM_SEC, beginAt,
      clientId: 'kjs-admin', topicPrefix: 'kjs-t', nonce,
    }),
  ]);
  const h = await health.stop();
  const a = storm.admin!;
  t.comment(`direct: CreateTopics ${stats(a.create)}; JoinGroup ${stats(storm.groups?.joins)}; accepted at most ` +
    `${a.acceptedMutationsPerSecMax} mutations/s (Java); broker max ${h.max.openFiles} open files, ${h.max.pendingDeletions} ` +
    `pending deletions${h.died ? `, died ${h.diedAtSeconds} s in` : ''}`);
  const over = firstOver(sumAt(cumulative(a.acceptedMutationsPerSec), cumulative(kjs.acceptedMutationsPerSec)), (k) =>
    allowed(quota.partitionMutationsPerSec, quota.partitionMutationBurst, k, STORM.partitions));
  t.ok(over, `straight to the broker, the storm passed the bound the guard held: ${JSON.stringify(over)}`);
});
