// The compatibility suite (issue 13): given a running cluster and one sidecar process per broker (rewriting broker
// addresses, with a produce and a fetch quota), each client family produces a known set of records through the
// sidecars and consumes it back (counts and contents equal, none lost, duplicated or extra), transactions where the
// client has them (an aborted transaction, then a committed one, read with read_committed), and each client's
// connections, as the OS lists them while it runs, go to sidecars only. The quota check pushes and pulls as hard as
// each client can and measures at the broker (its log files for produce, its own BytesOutPerSec over JMX for fetch).
// Every check returns a result rather than asserting, so that the tests and `npm run compat` share it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { killWithOwner } from '../../src/local-kafka/owner-watchdog.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';
import type { ClusterInfo } from '../../src/local-kafka/kafka-cluster.js';
import { testKafka } from './kafkajs.js';
import { watchRemotePorts } from './os-sockets.js';
import { PROXY_LOG_DIR, startSidecarProcesses, type ProxyProcess } from './proxy-process.js';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { runKcat } from './kcat.js';
import { runProcess, type ProcessResult } from './run-process.js';
import { sampler, slope, topicLogBytes, type Sample } from './broker-bytes.js';
import { jmxCounters } from './broker-metrics.js';
import { pull, push, type Load } from './load.js';
import { savedAt } from './windows.js';

export const CLIENTS = ['kcat', 'java', 'kafkajs', 'confluent-kafka-python', 'kafka-python'] as const;
export type ClientName = (typeof CLIENTS)[number];

/** Clients with transactions (kcat has none; kafka-python 2.0 has none). */
export const TRANSACTIONAL: readonly ClientName[] = ['java', 'kafkajs', 'confluent-kafka-python'];

/** Debian's python, which the python3-confluent-kafka and python3-kafka packages install for. */
const PYTHON = '/usr/bin/python3';

export interface CheckResult {
  client: ClientName;
  /** What was checked: 'round trip', 'consumer protocol', 'transactions', 'produce quota', 'fetch quota'. */
  check: string;
  ok: boolean;
  detail: string;
  /** Remote ports the client's process was seen connected to (round trips and transactions). */
  ports?: number[];
}

export interface CompatTarget {
  cluster: ClusterInfo;
  /** One per broker, in node order. */
  sidecars: ProxyProcess[];
  bootstrap: string;
}

/** Per-tenant quotas the sidecars enforce: every client id's own produce and fetch quota, and a lower one for the quota check. */
export const ROUND_TRIP_BYTES_PER_SEC = 8 * 1024 * 1024;
export const QUOTA_CHECK_BYTES_PER_SEC = 512 * 1024;
/**
 * kafka-python's producer (pure Python) sent 140-384 KB/s of 1 KB records on this machine with every client running
 * (bench/RESULTS.md, npm run compat of 2026-11-29), so a 512 KB/s quota never throttled it and the check could not
 * tell a held quota from a slow client: it gets a quota it reaches.
 */
const KAFKA_PYTHON_PRODUCE_BYTES_PER_SEC = 96 * 1024;
type Direction = 'produce' | 'fetch';
/** The quota the quota check gives a client's tenant of one direction. */
export const quotaCheckBytesPerSec = (client: ClientName, direction: Direction) =>
  client === 'kafka-python' && direction === 'produce' ? KAFKA_PYTHON_PRODUCE_BYTES_PER_SEC : QUOTA_CHECK_BYTES_PER_SEC;
const quotaClientId = (kind: Direction, client: ClientName) => `quota-${kind}-${client}`;

/** Starts one sidecar process per broker with the suite's quotas. */
export async function startCompatSidecars(cluster: ClusterInfo): Promise<CompatTarget> {
  const sidecars = await startSidecarProcesses(cluster.nodes, {
    quotas: [
      { clientId: '<default>', produceBytesPerSec: ROUND_TRIP_BYTES_PER_SEC, fetchBytesPerSec: ROUND_TRIP_BYTES_PER_SEC },
      ...CLIENTS.flatMap((c) => [
        { clientId: quotaClientId('produce', c), produceBytesPerSec: quotaCheckBytesPerSec(c, 'produce') },
        { clientId: quotaClientId('fetch', c), fetchBytesPerSec: quotaCheckBytesPerSec(c, 'fetch') },
      ]),
    ],
  });
  return { cluster, sidecars, bootstrap: sidecars.map((s) => s.bootstrap).join(',') };
}

interface Run extends ProcessResult {
  /** The remote ports the client's process was seen connected to while it ran. */
  ports: Set<number>;
}

