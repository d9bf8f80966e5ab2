// The cost of recomputing cluster-scoped shares (issue 16): 10,000 tenants active at this sidecar and reported by three
// others (maxSidecars 4), as in test/quota/cluster-shares.test.ts. The same state is recomputed in turn by the previous
// recompute (6c994e4, kept below: a key string made and hashed per slot × other sidecar, all slots in one call) and the
// current one (a key string per slot use, kept; the coordinator runs it in chunks of RECOMPUTE_CHUNK_SLOTS slots between
// which the event loop runs). Rounds alternate which goes first, a full collection before each; medians. Reported: each
// one's time per recompute and their ratio, a chunk's time (median, p95: how long the event loop is held at once) and
// the previous recompute's time over a chunk's (eventLoopHoldRatio). No Kafka.
import { ClusterShares, RECOMPUTE_CHUNK_SLOTS } from '../src/quota/cluster-shares.js';
import { fairShares } from '../src/quota/fair-share.js';
import { decodeReport, encodeReport } from '../src/quota/coordination-records.js';
import { BucketTable } from '../src/quota/bucket-table.js';
import { KINDS, PRODUCE } from '../src/quota/quota-kinds.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { median, percentile } from './support/stats.js';

// a full collection before each timed recompute, so that neither pays for the garbage the reports' decoding left
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CAPACITY = 10_000;
const ROUNDS = 21;

interface Remote { heardMs: number; demands: Map<string, number> }
interface Internals {
  slots: number; kinds: number; quota: Float64Array; demand: Float64Array; share: Float64Array; floor: number; live: number; stale: number;
  remotes: Map<string, Remote>; scratchDemands: Float64Array; scratchShares: Float64Array; settings: { staleAfterMs: number; floorShare: number };
  keyOf: (slot: number) => string | undefined; brokers: number; now: () => number;
}

/** The recompute of 6c994e4, unchanged but for `this` (forgetting silent sidecars left out: none is). */
function previousRecompute(c: Internals): void {
  const now = c.now();
  const live: Remote[] = [];
  let stale = 0;
  for (const r of c.remotes.values()) {
    if (now - r.heardMs <= c.settings.staleAfterMs) live.push(r);
    else stale++;
  }
  c.live = live.length + 1;
  c.stale = stale;
  const reserved = Math.min(1, stale / c.brokers);
  c.floor = ((1 - reserved) * c.settings.floorShare) / c.live;
  const d = c.scratchDemands.subarray(0, c.live);
  const out = c.scratchShares.subarray(0, c.live);
  for (let slot = 0; slot < c.slots; slot++) {
    const key = c.keyOf(slot);
    for (let kind = 0; kind < c.kinds; kind++) {
      const i = slot * c.kinds + kind;
      const q = c.quota[i]!;
      if (q === 0 || key === undefined) continue;
      d[0] = c.demand[i]!;
      const k = `${kind}\u0001${key}`;
      for (let j = 0; j < live.length; j++) d[j + 1] = live[j]!.demands.get(k) ?? 0;
      fairShares(q * (1 - reserved), d, c.settings.floorShare, out);
      c.share[i] = out[0]! / q;
    }
  }
}

export async function run(): Promise<Record<string, number>> {
  const clock = { ms: 0 };
  const now = () => clock.ms;
  const table = new BucketTable(CAPACITY, 64, now, 1, KINDS);
  const c = new ClusterShares({ topic: 't', intervalMs: 1000, staleAfterMs: 5000, forgetAfterMs: 20_000, maxSidecars: 4, floorShare: 0.02, sidecarId: 'me' },
    CAPACITY + 1, KINDS, (slot) => table.keyOf(slot), table.generation, now);
  c.brokers = 3;
  const slots = Array.from({ length: CAPACITY }, (_, i) => table.slotFor(`\u0000tenant-${String(i).padStart(5, '0')}`));
  const previous: number[] = [];
  const current: number[] = [];
  const chunks: number[] = [];
  let check = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < CAPACITY; i++) c.charged(slots[i]!, PRODUCE, 1000 + i + round, i % 3 === 0, 1_000_000);
    clock.ms += 1000;
    const { records } = encodeReport({ sidecar: 'me', instance: c.instance, staticShare: false }, clock.ms, c.collect());
    for (const s of ['b', 'c', 'd']) for (const r of records) c.received({ ...decodeReport(Buffer.from(r.value!), KINDS, 256)!, sidecar: s });
    c.received({ sidecar: 'me', instance: c.instance, staticShare: false, at: clock.ms, part: 0, parts: 1, entries: [], skipped: 0 });
    const both = [
      () => {
        gc();
        const t0 = performance.now();
        previousRecompute(c as unknown as Internals);
        previous.push(performance.now() - t0);
      },
      () => {
        gc();
        let total = 0;
        for (let from = 0; from < CAPACITY + 1; from += RECOMPUTE_CHUNK_SLOTS) {
          const t0 = performance.now();
          c.recompute(from, from + RECOMPUTE_CHUNK_SLOTS);
          const ms = performance.now() - t0;
          chunks.push(ms);
          total += ms;
        }
        current.push(total);
      },
    ];
    if (round % 2) both.reverse();
    for (const f of both) f();
    check += c.shareOf(slots[0]!, PRODUCE);
  }
  const previousMs = median(previous);
  const currentMs = median(current);
  const chunkMs = median(chunks);
  const chunkP95Ms = percentile(chunks, 95);
  console.error(`10,000 tenants x 4 sidecars, ${ROUNDS} rounds (share check ${check.toFixed(3)}): previous ${previousMs.toFixed(2)} ms ` +
    `(all ${previous.map((x) => x.toFixed(1)).join(' ')}), current ${currentMs.toFixed(2)} ms (all ${current.map((x) => x.toFixed(1)).join(' ')}), ` +
    `chunks of ${RECOMPUTE_CHUNK_SLOTS} slots: median ${chunkMs.toFixed(2)} ms, p95 ${chunkP95Ms.toFixed(2)} ms, the longest ${Math.max(...chunks).toFixed(2)} ms`);
  return {
    tenants: CAPACITY,
    previousRecomputeMs: Number(previousMs.toFixed(2)),
    recomputeMs: Number(currentMs.toFixed(2)),
    recomputeSpeedup: Number((previousMs / currentMs).toFixed(2)),
    chunkMs: Number(chunkMs.toFixed(2)),
    chunkP95Ms: Number(chunkP95Ms.toFixed(2)),
    eventLoopHoldRatio: Number((previousMs / chunkMs).toFixed(1)),
  };
}
