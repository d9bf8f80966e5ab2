// Admin storm (issue 11, point 7): issue 11's storm against a 1-node Kafka, in one run, each phase from a settled
// broker: 32 AdminClients creating and deleting 200-partition topics in a loop and 16 workers churning new consumer
// groups for --storm seconds, while a well-behaved producer sends 1,000 records/s of 1 KB (acks=all) and a quiet admin
// tenant creates a 1-partition topic every second and produces to it; both go on for --watch seconds after the storm
// (what they see while the broker catches up). The storm and the two tenants run in two JVMs (test/support/
// admin-storm.ts), so the storm's garbage collections are not the producer's latency. The broker is watched every
// second from outside (test/support/broker-health.ts): open files, RSS, partition directories and those awaiting
// deletion, the logs it created and deleted per second, whether it is alive (brokerMutationsPerSec10sMax: the logs
// created plus those deleted per second over the busiest 10 s; null for a phase shorter than 10 s).
//
// Phases: `baseline` (the two tenants alone, straight to the broker), `baseline-sidecar` (the same through a sidecar
// with the default config), then the storm `direct`, through a `sidecar` with the default config (every role through
// it), through a sidecar with the `guarded` config (GUARD in test/support/admin-storm.ts), the same with each topic
// change keeping its gate place until the broker has applied it (`guarded-applied`: admin.holdUntilAppliedMs), and direct with Kafka's own KIP-599 quota
// (`kafka-quota`: controller_mutation_rate, KAFKA_QUOTA below). After each phase its topics and groups are deleted and
// the broker is watched until it has settled (no partition directory of the phase's topics left, no deletion pending):
// a broker that dies (during the phase or while settling), or that has not settled within --settle seconds (or has
// not changed for STUCK_MS), is recorded and replaced by a fresh cluster for the next phase. A sidecar config the
// proxy refuses (the guard's keys before they are in the schema) skips that phase only, with the reason.
//
// Figures: each *ProduceP99Ratio is the producer's p99 during the storm over its p99 without it (the direct baseline
// for the direct phases, the sidecar baseline for the sidecar phases); guardedQuietAdminP99Ratio the quiet tenant's
// CreateTopics p99 with the guard over its sidecar baseline (guardedApplied*: the same for guarded-applied); and per phase the storm calls that failed, the most
// partition mutations per second the broker applied (log directories) and its controller accepted (successful calls),
// open files, pending deletions, RSS (maxima over the phase and its settling), whether the broker survived, and the CPU
// seconds the broker, the sidecar and the two JVMs used (all on the same 2 cores: the clients' CPU is the broker's
// too, so a storm costs the producer latency on this machine even when the broker is protected), and the sidecar's
// event-loop delays (sidecarLoopLagMs: what every request through it waits out, its own work and its waits for a CPU).
// The sidecar runs as deployed: the build, with the Dockerfile's node flags.
//
// The storm's JVM runs at the lowest CPU priority (--storm-nice, default 19; 0 runs it at the producer's): a storm's
// clients run on machines of their own, and on these 2 cores the storm's 48 clients otherwise took up to 0.9 of a core
// from the broker and the producer (most at the storm's start) while sending the broker the same requests.
// --pin puts the broker, the sidecar and the tenants' JVM on CPU 0 and the storm's JVM on CPU 1, in every phase: the storm
// then reaches the producer only through the broker and the sidecar, not by taking their CPU.
//
// npm run bench -- admin-storm [-- --storm 60 --watch 180 --settle 300 --phases baseline,direct,... --storm-nice 19 --pin]
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { readdirSync, readFileSync } from 'node:fs';
import { KafkaCluster, setClientQuota, type NodeInfo } from '../src/local-kafka/kafka-cluster.js';
import { createTopicsAndWait } from '../src/local-kafka/topics.js';
import { startSidecarProcesses, type ProxyProcess } from '../test/support/proxy-process.js';
import { compileAdminStorm, runAdminStorm, GUARD, GUARD_APPLIED, PRODUCER, QUIET_INTERVAL_MS, STORM, WARM_UP_MS, type CallStats, type StormResult } from '../test/support/admin-storm.js';
import { brokerHealthNow, watchBrokerHealth, type HealthSummary } from '../test/support/broker-health.js';
import { testKafka } from '../test/support/kafkajs.js';
import { buildProxy, cpuSeconds, pinProcess } from './support/processes.js';
import { median } from './support/stats.js';

