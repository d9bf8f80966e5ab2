// A broker's health seen from outside it, without JMX, sampled every second: whether its process is alive, its open
// files (/proc/PID/fd) and RSS, and its log directories: partition directories, those awaiting deletion (a deleted
// partition's directory is renamed TOPIC-N.UUID-delete and removed file.delete.delay.ms later, 60 s by default, its
// files open until then), and, from what changed since the last sample, the partition mutations the broker applied:
// logs created (a new TOPIC-N directory, or a -delete one whose partition was never seen live) and logs deleted (a new
// -delete directory). That is what the broker did, which lags what its controller accepted when the broker falls
// behind (issue 11 measured 2,000 partitions/s accepted and 40-140/s applied).
import { readdir, readFile } from 'node:fs/promises';
import type { NodeInfo } from '../../src/local-kafka/kafka-cluster.js';

export interface HealthSample {
  /** Since the watch started. */
  seconds: number;
  alive: boolean;
  openFiles: number;
  rssMB: number;
  /** Live partition directories (TOPIC-N), the metadata log's included. */
  partitionDirs: number;
  /** Partition directories renamed for deletion and not yet removed. */
  pendingDeletions: number;
  /** Logs created and deleted since the previous sample. */
  created: number;
  deleted: number;
  /** (created + deleted) per second since the previous sample. */
  mutationsPerSec: number;
}

export interface HealthMaxima {
  openFiles: number;
  rssMB: number;
  partitionDirs: number;
  pendingDeletions: number;
  mutationsPerSec: number;
  /**
   * The busiest 10 s: the broker applies its controller's records in batches (a second can carry several seconds'
   * worth), so a rate over 10 s is the one to hold against a budget.
   */
  mutationsPerSec10s: number;
}

export interface HealthSummary {
  samples: HealthSample[];
  max: HealthMaxima;
  /** Logs created and deleted over the whole watch. */
  created: number;
  deleted: number;
  /** The process was gone at some sample. */
  died: boolean;
  diedAtSeconds: number | null;
}

export interface BrokerHealthWatch {
  samples: HealthSample[];
  latest(): HealthSample | undefined;
  /** Maxima of the samples taken between `from` and `to` seconds. */
  maxBetween(from: number, to: number): HealthMaxima;
  stop(): Promise<HealthSummary>;
}

const LIVE = /^.+-\d+$/;
const PENDING_DELETE = /^(.+-\d+)\.[0-9a-f]{32}-delete$/;

interface DirState {
  live: Set<string>;
  pending: Set<string>;
}

async function readDirs(logDirs: readonly string[]): Promise<DirState> {
  const live = new Set<string>();
  const pending = new Set<string>();
  for (const dir of logDirs) {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue; // not there yet, or gone with a stopped cluster
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      if (PENDING_DELETE.test(e.name)) pending.add(e.name);
      else if (LIVE.test(e.name)) live.add(e.name);
    }
  }
  return { live, pending };
}

async function processState(pid: number): Promise<{ alive: boolean; openFiles: number; rssMB: number }> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    if (/^State:\s+[ZX]/m.test(status)) return { alive: false, openFiles: 0, rssMB: 0 };
    const rssMB = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    const openFiles = (await readdir(`/proc/${pid}/fd`)).length;
    return { alive: true, openFiles, rssMB: Math.round(rssMB) };
  } catch {
    return { alive: false, openFiles: 0, rssMB: 0 };
  }
}

/** One sample, and the directory state the next one is compared with. */
async function sample(pid: number, logDirs: readonly string[], previous: DirState | undefined, seconds: number, elapsed: number) {
  const [proc, dirs] = await Promise.all([processState(pid), readDirs(logDirs)]);
  let created = 0;
  let deleted = 0;
  if (previous) {
    for (const name of dirs.live) if (!previous.live.has(name)) created++;
    for (const name of dirs.pending) {
      if (previous.pending.has(name)) continue;
      deleted++;
      if (!previous.live.has(PENDING_DELETE.exec(name)![1]!)) created++; // created and deleted between two samples
    }
  }
  const s: HealthSample = {
    seconds: Math.round(seconds * 10) / 10,
    ...proc,
    partitionDirs: dirs.live.size,
    pendingDeletions: dirs.pending.size,
    created,
    deleted,
    mutationsPerSec: previous && elapsed > 0 ? Math.round((created + deleted) / elapsed) : 0,
  };
  return { s, dirs };
}