async function run(command: string, args: readonly string[], input: string | undefined, timeoutMs = 150_000): Promise<Run> {
  let watch: { stop(): Set<number> } | undefined;
  const r = await runProcess(command, args, input ?? '', timeoutMs, (pid) => void (watch = watchRemotePorts(pid)));
  return { ...r, ports: watch?.stop() ?? new Set() };
}

/** How to run a client's driver (compat-client.java, compat-kafkajs.ts, compat-client.py); kcat has none. */
function driver(client: Exclude<ClientName, 'kcat'>, cluster: ClusterInfo): [string, string[]] {
  switch (client) {
    case 'java':
      return ['java', ['-Xmx256m', '-XX:TieredStopAtLevel=1', '-cp', cluster.classpath, 'test/support/compat-client.java']];
    case 'kafkajs':
      return [process.execPath, ['--import', 'tsx', 'test/support/compat-kafkajs.ts']];
    case 'confluent-kafka-python':
      return [PYTHON, ['test/support/compat-client.py', 'confluent']];
    case 'kafka-python':
      return [PYTHON, ['test/support/compat-client.py', 'kafka-python']];
  }
}

function produce(client: ClientName, target: CompatTarget, topic: string, values: readonly string[], how: 'plain' | 'tx-commit' | 'tx-abort'): Promise<Run> {
  const input = values.join('\n') + '\n';
  const clientId = `compat-${client}`;
  if (client === 'kcat') return run('kcat', ['-P', '-b', target.bootstrap, '-t', topic, '-X', 'acks=all', '-X', `client.id=${clientId}`], input);
  const [cmd, args] = driver(client, target.cluster);
  return run(cmd, [...args, 'produce', target.bootstrap, topic, clientId, how], input);
}

function consume(client: ClientName, target: CompatTarget, topic: string, count: number, protocol: 'classic' | 'consumer'): Promise<Run> {
  const group = `compat-${client}-${randomBytes(4).toString('hex')}`;
  const clientId = `compat-${client}`;
  if (client === 'kcat') {
    // a balanced consumer in a group, until the end of every partition
    return run('kcat', ['-b', target.bootstrap, '-G', group, '-o', 'beginning', '-e', '-q', '-f', '%s\\n', '-X', `client.id=${clientId}`, topic], undefined);
  }
  const [cmd, args] = driver(client, target.cluster);
  return run(cmd, [...args, 'consume', target.bootstrap, topic, group, clientId, String(count), ...(client === 'java' ? [protocol] : [])], undefined);
}

async function createTopic(cluster: ClusterInfo, prefix: string, partitions: number, onNode?: number): Promise<string> {
  const topic = `${prefix}-${randomBytes(4).toString('hex')}`;
  const admin = testKafka(cluster.bootstrap).admin();
  await admin.connect();
  try {
    await createTopicsAndWait(admin, [
      onNode === undefined
        ? { topic, numPartitions: partitions, replicationFactor: Math.min(3, cluster.nodes.length) }
        : { topic, replicaAssignment: [{ partition: 0, replicas: [onNode] }] },
    ]);
  } finally {
    await admin.disconnect();
  }
  return topic;
}

/** Ports of the brokers' own listeners, which no client may connect to. */
function brokerPorts(cluster: ClusterInfo): Set<number> {
  return new Set(cluster.nodes.flatMap((n) => [n.port, n.internalPort, n.controllerPort, ...(n.saslPort !== undefined ? [n.saslPort] : [])]));
}

/** What differs between what was produced and what was read: missing, duplicated and unexpected values. */
export function compareRecords(expected: readonly string[], got: readonly string[]): { ok: boolean; detail: string } {
  const want = new Set(expected);
  const counts = new Map<string, number>();
  for (const v of got) counts.set(v, (counts.get(v) ?? 0) + 1);
  const missing = expected.filter((v) => !counts.has(v));
  const duplicated = [...counts].filter(([, n]) => n > 1).map(([v]) => v);
  const extra = [...counts.keys()].filter((v) => !want.has(v));
  const ok = missing.length === 0 && duplicated.length === 0 && extra.length === 0 && got.length === expected.length;
  const sample = (xs: string[]) => (xs.length ? ` (${xs.slice(0, 3).join(', ')}${xs.length > 3 ? ', ...' : ''})` : '');
  return {
    ok,
    detail: `${got.length} of ${expected.length} read; missing ${missing.length}${sample(missing)}, duplicated ${duplicated.length}${sample(duplicated)}, unexpected ${extra.length}${sample(extra)}`,
  };
}