// ------------------------------------------------------------------------------------------------ Kafka's own quota (KIP-599)
/** As issue 11 measured it: the storm's one client id (sharedAdminClientId) at 100 partitions/s (<default> client id). */
const KAFKA_QUOTA = { clientId: 'default' as const, controllerMutationRate: 100 };

// ------------------------------------------------------------------------------------------------
const PHASES = ['baseline', 'baseline-sidecar', 'direct', 'sidecar', 'guarded', 'guarded-applied', 'kafka-quota'] as const;
type Phase = (typeof PHASES)[number];
const PRODUCER_TOPIC = 'well-behaved';
const GROUP_TOPIC = 'group-storm-source';
const STORM_TOPICS = 'storm-t';
const QUIET_TOPICS = 'quiet-t';
const STORM_GROUPS = 'storm-g';
/** A broker whose leftovers have not changed for this long after the cleanup is replaced rather than waited for. */
const STUCK_MS = 90_000;
const log = (line: string) => console.error(line);

interface PhaseResult {
  phase: Phase;
  skipped?: string;
  storm?: StormResult;
  tenants?: StormResult;
  health?: HealthSummary;
  /** Seconds the JVMs ran (warm-up, storm, watch, calls awaited at the end). */
  runSeconds?: number;
  /** Seconds until the broker had settled after it (cleanup included), or null when it was replaced. */
  settleSeconds?: number | null;
  /** CPU seconds used during the run by the broker, the sidecar and the two JVMs (2 cores: 2 CPU seconds a second). */
  cpuSeconds?: Record<'broker' | 'sidecar' | 'storm' | 'tenants', number | null>;
  /** The sidecar's event-loop delay: the longest in each LAG_SAMPLE_MS, their median and maximum over the run. */
  sidecarLoopLagMs?: { median: number; max: number } | null;
}

/**
 * How often the sidecar's /metrics is read for its event-loop delay (prom-client's, sampled every 10 ms, its maximum
 * reset at each read): a request that arrives during a delay waits it out, so the producer's latency through the
 * sidecar includes these. Seldom enough not to be the sidecar's load (a read costs it about 3 ms).
 */
const LAG_SAMPLE_MS = 5000;

/** Reads the sidecar's longest event-loop delay every LAG_SAMPLE_MS until stopped. */
function watchLoopLag(sidecar: ProxyProcess): { stop(): { median: number; max: number } | null } {
  const maxima: number[] = [];
  const timer = setInterval(() => {
    sidecar.metric('kqp_nodejs_eventloop_lag_max_seconds').then((max) => maxima.push(max * 1000), () => undefined);
  }, LAG_SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      if (maxima.length === 0) return null;
      return { median: round(median(maxima), 1), max: round(Math.max(...maxima), 1) };
    },
  };
}

/** --pin: the broker's side (broker, sidecar, the tenants' JVM) on one CPU, the storm's JVM on the other. */
const BROKER_CPU = 0;
const STORM_CPU = 1;

class Bench {
  cluster!: KafkaCluster;
  restarts = 0;

  constructor(readonly pin: boolean, readonly stormNice: number) {}

  /** With --pin, puts a process on a CPU. */
  place(pid: number, cpu: number): void {
    if (this.pin) pinProcess(pid, cpu);
  }

  async startCluster(): Promise<void> {
    this.cluster = await KafkaCluster.start({ nodes: 1, log });
    this.place(this.pid!, BROKER_CPU);
    const admin = testKafka(this.cluster.bootstrap).admin();
    await admin.connect();
    try {
      await createTopicsAndWait(admin, [PRODUCER_TOPIC, GROUP_TOPIC].map((topic) => ({ topic, numPartitions: 1 })));
      // the first FindCoordinator creates __consumer_offsets: here, not in the first phase's first join
      await admin.describeGroups(['admin-storm-warm-up']);
    } finally {
      await admin.disconnect();
    }
  }