/**
 * The highest rate (per second, rounded) of logs created plus deleted over any `window` seconds: each sample counts
 * what happened since the one before it, so samples from+1..i cover the time from sample `from` to sample `i`; for
 * each i, the shortest such run covering at least `window` seconds, divided by the time it does cover (a late sample
 * makes it longer, never the rate higher). NaN when the samples span less than `window`. (It divided every run of up
 * to `window` seconds from its first sample by `window`, counting the interval before that sample too: up to 10 %
 * high.)
 */
function maxRate(samples: readonly HealthSample[], window: number): number {
  let best = NaN;
  let from = 0;
  let sum = 0; // what samples from+1..i counted
  for (let i = 1; i < samples.length; i++) {
    sum += samples[i]!.created + samples[i]!.deleted;
    while (from + 1 < i && samples[i]!.seconds - samples[from + 1]!.seconds >= window) {
      from++;
      sum -= samples[from]!.created + samples[from]!.deleted;
    }
    const span = samples[i]!.seconds - samples[from]!.seconds;
    if (span >= window && !(sum / span <= best)) best = sum / span;
  }
  return Math.round(best);
}

function maxima(samples: readonly HealthSample[]): HealthMaxima {
  const max = (f: (s: HealthSample) => number) => samples.reduce((m, s) => Math.max(m, f(s)), 0);
  return {
    openFiles: max((s) => s.openFiles),
    rssMB: max((s) => s.rssMB),
    partitionDirs: max((s) => s.partitionDirs),
    pendingDeletions: max((s) => s.pendingDeletions),
    mutationsPerSec: max((s) => s.mutationsPerSec),
    mutationsPerSec10s: maxRate(samples, 10),
  };
}

/** Samples the broker of `node` (its JVM is `pid`) every `everyMs` until stop(). */
export function watchBrokerHealth(node: Pick<NodeInfo, 'dataDir'>, pid: number, o: { everyMs?: number; logDirs?: string[] } = {}): BrokerHealthWatch {
  const logDirs = o.logDirs ?? [node.dataDir];
  const samples: HealthSample[] = [];
  const start = performance.now();
  let previous: DirState | undefined;
  let previousAt = start;
  let busy = Promise.resolve();
  let queued = 0;
  const take = () => {
    if (queued > 0) return; // the last sample is still being read (tens of thousands of directories): skip this one
    queued++;
    busy = busy.then(async () => {
      queued--;
      const now = performance.now();
      const { s, dirs } = await sample(pid, logDirs, previous, (now - start) / 1000, (now - previousAt) / 1000);
      samples.push(s);
      if (s.alive) {
        previous = dirs;
        previousAt = now;
      }
    });
  };
  take();
  const timer = setInterval(take, o.everyMs ?? 1000);
  return {
    samples,
    latest: () => samples[samples.length - 1],
    maxBetween: (from, to) => maxima(samples.filter((s) => s.seconds >= from && s.seconds <= to)),
    stop: async () => {
      clearInterval(timer);
      take();
      await busy;
      const dead = samples.find((s) => !s.alive);
      return {
        samples,
        max: maxima(samples),
        created: samples.reduce((n, s) => n + s.created, 0),
        deleted: samples.reduce((n, s) => n + s.deleted, 0),
        died: dead !== undefined,
        diedAtSeconds: dead?.seconds ?? null,
      };
    },
  };
}

/** One reading now (no mutation rate: that needs two). */
export async function brokerHealthNow(node: Pick<NodeInfo, 'dataDir'>, pid: number): Promise<HealthSample> {
  return (await sample(pid, [node.dataDir], undefined, 0, 0)).s;
}