function failed(client: ClientName, check: string, what: string, r: Run): CheckResult {
  return { client, check, ok: false, detail: `${what} exited with ${r.code}: ${r.stderr.trim().split('\n').slice(-6).join(' | ')}`, ports: [...r.ports] };
}

/** Connections to anything but a sidecar (a broker's own port, say). */
function directPorts(target: CompatTarget, ports: Iterable<number>): number[] {
  const brokers = brokerPorts(target.cluster);
  return [...ports].filter((p) => brokers.has(p));
}

function withConnections(target: CompatTarget, result: CheckResult, ports: Iterable<number>): CheckResult {
  const seen = [...new Set(ports)];
  const direct = directPorts(target, seen);
  const sidecarPorts = new Set(target.sidecars.map((s) => s.port));
  const toSidecars = seen.filter((p) => sidecarPorts.has(p)).length;
  const ok = result.ok && direct.length === 0 && toSidecars > 0;
  return {
    ...result,
    ok,
    ports: seen,
    detail: `${result.detail}; connections to ${toSidecars} sidecar port(s), ${direct.length} to broker ports${direct.length ? ` (${direct.join(', ')})` : ''}`,
  };
}

const values = (client: string, check: string, n: number) => {
  const tag = randomBytes(3).toString('hex');
  return Array.from({ length: n }, (_, i) => `${client}-${check}-${tag}-${i}-${'v'.repeat(i % 50)}`);
};

/** Produces `records` records through the sidecars and reads them back in a new group (classic, or KIP-848's consumer protocol: Java only). */
export async function roundTrip(target: CompatTarget, client: ClientName, records: number, protocol: 'classic' | 'consumer' = 'classic'): Promise<CheckResult> {
  const check = protocol === 'classic' ? 'round trip' : 'consumer protocol';
  const topic = await createTopic(target.cluster, `compat-${client}`, 3);
  const sent = values(client, 'rt', records);
  const p = await produce(client, target, topic, sent, 'plain');
  if (p.code !== 0) return failed(client, check, 'produce', p);
  const c = await consume(client, target, topic, records, protocol);
  if (c.code !== 0) return failed(client, check, 'consume', c);
  const got = c.stdout.split('\n').slice(0, -1);
  return withConnections(target, { client, check, ...compareRecords(sent, got) }, [...p.ports, ...c.ports]);
}

/** An aborted transaction, then a committed one; a read_committed group reads exactly the committed records. */
export async function transactions(target: CompatTarget, client: ClientName, records: number): Promise<CheckResult> {
  const check = 'transactions';
  const topic = await createTopic(target.cluster, `compat-tx-${client}`, 3);
  const aborted = values(client, 'aborted', records);
  const committed = values(client, 'committed', records);
  const a = await produce(client, target, topic, aborted, 'tx-abort');
  if (a.code !== 0) return failed(client, check, 'aborted transaction', a);
  const b = await produce(client, target, topic, committed, 'tx-commit');
  if (b.code !== 0) return failed(client, check, 'committed transaction', b);
  const c = await consume(client, target, topic, records, 'classic');
  if (c.code !== 0) return failed(client, check, 'consume', c);
  const got = c.stdout.split('\n').slice(0, -1);
  return withConnections(target, { client, check, ...compareRecords(committed, got) }, [...a.ports, ...b.ports, ...c.ports]);
}

/** Starts a client pushing 1 KB records (16 KB batches) or reading as fast as it can, as `clientId`, until stopped. */
function startLoad(client: ClientName, target: CompatTarget, direction: Direction, topic: string): Load {
  const bootstrap = target.sidecars[0]!.bootstrap;
  const clientId = quotaClientId(direction, client);
  const classpath = target.cluster.classpath; // (kcat and kafkajs need none)
  const group = `${clientId}-${randomBytes(4).toString('hex')}`;
  if (client === 'kafkajs' || client === 'kcat') {
    return direction === 'produce'
      ? push(client, { classpath, bootstrap, topic, clientId, extra: { 'batch.size': '16384' } })
      : pull(client, { classpath, bootstrap, topic, clientId, group });
  }
  // the Java perf tools' options differ between versions: the driver uses the client API only
  const [cmd, prefix] = driver(client, target.cluster);
  const args = direction === 'produce' ? ['push', bootstrap, topic, clientId] : ['pull', bootstrap, topic, group, clientId];
  // its output kept with the proxies' logs: a driver that ends early says why there
  mkdirSync(PROXY_LOG_DIR, { recursive: true });
  const out = openSync(join(PROXY_LOG_DIR, `${client}-${direction}-${topic}.log`), 'w');
  const child = spawn(cmd, [...prefix, ...args], { stdio: ['ignore', out, out] });
  closeSync(out);
  killWithOwner(child.pid!);
  return {
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    },
  };
}