  get node(): NodeInfo {
    return this.cluster.info.nodes[0]!;
  }

  get pid(): number | undefined {
    return this.cluster.pids()[0];
  }

  async replaceCluster(why: string): Promise<void> {
    log(`replacing the cluster: ${why}; ${brokerLogDigest(this.node)}`);
    this.restarts++;
    await this.cluster.stop({ graceMs: 5000 });
    await this.startCluster();
  }

  /**
   * Deletes what the phase left (topics, groups), then waits until the broker holds none of it: the seconds it took,
   * or null and why not.
   */
  async settle(maxSeconds: number): Promise<{ seconds: number | null; why?: string }> {
    const started = Date.now();
    const deadline = started + maxSeconds * 1000;
    const admin = testKafka(this.cluster.bootstrap, { retry: { retries: 3 } }).admin();
    try {
      await admin.connect();
      for (let attempt = 0; Date.now() < deadline; attempt++) {
        const left = (await admin.listTopics()).filter((t) => t.startsWith(`${STORM_TOPICS}-`) || t.startsWith(`${QUIET_TOPICS}-`));
        if (left.length === 0) break;
        log(`settle: deleting ${left.length} topics left by the phase`);
        for (let i = 0; i < left.length; i += 100) {
          await admin.deleteTopics({ topics: left.slice(i, i + 100), timeout: 60_000 }).catch((err: Error) => log(`settle: deleteTopics: ${err.message}`));
        }
        await sleep(Math.min(10_000, 1000 * (attempt + 1)));
      }
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${STORM_GROUPS}-`));
      for (let i = 0; i < groups.length; i += 500) {
        await admin.deleteGroups(groups.slice(i, i + 500)).catch((err: Error) => log(`settle: deleteGroups: ${err.message}`));
      }
      if (groups.length) log(`settle: deleted ${groups.length} consumer groups left by the storm`);
    } catch (err) {
      log(`settle: ${(err as Error).message}`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    // waits until no partition directory of the phase's topics is left and no deletion is pending; a broker that has
    // made no progress for STUCK_MS (say, logs of deleted topics it failed to delete at its open-file limit) will not
    let last = '';
    let lastChange = Date.now();
    while (Date.now() < deadline) {
      const pid = this.pid;
      if (pid === undefined) return { seconds: null, why: 'the broker died while settling' };
      const h = await brokerHealthNow(this.node, pid);
      const stormDirs = countStormDirs(this.node);
      const now = `${stormDirs} partition directories of the phase's topics, ${h.pendingDeletions} awaiting deletion`;
      if (now !== last) lastChange = Date.now();
      last = now;
      if (stormDirs === 0 && h.pendingDeletions === 0) {
        const seconds = Math.round((Date.now() - started) / 1000);
        log(`settled in ${seconds} s: ${last}, ${h.openFiles} open files`);
        return { seconds };
      }
      if (Date.now() - lastChange > STUCK_MS) return { seconds: null, why: `not settling: ${last} for ${STUCK_MS / 1000} s` };
      await sleep(2000);
    }
    return { seconds: null, why: `not settled after ${maxSeconds} s: ${last}` };
  }
}

/** What the broker's log says went wrong: its ERROR and FATAL lines, counted by message, and its last lines. */
function brokerLogDigest(node: NodeInfo): string {
  let text: string;
  try {
    text = readFileSync(node.logFile, 'utf8');
  } catch {
    return `(no broker log at ${node.logFile})`;
  }
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\[[^\]]+\] (ERROR|FATAL) (.{0,100})/.exec(line);
    if (!m) continue;
    const key = `${m[1]} ${m[2]!.replace(/[\w.-]*\d[\w.-]*/g, '…')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const errors = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, n]) => `  ${n} × ${k}`).join('\n');
  return `the broker log's errors:\n${errors || '  (none)'}\nits last lines:\n${text.trim().split('\n').slice(-15).join('\n')}`;
}

/** Live partition directories of storm and quiet topics. */
function countStormDirs(node: NodeInfo): number {
  let n = 0;
  try {
    for (const name of readdirSync(node.dataDir)) {
      if ((name.startsWith(`${STORM_TOPICS}-`) || name.startsWith(`${QUIET_TOPICS}-`)) && /-\d+$/.test(name)) n++;
    }
  } catch {
    // no data dir: nothing left
  }
  return n;
}

