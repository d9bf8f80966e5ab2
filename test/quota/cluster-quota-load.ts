// The workloads of the cluster-scoped quota tests (cluster-quota.serial.test.ts) and of `npm run bench -- cluster-quota`:
// three sidecar processes in front of a 3-node cluster, a tenant with a cluster quota pushing as hard as it can with
// the Java client, measured by the brokers' own counts (their log files); many tenants' Metadata requests, measured by
// what the sidecars publish to the coordination topic and their RSS. Rates are least-squares slopes of byte counts
// sampled every 500 ms.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';
import type { NodeInfo } from '../../src/local-kafka/kafka-cluster.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';
import { sampler, slope, topicLogBytes, type Sample } from '../support/broker-bytes.js';
import { push, type Load } from '../support/load.js';
import { pipelinedMetadata } from '../support/metadata-load.js';
import type { ProxyProcess } from '../support/proxy-process.js';

export const MB = 1024 * 1024;

export interface ClusterQuotaRig {
  nodes: readonly NodeInfo[];
  sidecars: ProxyProcess[];
  admin: Admin;
  classpath: string;
  /** Unique topic names. */
  name(prefix: string): string;
  /** Registers clean-up work (topics to delete). */
  cleanup(work: () => Promise<unknown>): void;
}

export interface Coordination {
  mode: string;
  liveSidecars: number;
  staleSidecars: number;
  brokers: number;
  bytesPublished: number;
  entriesPublished: number;
  lastReportEntries: number;
  trackedBuckets: number;
  sidecarIdCollisions: number;
}

/** A sidecar's coordination state (GET /quota: the sidecar part). */
export const coordination = async (s: ProxyProcess): Promise<Coordination | undefined> =>
  ((await s.quota('ANONYMOUS', 'probe')).sidecar as { coordination?: Coordination }).coordination;

/** Waits until every sidecar reads its own reports back and hears all the others (their consumers join groups first). */
export async function waitCoordinated(sidecars: readonly ProxyProcess[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(sidecars.map(coordination));
    if (states.every((c) => c?.mode === 'coordinated' && c.liveSidecars === sidecars.length)) return;
    if (Date.now() > deadline) throw new Error(`coordination not established in ${timeoutMs} ms: ${JSON.stringify(states)}`);
    await sleep(250);
  }
}

/** The tenant's share of its produce quota at each sidecar. */
export const shares = async (sidecars: readonly ProxyProcess[], clientId: string): Promise<number[]> =>
  Promise.all(sidecars.map(async (s) => ((await s.quota('ANONYMOUS', clientId)).produce as { quota: { share: number } }).quota.share));

/** A topic with one partition per entry of `leaders`, led (and only held) by that broker. */
export async function topicOn(rig: ClusterQuotaRig, leaders: number[]): Promise<string> {
  const topic = rig.name('cluster-quota');
  await createTopicsAndWait(rig.admin, [{ topic, replicaAssignment: leaders.map((id, partition) => ({ partition, replicas: [id] })) }]);
  rig.cleanup(() => rig.admin.deleteTopics({ topics: [topic] }).catch(() => undefined));
  return topic;
}

/** What the brokers received of a topic, summed, sampled every 500 ms. */
export const brokerBytes = (rig: ClusterQuotaRig, topic: string, everyMs = 500) =>
  sampler(() => rig.nodes.reduce((sum, n) => sum + topicLogBytes(n, topic), 0), everyMs);

/** The seconds each sidecar throttled the tenant (a tenant named in the config is its own metric label). */
const throttleSamplers = (rig: ClusterQuotaRig, clientId: string) =>
  rig.sidecars.map((s) => sampler(() => s.metric(`kqp_tenant_throttle_seconds_total{tenant="${clientId}"}`), 500));

export const javaPush = (rig: ClusterQuotaRig, topic: string, clientId: string) =>
  push('java', { classpath: rig.classpath, bootstrap: rig.sidecars[0]!.bootstrap, topic, clientId });