/** When a cumulative count first moved (s), or undefined. */
function firstMove(samples: readonly Sample[]): number | undefined {
  return samples.find((s) => s.value > samples[0]!.value)?.seconds;
}

/**
 * The rate of a cumulative count over the `seconds` from `settle` seconds after it first moved, or undefined when the
 * samples do not cover them.
 */
function rateAfterStart(samples: readonly Sample[], settle: number, seconds: number): { rate: number; from: number; to: number } | undefined {
  const first = firstMove(samples);
  if (first === undefined) return undefined;
  const from = first + settle;
  const to = from + seconds;
  if (samples[samples.length - 1]!.seconds < to) return undefined;
  return { rate: slope(samples, from, to), from, to };
}

export interface QuotaOptions {
  /** How long each client pushes and pulls once its first bytes reached (or left) the broker, s. */
  seconds: number;
  /** Allowed |rate ÷ quota − 1|. */
  tolerance: number;
}

/** The rate over which the check is made starts this long after the first bytes: the new bucket's tokens and the first requests are spent by then. */
const SETTLE_SECONDS = 2;
const SAMPLE_MS = 200;
const TENANT_SAMPLE_MS = 500;
/** How long a client may take to start moving bytes (a JVM compiling its driver, a consumer joining its group, on a busy machine). */
const START_TIMEOUT_SECONDS = 60;

interface TenantSamples {
  /** The throttle seconds the sidecar gave the tenant (its metric, the tenant being named in the config). */
  throttle: Sample[];
  /** The tokens in the tenant's bucket of its kind (GET /quota). */
  tokens: Sample[];
}

/** Samples, from one sidecar, a tenant's throttle seconds and bucket tokens until stop(). */
function tenantSampler(sidecar: ProxyProcess, clientId: string, kind: Direction): { stop(): Promise<TenantSamples> } {
  const throttle = sampler(() => sidecar.metric(`kqp_tenant_throttle_seconds_total{tenant="${clientId}"}`), TENANT_SAMPLE_MS);
  const tokens = sampler(async () => ((await sidecar.quota('ANONYMOUS', clientId))[kind] as { bucket: { tokens: number } }).bucket.tokens, TENANT_SAMPLE_MS);
  return { stop: async () => ({ throttle: await throttle.stop(), tokens: await tokens.stop() }) };
}

/** The largest value sampled within `margin` s of `at` (tokens move between samples). */
/**
 * Every client at once pushes to a topic of its own and pulls from another (prefilled directly), each as its own
 * tenant with a quotaCheckBytesPerSec produce or fetch quota, through the first broker's sidecar; the broker
 * measures what it received (log bytes) and sent (BytesOutPerSec). The rate may not exceed the quota by more than the
 * tolerance, and may fall short of it by no more than the tolerance of the share of the time the tenant was throttled
 * (the sidecar's own throttle-seconds counter, over the same seconds): the proxy gives a tenant in debt exactly its
 * quota, but a client starved of CPU on two shared cores may not ask for it all, and that time is its own (as in
 * test/quota/accuracy.serial.test.ts).
 */