/**
 * Checks the guard's config against the proxy's own validation before starting it; the reason it is refused, if it is.
 * Imported when needed, so that the other phases run whatever state the config code is in.
 */
async function refusal(config: Record<string, unknown>): Promise<string | undefined> {
  let mod: typeof import('../src/config/load-config.js');
  try {
    mod = await import('../src/config/load-config.js');
  } catch (err) {
    log(`cannot load the proxy's config validation (${(err as Error).message}); the sidecar will tell`);
    return undefined;
  }
  try {
    mod.configFromObject({ listen: '127.0.0.1:1', upstream: '127.0.0.1:2', ...config });
    return undefined;
  } catch (err) {
    if (err instanceof mod.ConfigError) return err.message.replace(/\n\s*/g, ' ');
    throw err;
  }
}

const lastLines = (file: string, n: number) => {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
};

async function runPhase(b: Bench, phase: Phase, o: { stormSec: number; watchSec: number; awaitSec: number; settleSec: number }): Promise<PhaseResult> {
  const stormed = !phase.startsWith('baseline');
  const throughSidecar = phase === 'sidecar' || phase.startsWith('guarded') || phase === 'baseline-sidecar';
  const config = phase === 'guarded' ? GUARD : phase === 'guarded-applied' ? GUARD_APPLIED : {};
  if (phase.startsWith('guarded')) {
    const why = await refusal(config);
    if (why) {
      log(`*** phase ${phase} skipped: the proxy refuses the guard's config (partitionMutationsPerSec, brokerBudget's ` +
        `partition mutations, admin: not in its config schema yet?): ${why}`);
      return { phase, skipped: `config refused: ${why}` };
    }
  }
  let sidecar: ProxyProcess | undefined;
  if (throughSidecar) {
    try {
      [sidecar] = await startSidecarProcesses(b.cluster.info.nodes, config, 'port', { compiled: true });
    } catch (err) {
      const msg = (err as Error).message;
      const file = /its log: (\S+)/.exec(msg)?.[1];
      const why = `${msg}${file ? `\n${lastLines(file, 10)}` : ''}`;
      log(`*** phase ${phase} skipped: the sidecar did not start: ${why}`);
      return { phase, skipped: `sidecar did not start: ${why.split('\n').slice(-3).join(' ')}` };
    }
  }
  if (sidecar) b.place(sidecar.pid, BROKER_CPU);
  const direct = `${b.node.host}:${b.node.port}`;
  const bootstrap = sidecar?.bootstrap ?? direct;
  if (phase === 'kafka-quota') {
    await setClientQuota(b.cluster.info, { clientId: KAFKA_QUOTA.clientId }, { controller_mutation_rate: KAFKA_QUOTA.controllerMutationRate });
  }
  const pid = b.pid!;
  const health = watchBrokerHealth(b.node, pid);
  const brokerCpuStart = cpu(pid);
  const nonce = `${phase.replace(/-/g, '')}${Date.now().toString(36)}`;
  log(`--- phase ${phase}: ${stormed ? `storm ${o.stormSec} s, then ${o.watchSec} s watching` : `${o.stormSec} s`}, ` +
    `through ${sidecar ? `a sidecar (${sidecar.bootstrap}, log ${sidecar.logFile})` : `the broker (${direct})`}; broker pid ${pid}`);
  const prefix = (who: string) => (line: string) => log(`${phase} ${who}: ${line.replace('[AdminStorm] ', '')}`);
  const beginAt = Date.now() + WARM_UP_MS;
  const tenants = runAdminStorm({
    classpath: b.cluster.info.classpath,
    durationSec: o.stormSec,
    watchSec: stormed ? o.watchSec : 0,
    awaitSec: o.awaitSec,
    nonce,
    beginAt,
    quiet: { bootstrap, topicPrefix: QUIET_TOPICS, intervalMs: QUIET_INTERVAL_MS },
    producer: { bootstrap, topic: PRODUCER_TOPIC, rate: PRODUCER.rate, recordSize: PRODUCER.recordSize },
    heapMb: 256,
    onSpawn: (p) => b.place(p, BROKER_CPU),
    log: prefix('tenants'),
  });
  const storm = stormed
    ? runAdminStorm({
      classpath: b.cluster.info.classpath,
      durationSec: o.stormSec,
      awaitSec: o.awaitSec,
      nonce,
      beginAt,
      admin: { bootstrap, workers: STORM.adminWorkers, partitions: STORM.partitions, sharedClientId: STORM.sharedAdminClientId, topicPrefix: STORM_TOPICS },
      groups: { bootstrap, workers: STORM.groupWorkers, topic: GROUP_TOPIC, groupPrefix: STORM_GROUPS },
      heapMb: 512,
      nice: b.stormNice,
      onSpawn: (p) => b.place(p, STORM_CPU),
      log: prefix('storm'),
    })
    : undefined;
  const lag = sidecar ? watchLoopLag(sidecar) : undefined;
  const [t, s] = await Promise.all([tenants, storm]);
  const sidecarLoopLagMs = lag?.stop();
  const runSeconds = health.latest()?.seconds ?? 0;
  const sidecarCpu = sidecar ? cpu(sidecar.pid) : null;
  const brokerCpu = cpu(pid);
  await sidecar?.stop();
  for (const [who, r] of [['tenants', t], ['storm', s]] as const) {
    if (r && r.exitCode !== 0) log(`${phase}: the ${who} JVM exited with ${r.exitCode}; its stderr:\n${r.stderrTail}`);
  }
  // the health watch goes on while the phase's leftovers are cleaned up: a broker can die then too
  let settled: { seconds: number | null; why?: string } = { seconds: null, why: `the broker died in phase ${phase}` };
  if (b.pid !== undefined) {
    if (phase === 'kafka-quota') {
      await setClientQuota(b.cluster.info, { clientId: KAFKA_QUOTA.clientId }, { controller_mutation_rate: null });
    }
    settled = await b.settle(o.settleSec);
  }
  const h = await health.stop();
  const result: PhaseResult = {
    phase, tenants: t, ...(s ? { storm: s } : {}), health: h, runSeconds, settleSeconds: settled.seconds, sidecarLoopLagMs,
    cpuSeconds: {
      broker: brokerCpu === null || brokerCpuStart === null ? null : round(brokerCpu - brokerCpuStart, 1),
      sidecar: sidecarCpu === null ? null : round(sidecarCpu, 1),
      storm: s?.jvm ? round(s.jvm.cpuSeconds, 1) : null,
      tenants: t.jvm ? round(t.jvm.cpuSeconds, 1) : null,
    },
  };
  if (h.died) log(`*** phase ${phase}: the broker died ${h.diedAtSeconds} s into the phase (${h.diedAtSeconds! <= runSeconds ? 'during the run' : 'after it, while settling'})`);
  if (settled.seconds === null) await b.replaceCluster(settled.why!);
  return result;
}

