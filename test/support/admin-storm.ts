// Issue 11's admin storm (admin-storm/AdminStorm.java): AdminClients creating and deleting many-partition topics,
// consumers churning new groups, a quiet tenant creating one topic a second and a producer at a fixed rate, each role
// optional and with its own bootstrap servers. The program is compiled once per version of its source into the cache
// (next to the Kafka jars) and run as a child JVM; its JSON lines are parsed into a StormResult.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { spawnJava } from '../../src/local-kafka/java-tool.js';
import { cacheRoot, KAFKA_VERSION } from '../../src/local-kafka/kafka-jars.js';
import { killWithOwner } from '../../src/local-kafka/owner-watchdog.js';

const execFileAsync = promisify(execFile);
const SOURCE = fileURLToPath(new URL('./admin-storm/AdminStorm.java', import.meta.url));

// ------------------------------------------------------------------------------------------------ issue 11's storm
export const STORM = {
  adminWorkers: 32,
  partitions: 200,
  /** false: each AdminClient its own client id (storm-admin-N); true: all of them storm-admin. */
  sharedAdminClientId: true,
  groupWorkers: 16,
};
export const PRODUCER = { rate: 1000, recordSize: 1024 };
export const QUIET_INTERVAL_MS = 1000;
/** Both JVMs start, connect and warm up (the producer sends, not counted) for this long before the storm. */
export const WARM_UP_MS = 8000;

/**
 * The guard (the bench's guarded phase and test/proxy/admin-storm.serial.test.ts): tenants by client-id prefix
 * (storm-admin, storm-group-N → storm; kjs-admin-N → kjs; quiet-admin → quiet; well-behaved → well), each with its own
 * buckets. A storming tenant's partition-mutation rate is what its 32 AdminClients need for every call to finish within
 * the AdminClient's 60 s (each waits its turn behind the others: 32 × 200 partitions ÷ 150/s = 43 s); the broker budget
 * is a backstop above one tenant's rate, so that the quiet tenant does not wait behind one storming tenant.
 */
export const GUARD = {
  tenants: { clientIdPattern: '^(?<tenant>[a-z]+)-' },
  quotas: [{ clientId: '<default>', partitionMutationsPerSec: 150, partitionMutationBurst: 200, groupJoinsPerSec: 10, groupJoinBurst: 10 }],
  brokerBudget: { partitionMutationsPerSec: 300, partitionMutationBurst: 400, groupJoinsPerSec: 20, groupJoinBurst: 20 },
  admin: { maxInFlight: 5, maxWaitMs: 20000 },
};

/** The guard, each topic change keeping its gate place until the broker has applied it (the bench's guarded-applied phase). */
export const GUARD_APPLIED = { ...GUARD, admin: { ...GUARD.admin, holdUntilAppliedMs: 30000 } };

/** The clients' own logs: errors only, to stderr (stdout carries the results). */
const LOG4J2 = `status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ERROR
rootLogger.appenderRef.stderr.ref = STDERR
`;