export async function quotaChecks(target: CompatTarget, clients: readonly ClientName[], o: QuotaOptions): Promise<CheckResult[]> {
  const node = target.cluster.nodes[0]!;
  const direct = `${node.host}:${node.port}`;
  const produceTopics = await Promise.all(clients.map((c) => createTopic(target.cluster, `quota-p-${c}`, 1, node.id)));
  const fetchTopics = await Promise.all(clients.map((c) => createTopic(target.cluster, `quota-f-${c}`, 1, node.id)));
  // more than the quota lets through until the end of the measurement (and a burst), written straight to the broker;
  // one direct read creates each topic's BytesOutPerSec meter so that JmxTool finds it from the start
  for (const [i, topic] of fetchTopics.entries()) {
    const bytes = quotaCheckBytesPerSec(clients[i]!, 'fetch') * (SETTLE_SECONDS + o.seconds + 4);
    const fill = Array.from({ length: Math.ceil(bytes / 1024) }, (_, n) => `${n} ${'f'.repeat(1016)}`).join('\n') + '\n';
    // in 16 KB batches: a fetch returns its first batch whole whatever its max_bytes (KIP-74), so a batch is what a
    // response may overshoot by (librdkafka's default 1 MB batches would be 16% of a 12 s window)
    const r = await runKcat(['-P', '-b', direct, '-t', topic, '-X', 'linger.ms=20', '-X', 'batch.size=16384'], fill);
    if (r.code !== 0) throw new Error(`prefilling ${topic}: ${r.stderr}`);
    await runKcat(['-C', '-b', direct, '-t', topic, '-o', 'beginning', '-c', '1', '-e', '-q']);
  }
  const jmx = jmxCounters(target.cluster.classpath, node,
    fetchTopics.map((t) => `kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,topic=${t}`), 'Count', SAMPLE_MS);
  await sleep(3000); // JmxTool's JVM starts before the loads do
  const origin = Date.now(); // every sample's seconds count from here
  const logBytes = produceTopics.map((topic) => sampler(() => topicLogBytes(node, topic), SAMPLE_MS));
  const tenants = clients.flatMap((c) => [
    tenantSampler(target.sidecars[0]!, quotaClientId('produce', c), 'produce'),
    tenantSampler(target.sidecars[0]!, quotaClientId('fetch', c), 'fetch'),
  ]);
  const loads = clients.flatMap((c, i) => [startLoad(c, target, 'produce', produceTopics[i]!), startLoad(c, target, 'fetch', fetchTopics[i]!)]);
  // every load runs until the last one to start has moved bytes for settle + `seconds` (each one's rate is taken over
  // the `seconds` after its own settle)
  const all = [...logBytes.map((s) => s.samples), ...jmx.samples];
  const started = performance.now();
  for (;;) {
    const firsts = all.map(firstMove);
    const waited = (performance.now() - started) / 1000;
    if (firsts.every((f) => f !== undefined) || waited > START_TIMEOUT_SECONDS) {
      const last = Math.max(0, ...firsts.map((f) => f ?? 0));
      await sleep(Math.max(0, last + SETTLE_SECONDS + o.seconds + 1 - waited) * 1000);
      break;
    }
    await sleep(SAMPLE_MS);
  }
  await Promise.all(loads.map((l) => l.stop()));
  const produced = await Promise.all(logBytes.map((s) => s.stop()));
  const fetched = await jmx.stop(origin);
  const tenantSamples = await Promise.all(tenants.map((x) => x.stop()));
  const results: CheckResult[] = [];
  const judge = (client: ClientName, direction: Direction, samples: Sample[], tenant: TenantSamples) => {
    const check = `${direction} quota`;
    const quota = quotaCheckBytesPerSec(client, direction);
    const r = rateAfterStart(samples, SETTLE_SECONDS, o.seconds);
    if (!r) {
      const first = firstMove(samples);
      return { client, check, ok: false, detail: `no ${o.seconds} s of traffic after ${SETTLE_SECONDS} s (first bytes at ${first?.toFixed(1) ?? 'never'} s, ${samples.length} samples to ${samples.at(-1)?.seconds.toFixed(1) ?? '-'} s)` };
    }
    const ratio = r.rate / quota;
    const share = Math.min(1, Math.max(0, slope(tenant.throttle, r.from, r.to)));
    const floor = (1 - o.tolerance) * share;
    // what the tenant had saved by the window's start (tokens above what its new bucket started with) it may spend in
    // the window on top of the quota: a burst it earned by asking for less (a client starved of CPU), not an excess
    const saved = tenant.tokens.length > 0 ? savedAt(tenant.tokens, r.from, TENANT_SAMPLE_MS / 1000) : 0;
    const ceiling = 1 + o.tolerance + saved / (quota * (r.to - r.from));
    return {
      client, check, ok: ratio <= ceiling && ratio >= floor,
      detail: `${(r.rate / 1024).toFixed(1)} KB/s at the broker from ${r.from.toFixed(1)} s to ${r.to.toFixed(1)} s: ${ratio.toFixed(3)}× the ` +
        `${quota / 1024} KB/s quota (throttled ${(share * 100).toFixed(0)}% of the time, so at least ${floor.toFixed(3)}×; ` +
        `${(saved / 1024).toFixed(0)} KB saved at the start, so at most ${ceiling.toFixed(3)}×)`,
    };
  };
  clients.forEach((c, i) => {
    results.push(judge(c, 'produce', produced[i]!, tenantSamples[2 * i]!));
    results.push(judge(c, 'fetch', fetched[i]!, tenantSamples[2 * i + 1]!));
  });
  return results;
}