/** CPU seconds a process has used, or null when it is gone. */
function cpu(pid: number): number | null {
  try {
    return cpuSeconds(pid);
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------------------------------------ figures
const round = (x: number, digits = 3) => Number(x.toFixed(digits));
const ratio = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || b === 0 ? null : round(a / b));
const maxOf = (...xs: (number | null)[]) => (xs.every((x) => x === null) ? null : Math.max(...xs.map((x) => x ?? 0)));

function merge(...stats: (CallStats | undefined)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of stats) for (const [k, v] of Object.entries(s?.failures ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** What one phase showed, for stderr and for the figures. */
function summary(r: PhaseResult) {
  if (r.skipped) return { skipped: r.skipped };
  const p = r.tenants?.producer;
  const q = r.tenants?.quiet;
  const a = r.storm?.admin;
  const g = r.storm?.groups;
  const h = r.health!;
  return {
    produceP50Ms: p?.during.p50Ms,
    produceP99Ms: p?.during.p99Ms,
    produceMaxMs: p?.during.maxMs,
    produceAcked: p?.during.ok,
    produceFailed: p?.during.failed,
    produceAfterP99Ms: p?.after.p99Ms,
    produceAfterMaxMs: p?.after.maxMs,
    produceAfterFailed: p?.after.failed,
    produceLagged: p?.lagged,
    produceStartedAtMs: p?.startedAtMs,
    quietCreateP99Ms: q?.create.p99Ms,
    quietCreateMaxMs: q?.create.maxMs,
    quietEndToEndP99Ms: q?.endToEnd.p99Ms,
    quietEndToEndMaxMs: q ? maxOf(q.endToEnd.maxMs, q.endToEndAfter.maxMs) : undefined,
    quietFailed: q ? q.create.failed + q.endToEnd.failed + q.createAfter.failed + q.endToEndAfter.failed : undefined,
    quietFailures: q ? merge(q.create, q.endToEnd, q.createAfter, q.endToEndAfter) : undefined,
    ...(a && g
      ? {
        createTopicsCalls: a.create.calls,
        createTopicsP50Ms: a.create.p50Ms,
        createTopicsP99Ms: a.create.p99Ms,
        createTopicsMaxMs: a.create.maxMs,
        deleteTopicsCalls: a.delete.calls,
        deleteTopicsP99Ms: a.delete.p99Ms,
        joinGroupCalls: g.joins.calls,
        joinGroupP50Ms: g.joins.p50Ms,
        joinGroupP99Ms: g.joins.p99Ms,
        joinGroupMaxMs: g.joins.maxMs,
        stormCallsFailed: a.callsFailed + g.joins.failed,
        stormFailures: merge(a.create, a.delete, g.joins),
        stormCallsAtEnd: a.tail.calls + g.tail.calls,
        stormCallsAtEndFailed: a.tail.failed + g.tail.failed,
        stormCallsUnfinished: a.unfinished + g.unfinished,
        acceptedMutationsPerSecMax: a.acceptedMutationsPerSecMax,
        acceptedMutations: a.acceptedMutationsPerSec.reduce((x, y) => x + y, 0),
      }
      : {}),
    brokerMutationsPerSecMax: h.max.mutationsPerSec,
    brokerMutationsPerSec10sMax: h.max.mutationsPerSec10s,
    brokerLogsCreated: h.created,
    brokerLogsDeleted: h.deleted,
    openFilesMax: h.max.openFiles,
    pendingDeletionsMax: h.max.pendingDeletions,
    partitionDirsMax: h.max.partitionDirs,
    brokerRssMBMax: h.max.rssMB,
    brokerRssMBStart: h.samples[0]?.rssMB,
    brokerSurvived: !h.died,
    brokerDiedAtS: h.diedAtSeconds,
    runSeconds: r.runSeconds,
    settleSeconds: r.settleSeconds,
    cpuSeconds: r.cpuSeconds,
    sidecarLoopLagMs: r.sidecarLoopLagMs,
  };
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args: argv.filter((a) => a !== '--'),
    options: {
      storm: { type: 'string', default: '60' },
      watch: { type: 'string', default: '180' },
      settle: { type: 'string', default: '300' },
      await: { type: 'string', default: '120' },
      phases: { type: 'string', default: PHASES.join(',') },
      pin: { type: 'boolean', default: false },
      'storm-nice': { type: 'string', default: '19' },
    },
  });
  const o = { stormSec: Number(values.storm), watchSec: Number(values.watch), awaitSec: Number(values.await) };
  const settleSec = Number(values.settle);
  const phases = values.phases!.split(',').map((p) => p.trim()) as Phase[];
  const unknown = phases.filter((p) => !PHASES.includes(p));
  if (unknown.length) throw new Error(`unknown phases ${unknown.join(', ')}; phases: ${PHASES.join(', ')}`);
  buildProxy();

  const stormNice = Number(values['storm-nice']);
  if (!Number.isInteger(stormNice) || stormNice < 0 || stormNice > 19) throw new Error(`--storm-nice ${values['storm-nice']}: give 0 to 19`);
  const b = new Bench(values.pin!, stormNice);
  await b.startCluster();
  try {
    await compileAdminStorm(b.cluster.info.classpath);
    const results: Partial<Record<Phase, PhaseResult>> = {};
    for (const phase of PHASES.filter((p) => phases.includes(p))) {
      const r = await runPhase(b, phase, { ...o, settleSec });
      results[phase] = r;
      log(`phase ${phase}: ${JSON.stringify(summary(r))}`);
    }

    const s = Object.fromEntries(Object.entries(results).map(([k, r]) => [k, summary(r)])) as Partial<Record<Phase, ReturnType<typeof summary>>>;
    const p99 = (phase: Phase) => (s[phase] as { produceP99Ms?: number } | undefined)?.produceP99Ms;
    const quietP99 = (phase: Phase) => (s[phase] as { quietCreateP99Ms?: number } | undefined)?.quietCreateP99Ms;
    const stormed = PHASES.filter((p) => !p.startsWith('baseline') && results[p] !== undefined);
    const perPhase = (key: string) =>
      Object.fromEntries(stormed.map((p) => [p, (s[p] as Record<string, unknown> | undefined)?.[key] ?? null]));
    return {
      directProduceP99Ratio: ratio(p99('direct'), p99('baseline')),
      sidecarProduceP99Ratio: ratio(p99('sidecar'), p99('baseline-sidecar')),
      guardedProduceP99Ratio: ratio(p99('guarded'), p99('baseline-sidecar')),
      kafkaQuotaProduceP99Ratio: ratio(p99('kafka-quota'), p99('baseline')),
      guardedQuietAdminP99Ratio: ratio(quietP99('guarded'), quietP99('baseline-sidecar')),
      guardedAppliedProduceP99Ratio: ratio(p99('guarded-applied'), p99('baseline-sidecar')),
      guardedAppliedQuietAdminP99Ratio: ratio(quietP99('guarded-applied'), quietP99('baseline-sidecar')),
      directQuietAdminP99Ratio: ratio(quietP99('direct'), quietP99('baseline')),
      sidecarQuietAdminP99Ratio: ratio(quietP99('sidecar'), quietP99('baseline-sidecar')),
      kafkaQuotaQuietAdminP99Ratio: ratio(quietP99('kafka-quota'), quietP99('baseline')),
      baselineProduceP99Ms: p99('baseline') ?? null,
      baselineSidecarProduceP99Ms: p99('baseline-sidecar') ?? null,
      baselineQuietCreateP99Ms: quietP99('baseline') ?? null,
      baselineSidecarQuietCreateP99Ms: quietP99('baseline-sidecar') ?? null,
      // a baseline whose quiet tenant failed makes its ratios meaningless
      baselineQuietFailed: Object.fromEntries(PHASES.filter((p) => p.startsWith('baseline') && s[p]).map((p) => [p, (s[p] as { quietFailed?: number }).quietFailed ?? null])),
      produceP99Ms: perPhase('produceP99Ms'),
      produceAfterP99Ms: perPhase('produceAfterP99Ms'),
      quietCreateP99Ms: perPhase('quietCreateP99Ms'),
      quietFailed: perPhase('quietFailed'),
      quietEndToEndMaxMs: perPhase('quietEndToEndMaxMs'),
      createTopicsP99Ms: perPhase('createTopicsP99Ms'),
      joinGroupP99Ms: perPhase('joinGroupP99Ms'),
      stormCallsFailed: perPhase('stormCallsFailed'),
      stormFailures: perPhase('stormFailures'),
      acceptedMutationsPerSecMax: perPhase('acceptedMutationsPerSecMax'),
      brokerMutationsPerSecMax: perPhase('brokerMutationsPerSecMax'),
      brokerMutationsPerSec10sMax: perPhase('brokerMutationsPerSec10sMax'),
      openFilesMax: perPhase('openFilesMax'),
      pendingDeletionsMax: perPhase('pendingDeletionsMax'),
      brokerRssMBMax: perPhase('brokerRssMBMax'),
      brokerSurvived: perPhase('brokerSurvived'),
      cpuSeconds: perPhase('cpuSeconds'),
      skipped: Object.fromEntries(Object.entries(results).filter(([, r]) => r.skipped).map(([k, r]) => [k, r.skipped])),
      stormSec: o.stormSec,
      watchSec: o.watchSec,
      clusterRestarts: b.restarts,
    };
  } finally {
    await b.cluster.stop({ graceMs: 5000 });
  }
}