export interface SteadyResult {
  /** Bytes per second the brokers received from `from` s to the end. */
  rate: number;
  shares: number[];
  /** The share of the time each sidecar throttled the tenant, from `from` s to the end. */
  throttled: number[];
  modes: string;
}

/**
 * The tenant pushes to partitions led by `leaders` for `seconds`; its rate from `from` s on. With `firstBytesWithinMs`,
 * the seconds count from the brokers' first bytes of the load (waited for that long at most; `firstBytesMs` says when
 * they came, or Infinity).
 */
export async function steadyLoad(rig: ClusterQuotaRig, clientId: string, leaders: number[], seconds: number, from: number,
  o: { firstBytesWithinMs?: number } = {}): Promise<SteadyResult & { firstBytesMs?: number }> {
  const topic = await topicOn(rig, leaders);
  let load: Load | undefined;
  let firstBytesMs: number | undefined;
  if (o.firstBytesWithinMs !== undefined) {
    const started = Date.now();
    load = javaPush(rig, topic, clientId);
    const received = () => rig.nodes.reduce((sum, n) => sum + topicLogBytes(n, topic), 0);
    while (received() === 0 && Date.now() - started < o.firstBytesWithinMs) await sleep(100);
    firstBytesMs = received() > 0 ? Date.now() - started : Infinity;
  }
  const bytes = brokerBytes(rig, topic);
  const throttles = throttleSamplers(rig, clientId);
  load ??= javaPush(rig, topic, clientId);
  await sleep(seconds * 1000);
  const during = await shares(rig.sidecars, clientId);
  const modes = (await Promise.all(rig.sidecars.map(coordination))).map((c) => c?.mode).join(', ');
  await load.stop();
  const samples = await bytes.stop();
  const throttled = (await Promise.all(throttles.map((s) => s.stop()))).map((s) => Math.min(1, slope(s, from, seconds)));
  return { rate: slope(samples, from, seconds), shares: during, throttled, modes, ...(firstBytesMs !== undefined ? { firstBytesMs } : {}) };
}

export interface ShiftResult extends SteadyResult {
  /** From the new sidecar's first charge of the tenant until it held at least 90% of the quota (Infinity: never). */
  convergenceMs: number;
  convergedShare: number | undefined;
}

/**
 * The tenant pushes to partitions led by the first broker for 8 s, then to the second broker's for `seconds`: how soon
 * the second broker's sidecar holds the quota (its share sampled every 250 ms), and the rate there from 5 s after the
 * shift's first bytes on.
 */
export async function shiftLoad(rig: ClusterQuotaRig, clientId: string, seconds: number): Promise<ShiftResult> {
  const [a, b] = [rig.nodes[0]!.id, rig.nodes[1]!.id];
  const [from, to] = [await topicOn(rig, rig.nodes.map(() => a)), await topicOn(rig, rig.nodes.map(() => b))];
  const first = javaPush(rig, from, clientId);
  await sleep(8000);
  await first.stop();
  const bytes = sampler(() => topicLogBytes(rig.nodes[1]!, to), 250);
  // the new sidecar's share, and whether it has charged the tenant yet (its bucket has a slot): -1 until then
  const share = sampler(async () => {
    const p = (await rig.sidecars[1]!.quota('ANONYMOUS', clientId)).produce as { quota: { share: number }; bucket: { slot: number | null } };
    return p.bucket.slot === null ? -1 : p.quota.share;
  }, 250);
  const throttles = throttleSamplers(rig, clientId);
  const second = javaPush(rig, to, clientId);
  await sleep(seconds * 1000);
  const during = await shares(rig.sidecars, clientId);
  const modes = (await Promise.all(rig.sidecars.map(coordination))).map((c) => c?.mode).join(', ');
  await second.stop();
  const [bs, ss] = [await bytes.stop(), await share.stop()];
  const throttled = await Promise.all(throttles.map((x) => x.stop()));
  const charged = ss.find((x) => x.value >= 0)!.seconds;
  const converged = ss.find((x) => x.value >= 0.9);
  const start = bs.find((x) => x.value > 0)!.seconds;
  return {
    convergenceMs: converged ? Math.round((converged.seconds - charged) * 1000) : Infinity,
    convergedShare: converged?.value,
    rate: slope(bs, start + 5, seconds),
    shares: during,
    throttled: throttled.map((x) => Math.min(1, slope(x, start + 5, seconds))),
    modes,
  };
}