/** Calls of one kind: outcomes, failures by the exception class the client saw, latency of every completed call. */
export interface CallStats {
  calls: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  /** Null when there was no call. */
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface AdminRoleResult {
  workers: number;
  partitions: number;
  create: CallStats;
  delete: CallStats;
  /** Calls that ended after the storm's end: those running at the end, and the deletes of topics they created. */
  tail: CallStats;
  /** Calls still running when the program stopped waiting for them (it waits --await s; the client's timeout is 60 s). */
  unfinished: number;
  callsFailed: number;
  /** Partitions created or deleted by successful calls, per second of the run, by completion: what the controller accepted. */
  acceptedMutationsPerSec: number[];
  acceptedMutationsPerSecMax: number;
}

export interface GroupRoleResult {
  workers: number;
  /** Subscribe to assignment (FindCoordinator, JoinGroup, SyncGroup) of consumers with a new group id each. */
  joins: CallStats;
  tail: CallStats;
  unfinished: number;
}

export interface QuietRoleResult {
  /** CreateTopics of one 1-partition topic, started during the storm. */
  create: CallStats;
  /** From the start of CreateTopics to the acknowledgement (acks=all) of one record produced to the new topic. */
  endToEnd: CallStats;
  /** The same, started after the storm (while watching). */
  createAfter: CallStats;
  endToEndAfter: CallStats;
  unfinished: number;
}

export interface ProducerRoleResult {
  rate: number;
  recordSize: number;
  /** Of records sent before beginAt (the JVM's warm-up). */
  warmup: CallStats;
  /** send() to acknowledgement of records sent during the storm (the whole run without a storm). */
  during: CallStats;
  /** Of records sent after it (while watching). */
  after: CallStats;
  /** Times the producer fell more than a second behind its schedule (a send blocked) and started again from then. */
  lagged: number;
  /** When its first record was sent, ms after the program's start (after connecting and reading the topic's metadata). */
  startedAtMs: number;
}

export interface StormResult {
  admin?: AdminRoleResult;
  groups?: GroupRoleResult;
  quiet?: QuietRoleResult;
  producer?: ProducerRoleResult;
  /** The JVM's own CPU time and time in garbage collections, over its whole run. */
  jvm?: { cpuSeconds: number; gcSeconds: number };
  exitCode: number | null;
  wallSeconds: number;
  /** The last lines the JVM wrote to stderr (the clients' errors), for reports. */
  stderrTail: string;
}

export interface StormOptions {
  /** The Kafka jars (ClusterInfo.classpath). */
  classpath: string;
  /** Seconds the storm roles (admin, groups) start calls for. */
  durationSec: number;
  /** Seconds the quiet tenant and the producer go on after the storm (default 0). */
  watchSec?: number;
  /** Seconds calls still running at the end are awaited (default 120; the clients' own timeouts end them within 60). */
  awaitSec?: number;
  /** Distinguishes this run's topics and groups from another's (default: random). */
  nonce?: string;
  /**
   * When the storm starts (Date.now() time): the roles connect, then wait for it; the producer sends from the start
   * (records before it are its warm-up). Two runs given the same time start their storms together. Default: at once.
   */
  beginAt?: number;
  admin?: {
    bootstrap: string;
    workers?: number;
    partitions?: number;
    /** client.id prefix (default storm-admin): PREFIX-N per worker, or PREFIX for all with sharedClientId. */
    clientId?: string;
    sharedClientId?: boolean;
    /** Topic names: PREFIX-NONCE-WORKER-SEQ (default storm-t). */
    topicPrefix?: string;
  };
  groups?: {
    bootstrap: string;
    workers?: number;
    /** An existing topic every new group subscribes to. */
    topic: string;
    /** client.id prefix (default storm-group): PREFIX-N per worker. */
    clientId?: string;
    /** Group ids: PREFIX-NONCE-WORKER-SEQ (default storm-g). */
    groupPrefix?: string;
    protocol?: 'classic' | 'consumer';
    joinTimeoutMs?: number;
  };
  quiet?: {
    bootstrap: string;
    /** The admin client's client.id (default quiet-admin; its producer's is this + '-producer'). */
    clientId?: string;
    /** Topic names: PREFIX-NONCE-SEQ (default quiet-t). */
    topicPrefix?: string;
    intervalMs?: number;
  };
  producer?: {
    bootstrap: string;
    topic: string;
    /** Records/s (default 1,000). */
    rate?: number;
    /** Bytes per record (default 1,024). */
    recordSize?: number;
    clientId?: string;
  };
  heapMb?: number;
  /** The JVM's niceness (see JavaRunOptions.nice). */
  nice?: number;
  /** Progress lines ([AdminStorm] ..., every 10 s). */
  log?: (line: string) => void;
  onSpawn?: (pid: number) => void;
}

/** Compiles AdminStorm.java into the cache, once per version of the source; returns the directory of its classes. */
export async function compileAdminStorm(classpath: string): Promise<string> {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).update(KAFKA_VERSION).digest('hex').slice(0, 16);
  const dir = join(cacheRoot(), 'admin-storm', hash);
  if (existsSync(join(dir, 'AdminStorm.class'))) return dir;
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  try {
    await execFileAsync('javac', ['-nowarn', '-cp', classpath, '-d', partial, SOURCE], { maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`javac AdminStorm.java failed: ${e.stderr || e.stdout || e.message}`);
  }
  writeFileSync(join(partial, 'log4j2.properties'), LOG4J2);
  try {
    renameSync(partial, dir);
  } catch {
    rmSync(partial, { recursive: true, force: true }); // another process compiled it meanwhile
  }
  return dir;
}

/** The program's arguments for these options. */
export function adminStormArgs(o: StormOptions): string[] {
  const args: Record<string, string | number | undefined> = {
    duration: o.durationSec,
    watch: o.watchSec ?? 0,
    await: o.awaitSec,
    nonce: o.nonce,
    'begin-at': o.beginAt,
    'admin-bootstrap': o.admin?.bootstrap,
    'admin-workers': o.admin?.workers,
    partitions: o.admin?.partitions,
    'admin-client-id': o.admin?.clientId,
    'admin-client-ids': o.admin?.sharedClientId ? 'shared' : undefined,
    'topic-prefix': o.admin?.topicPrefix,
    'group-bootstrap': o.groups?.bootstrap,
    'group-workers': o.groups?.workers,
    'group-topic': o.groups?.topic,
    'group-client-id': o.groups?.clientId,
    'group-prefix': o.groups?.groupPrefix,
    'group-protocol': o.groups?.protocol,
    'join-timeout-ms': o.groups?.joinTimeoutMs,
    'quiet-bootstrap': o.quiet?.bootstrap,
    'quiet-client-id': o.quiet?.clientId,
    'quiet-topic-prefix': o.quiet?.topicPrefix,
    'quiet-interval-ms': o.quiet?.intervalMs,
    'producer-bootstrap': o.producer?.bootstrap,
    'producer-topic': o.producer?.topic,
    'producer-rate': o.producer?.rate,
    'producer-record-size': o.producer?.recordSize,
    'producer-client-id': o.producer?.clientId,
  };
  return Object.entries(args).flatMap(([k, v]) => (v === undefined ? [] : [`--${k}`, String(v)]));
}

/** Runs the storm to its end (the storm, the watch, then the wait for calls still running) and parses its results. */
export async function runAdminStorm(o: StormOptions): Promise<StormResult> {
  const classes = await compileAdminStorm(o.classpath);
  const started = Date.now();
  const child = spawnJava('AdminStorm', adminStormArgs(o), {
    classpath: `${classes}:${o.classpath}`,
    heapMb: o.heapMb ?? 512,
    ...(o.nice === undefined ? {} : { nice: o.nice }),
    jvmArgs: [`-Dlog4j2.configurationFile=${join(classes, 'log4j2.properties')}`],
  });
  killWithOwner(child.pid!);
  o.onSpawn?.(child.pid!);
  const result: StormResult = { exitCode: null, wallSeconds: 0, stderrTail: '' };
  let stderrTail: string[] = [];
  const lines = (stream: NodeJS.ReadableStream, onLine: (line: string) => void) => {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    stream.on('end', () => pending && onLine(pending));
  };
  lines(child.stdout!, (line) => {
    if (!line.startsWith('{"role":')) return;
    const { role, ...rest } = JSON.parse(line) as { role: 'admin' | 'groups' | 'quiet' | 'producer' | 'jvm' };
    (result as unknown as Record<string, unknown>)[role] = rest;
  });
  lines(child.stderr!, (line) => {
    if (line.startsWith('[AdminStorm]')) o.log?.(line);
    else if (line.trim()) stderrTail = [...stderrTail.slice(-39), line.slice(0, 500)];
  });
  // the program ends by itself after duration + watch + await (+ 30 s for stragglers); a JVM past that is hung
  const limitMs = Math.max(0, (o.beginAt ?? 0) - Date.now()) + (o.durationSec + (o.watchSec ?? 0) + (o.awaitSec ?? 120) + 120) * 1000;
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  result.exitCode = code ?? (signal ? 128 : null);
  result.wallSeconds = Math.round((Date.now() - started) / 100) / 10;
  result.stderrTail = stderrTail.join('\n');
  return result;
}