export interface ManyTenantsResult {
  requests: number;
  /** Bytes per second each sidecar published to the coordination topic, measured after `settle` s. */
  bytesPerSec: number[];
  /** Report entries (a bucket's demand each) per second each sidecar published, over the same time. */
  entriesPerSec: number[];
  /** Entries of each sidecar's last report, once a second. */
  entries: number[][];
  /** Buckets each sidecar tracks (charged within the last 10 intervals) at the end. */
  tracked: number[];
  rssBeforeMB: number[];
  /** Each sidecar's RSS once a second (MB). */
  rssMB: number[][];
  modes: string[];
}

/**
 * `tenants` distinct client ids send Metadata requests through every sidecar at once, over and over, for `seconds`
 * (each id charged to its own bucket of a cluster-scoped request quota); coordination traffic from `settle` s on.
 */
export async function manyTenants(rig: ClusterQuotaRig, tenants: number, seconds: number, settle: number): Promise<ManyTenantsResult> {
  const { sidecars } = rig;
  const rssBeforeMB = sidecars.map((s) => Math.round(s.rssMB()));
  const started = Date.now();
  let requests = 0;
  const loads = sidecars.map(async (s) => {
    while (Date.now() - started < seconds * 1000) {
      await pipelinedMetadata(s.port, (i) => `many-${i % tenants}`, tenants);
      requests += tenants;
    }
  });
  await sleep(settle * 1000);
  const [from, fromMs] = [await Promise.all(sidecars.map(coordination)), Date.now()];
  const entries: number[][] = sidecars.map(() => []);
  const rssMB: number[][] = sidecars.map(() => []);
  while (Date.now() - started < seconds * 1000) {
    const states = await Promise.all(sidecars.map(coordination));
    states.forEach((c, i) => entries[i]!.push(c!.lastReportEntries));
    sidecars.forEach((s, i) => rssMB[i]!.push(Math.round(s.rssMB())));
    await sleep(1000);
  }
  const [to, toMs] = [await Promise.all(sidecars.map(coordination)), Date.now()];
  await Promise.all(loads);
  const elapsed = (toMs - fromMs) / 1000;
  return {
    requests,
    bytesPerSec: to.map((c, i) => (c!.bytesPublished - from[i]!.bytesPublished) / elapsed),
    entriesPerSec: to.map((c, i) => (c!.entriesPublished - from[i]!.entriesPublished) / elapsed),
    entries,
    rssBeforeMB,
    rssMB,
    modes: to.map((c) => c!.mode),
    tracked: to.map((c) => c!.trackedBuckets),
  };
}

/**
 * The most the samples from `from` s on exceed `rate` over any stretch of at least `minSeconds` between two of them
 * (bytes; 0 if never). Shorter stretches are left out: over half a second, when a log segment's bytes land says more
 * than the rate (measured: 1.5 MB beyond 3 MB/s over 0.5 s in a steady run).
 */
export function maxExcess(samples: readonly Sample[], from: number, rate: number, minSeconds: number): { bytes: number; at: number; seconds: number } {
  let best = { bytes: 0, at: 0, seconds: 0 };
  for (let i = 0; i < samples.length; i++) {
    if (samples[i]!.seconds < from) continue;
    for (let j = i + 1; j < samples.length; j++) {
      const dt = samples[j]!.seconds - samples[i]!.seconds;
      if (dt < minSeconds) continue;
      const over = samples[j]!.value - samples[i]!.value - rate * dt;
      if (over > best.bytes) best = { bytes: over, at: samples[i]!.seconds, seconds: dt };
    }
  }
  return best;
}
