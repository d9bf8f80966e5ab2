// A sidecar's share of each cluster-scoped quota (scope: cluster), from what it and the other sidecars publish.
//
// Local state is per slot × kind of the bucket table, in preallocated typed arrays (use and throttling this interval,
// the quota it was charged under, the demand last published, the share computed): fixed by the table's capacity.
// Other sidecars' reports live in at most maxSidecars - 1 remotes of at most two Maps (the report in force, the one
// being read part by part) of at most `capacity` entries each, so that what is kept for them is bounded by capacity ×
// 2 × maxSidecars whatever the tenants do (a report lists bucket keys, one per slot of its sidecar's table: client-id
// churn is bounded by the table before it gets here). A remote is one process (sidecar id and instance): a new
// instance of an id replaces the one before (a restart); the one replaced speaking again means two processes share
// the id: both are sidecars (and a warning).
//
// The share, a fraction of the quota, that charges see (shareOf):
// - coordinated (this sidecar read its own last report back from the topic within staleAfterMs): its max-min fair
//   share (fair-share.ts) over this sidecar and the live others (heard from within staleAfterMs, coordinated). Sidecars
//   silent for longer, or whose last report says they serve the static share, are reserved that share (below), and so
//   is every broker in the metadata without a live sidecar heard from (one whose sidecar cannot reach the topic, or is
//   not kept beyond maxSidecars): reserved = max(those sidecars, brokers - live) ÷ brokers, at most all but one
//   static share. A slot with no share computed yet gets the floor.
// - starting (never coordinated, for staleAfterMs after start): the floor as if maxSidecars shared the quota.
// - stale (otherwise): the static share, 1 ÷ the brokers in the cluster's metadata: the sidecars' total can then not
//   exceed the quota whatever the others do.
import { randomBytes } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { fairShares, WANTS_MORE } from './fair-share.js';
import type { DecodedPart, ReportEntry } from './coordination-records.js';

export interface CoordinationSettings {
  topic: string;
  intervalMs: number;
  staleAfterMs: number;
  forgetAfterMs: number;
  maxSidecars: number;
  floorShare: number;
  /** This sidecar's name in the topic (default: its broker's address). */
  sidecarId: string;
  /** With upstream.tls: the coordination client's TLS options (load-config.ts coordinationTls). */
  tls?: ConnectionOptions;
  /** upstream.sasl: the coordination client's login, its password read at start (load-config.ts saslLogin). */
  sasl?: CoordinationSasl;
}

/** kafkajs' SASLOptions for the mechanisms upstream.sasl offers. */
export type CoordinationSasl = { username: string; password: string } & (
  { mechanism: 'plain' } | { mechanism: 'scram-sha-256' } | { mechanism: 'scram-sha-512' }
);

/** A throttled-free slot asks for what it used plus this much more (room to grow before it is throttled). */
const HEADROOM = 1.25;
/** The coordinator recomputes this many slots at a time, letting the event loop run between (ClusterCoordinator). */
export const RECOMPUTE_CHUNK_SLOTS = 250;
/** A slot idle for this many intervals is no longer tracked (its share goes back to the floor). */
const IDLE_INTERVALS = 10;

export type CoordinationMode = 'starting' | 'coordinated' | 'stale';

interface Remote {
  sidecar: string;
  /** When we last heard from it (our clock). */
  heardMs: number;
  /** Its last whole report said it serves the static share. */
  staticShare: boolean;
  /** Its last whole report: `${kind}\u0001${bucket key}` → demand, at most `capacity` entries. */
  demands: Map<string, number>;
  /**
   * Its last whole report lost entries (more than `capacity`: it has kinds × slots): a bucket it does not name may be
   * one it wants more of, and is taken to be (read as none, the shares of two sidecars with two kinds' tenants added up
   * to 1.98 of the quota). Entries this sidecar cannot read (a kind it does not know, a key longer than its table
   * holds) are none of its buckets.
   */
  truncated: boolean;
  /** The report being read (its time, the parts read so far, its entries, whether it lost any), applied when its last part is read. */
  nextAt: number;
  nextParts: Set<number>;
  next: Map<string, number>;
  nextTruncated: boolean;
}

export interface ClusterStats {
  mode: CoordinationMode;
  sidecarId: string;
  liveSidecars: number;
  staleSidecars: number;
  brokers: number;
  trackedBuckets: number;
  reportsPublished: number;
  bytesPublished: number;
  /** Entries (bucket demands) published, and in the last report. */
  entriesPublished: number;
  lastReportEntries: number;
  /** Report entries and sidecars ignored because a bound was reached, or unreadable (another version's, a longer key). */
  entriesDropped: number;
  sidecarsRefused: number;
  /** Reports from another process with a sidecar id already in use (this one's included). */
  sidecarIdCollisions: number;
  lastCoordinatedMsAgo: number | null;
}

export class ClusterShares {
  private readonly used: Float64Array;
  private readonly throttled: Uint8Array;
  private readonly quota: Float64Array;
  private readonly demand: Float64Array;
  /** The demands published one and two intervals before `demand` (0: none, as the others then assume). */
  private readonly demand1: Float64Array;
  private readonly demand2: Float64Array;
  private readonly share: Float64Array;
  private readonly idle: Uint8Array;
  private readonly gen: Uint32Array;
  /** Each tracked slot × kind's key in the others' reports (`${kind}\u0001${bucket key}`), made once per slot use. */
  private readonly names: (string | undefined)[];
  private readonly remotes = new Map<string, Remote>();
  /** Processes a newer process of their sidecar id replaced, and when: one heard again shares its id with that one. */
  private readonly replaced = new Map<string, number>();
  private readonly scratchDemands: Float64Array;
  private readonly scratchShares: Float64Array;
  private readonly startedMs: number;
  private lastCollectMs: number;
  private coordinatedMs = -Infinity;
  private live = 1;
  private readonly liveRemotes: Remote[] = [];
  /** The stale others' static shares, reserved for them (a fraction of the quota), as of the last recompute. */
  private reserved = 0;
  private stale = 0;
  /** The floor's fraction of the quota for this sidecar, as of the last recompute. */
  private floor: number;
  /**
   * The most of a quota this sidecar serves, as of the last recompute: the static share while there are more brokers
   * than it keeps sidecars' reports of (each keeps others of its own choosing: computed from different sets, the
   * shares added up to 1.36 of the quota with 24 brokers, and up to 7.86 when the busy sidecars kept idle ones), 1
   * otherwise.
   */
  private most = 1;
  /** Brokers in the cluster's metadata (the static share's divisor); maxSidecars until known. */
  brokers: number;
  readonly stats = { reportsPublished: 0, bytesPublished: 0, entriesPublished: 0, lastReportEntries: 0, entriesDropped: 0, sidecarsRefused: 0, sidecarIdCollisions: 0 };

  constructor(
    readonly settings: CoordinationSettings,
    /** Slots of the bucket table (its capacity + the overflow slot) and kinds per slot. */
    private readonly slots: number,
    private readonly kinds: number,
    /** The table's bucket key of a slot (undefined: free, or the overflow slot) and each slot's generation. */
    private readonly keyOf: (slot: number) => string | undefined,
    private readonly generation: Uint32Array,
    private readonly now: () => number,
    /** This process's id in its reports (a sidecar id shared by mistake, or a restart, is told apart by it). */
    readonly instance: string = randomBytes(6).toString('hex'),
  ) {
    const n = slots * kinds;
    this.used = new Float64Array(n);
    this.throttled = new Uint8Array(n);
    this.quota = new Float64Array(n);
    this.demand = new Float64Array(n);
    this.demand1 = new Float64Array(n);
    this.demand2 = new Float64Array(n);
    this.share = new Float64Array(n).fill(NaN);
    this.idle = new Uint8Array(n);
    this.gen = new Uint32Array(slots);
    this.names = new Array<string | undefined>(n).fill(undefined);
    this.scratchDemands = new Float64Array(settings.maxSidecars);
    this.scratchShares = new Float64Array(settings.maxSidecars);
    this.brokers = settings.maxSidecars;
    this.floor = settings.floorShare / settings.maxSidecars;
    this.startedMs = this.lastCollectMs = now();
  }

  /** Slots of the bucket table tracked here (recompute's range). */
  get slotCount(): number {
    return this.slots;
  }

  /** The most other sidecars' report entries this sidecar keeps: capacity × (maxSidecars - 1). */
  get remoteCapacity(): number {
    return (this.slots - 1) * (this.settings.maxSidecars - 1);
  }

  mode(now = this.now()): CoordinationMode {
    if (now - this.coordinatedMs <= this.settings.staleAfterMs) return 'coordinated';
    if (this.coordinatedMs === -Infinity && now - this.startedMs <= this.settings.staleAfterMs) return 'starting';
    return 'stale';
  }

  /** A charge of a cluster-scoped quota at `rate` (the whole quota): recorded as this interval's use. */
  charged(slot: number, kind: number, cost: number, throttled: boolean, rate: number): void {
    const i = this.index(slot, kind);
    this.used[i]! += cost;
    if (throttled) this.throttled[i] = 1;
    this.quota[i] = rate;
    this.idle[i] = 0;
  }

  /** The fraction of its cluster-scoped quota this sidecar may serve now for a slot's bucket of `kind`. */
  shareOf(slot: number, kind: number): number {
    const mode = this.mode();
    if (mode !== 'coordinated') return this.fallback(mode);
    const s = this.share[this.index(slot, kind)]!;
    return Number.isNaN(s) ? this.floor : s;
  }

  /** The share of a bucket that has none computed (not yet charged here): the floor, or the fallback. */
  newShare(): number {
    const mode = this.mode();
    return mode === 'coordinated' ? this.floor : this.fallback(mode);
  }

  private fallback(mode: CoordinationMode): number {
    return mode === 'stale' ? 1 / this.brokers : this.settings.floorShare / this.settings.maxSidecars;
  }

  /** This interval's demands, to publish (and the use counters start again). */
  collect(): ReportEntry[] {
    const now = this.now();
    const seconds = Math.max(0.001, (now - this.lastCollectMs) / 1000);
    this.lastCollectMs = now;
    const out: ReportEntry[] = [];
    for (let slot = 0; slot < this.slots; slot++) {
      this.index(slot, 0); // a slot reused since its last charge starts afresh
      for (let kind = 0; kind < this.kinds; kind++) {
        const i = slot * this.kinds + kind;
        if (this.quota[i] === 0) continue;
        const key = this.keyOf(slot);
        this.demand2[i] = this.demand1[i]!;
        this.demand1[i] = this.demand[i]!;
        if (this.used[i] === 0 && this.throttled[i] === 0) {
          this.demand[i] = 0;
          if (++this.idle[i]! > IDLE_INTERVALS || key === undefined) this.untrack(i);
          continue;
        }
        this.demand[i] = this.throttled[i] ? WANTS_MORE : (this.used[i]! / seconds) * HEADROOM;
        this.used[i] = 0;
        this.throttled[i] = 0;
        if (key !== undefined) out.push({ kind, key, demand: this.demand[i]! });
      }
    }
    return out;
  }

  /**
   * A report part read from the topic (ours: coordination works). Reports are applied whole, in the order read (the
   * topic has one partition), when their last part is read.
   */
  received(r: DecodedPart): void {
    const now = this.now();
    this.stats.entriesDropped += r.skipped;
    if (r.sidecar === this.settings.sidecarId && r.instance === this.instance) {
      this.coordinatedMs = now;
      return;
    }
    const id = `${r.sidecar}\u0000${r.instance}`;
    let remote = this.remotes.get(id);
    if (!remote) {
      remote = this.newRemote(id, r.sidecar, now);
      if (!remote) return;
    }
    remote.heardMs = now;
    if (r.at !== remote.nextAt) {
      remote.nextAt = r.at;
      remote.nextParts.clear();
      remote.next.clear();
      remote.nextTruncated = false;
    }
    remote.nextParts.add(r.part);
    const cap = this.slots - 1;
    for (const e of r.entries) {
      if (remote.next.size >= cap) {
        this.stats.entriesDropped++;
        remote.nextTruncated = true;
        continue;
      }
      remote.next.set(`${e.kind}\u0001${e.key}`, e.demand);
    }
    if (remote.nextParts.size < r.parts) return;
    [remote.demands, remote.next] = [remote.next, remote.demands];
    remote.truncated = remote.nextTruncated;
    remote.next.clear();
    remote.nextParts.clear();
    remote.nextAt = NaN;
    remote.staticShare = r.staticShare;
  }

  /**
   * A process not heard from before. With this sidecar's id, or one that a newer process of its id replaced and that
   * speaks again, it is another sidecar with the same id (counted: the coordinator warns), kept alongside. Otherwise
   * it replaces the processes of its id (a restart: however soon the new one reports). Undefined when maxSidecars - 1
   * others are kept already.
   */
  private newRemote(id: string, sidecar: string, now: number): Remote | undefined {
    const collision = sidecar === this.settings.sidecarId || this.replaced.delete(id);
    if (collision) this.stats.sidecarIdCollisions++;
    else {
      for (const [other, r] of this.remotes) {
        if (r.sidecar !== sidecar) continue;
        this.remotes.delete(other);
        this.replaced.set(other, now);
        // the oldest first (Maps keep insertion order): at most maxSidecars of them
        if (this.replaced.size > this.settings.maxSidecars) this.replaced.delete(this.replaced.keys().next().value!);
      }
    }
    if (this.remotes.size >= this.settings.maxSidecars - 1) this.forget(now);
    if (this.remotes.size >= this.settings.maxSidecars - 1) {
      this.stats.sidecarsRefused++;
      return undefined;
    }
    const remote: Remote = { sidecar, heardMs: now, staticShare: false, demands: new Map(), truncated: false, nextAt: NaN, nextParts: new Set(), next: new Map(), nextTruncated: false };
    this.remotes.set(id, remote);
    return remote;
  }

  /**
   * Recomputes every tracked slot's share from the demands last published (ours) and read (theirs). The work is per
   * tracked slot × kind: one Map lookup per live other sidecar, with a key string made once per slot use (its hash is
   * kept by V8), and the fair share of a handful of demands; `from`/`to` (slots) let the caller do it in chunks.
   */
  recompute(from = 0, to = this.slots): void {
    if (from === 0) this.prepare();
    const live = this.liveRemotes;
    const d = this.scratchDemands.subarray(0, this.live);
    const out = this.scratchShares.subarray(0, this.live);
    const reserved = this.reserved;
    for (let slot = from; slot < to && slot < this.slots; slot++) {
      if (this.gen[slot] !== this.generation[slot]) continue; // reused since collect: starts afresh at its next charge
      let key: string | undefined;
      for (let kind = 0; kind < this.kinds; kind++) {
        const i = slot * this.kinds + kind;
        const q = this.quota[i]!;
        if (q === 0) continue;
        let name = this.names[i];
        if (name === undefined) {
          key ??= this.keyOf(slot);
          if (key === undefined) continue;
          this.names[i] = name = `${kind}\u0001${key}`;
        }
        // Its own demand counts as the least of its last three reports; the others' as their last one read. Each other
        // sidecar then computes with a demand of this one's at least as high as the one it uses itself (the report it
        // read is one of those three, given reports arrive within an interval), and the fair share only falls as the
        // others' demands rise: the shares served add up to no more than the quota, however the sidecars' intervals
        // interleave. A rise takes two intervals to be served; a fall, none.
        d[0] = Math.min(this.demand[i]!, this.demand1[i]!, this.demand2[i]!);
        for (let j = 0; j < live.length; j++) {
          const r = live[j]!;
          d[j + 1] = (r.demands.size === 0 ? undefined : r.demands.get(name)) ?? (r.truncated ? WANTS_MORE : 0);
        }
        fairShares(q * (1 - reserved), d, this.settings.floorShare, out);
        this.share[i] = Math.min(out[0]! / q, this.most);
      }
    }
  }

  /**
   * Before a recompute: forget long-silent sidecars, split the others into live and stale (silent, or on the static
   * share), reserve the static share of each stale one and of each broker without a live sidecar, set the floor.
   */
  private prepare(): void {
    const now = this.now();
    this.forget(now);
    this.liveRemotes.length = 0;
    let stale = 0;
    for (const r of this.remotes.values()) {
      if (now - r.heardMs <= this.settings.staleAfterMs && !r.staticShare) this.liveRemotes.push(r);
      else stale++;
    }
    this.live = this.liveRemotes.length + 1;
    this.stale = stale;
    const b = this.brokers;
    this.reserved = Math.min(b - 1, Math.max(stale, b - this.live)) / b;
    this.floor = ((1 - this.reserved) * this.settings.floorShare) / this.live;
    this.most = b > this.settings.maxSidecars ? 1 / b : 1;
  }

  /** Published this many records and bytes, a report of `entries` entries. */
  published(records: number, bytes: number, entries: number): void {
    this.stats.lastReportEntries = entries;
    this.stats.entriesPublished += entries;
    this.stats.reportsPublished += records;
    this.stats.bytesPublished += bytes;
  }

  clusterStats(): ClusterStats {
    let tracked = 0;
    for (let i = 0; i < this.quota.length; i++) if (this.quota[i]! > 0) tracked++;
    const now = this.now();
    return {
      mode: this.mode(now), sidecarId: this.settings.sidecarId, liveSidecars: this.live, staleSidecars: this.stale, brokers: this.brokers,
      trackedBuckets: tracked, ...this.stats, lastCoordinatedMsAgo: this.coordinatedMs === -Infinity ? null : Math.round(now - this.coordinatedMs),
    };
  }

  private forget(now: number): void {
    for (const [id, r] of this.remotes) if (now - r.heardMs > this.settings.forgetAfterMs) this.remotes.delete(id);
    for (const [id, at] of this.replaced) if (now - at > this.settings.forgetAfterMs) this.replaced.delete(id);
  }

  private untrack(i: number): void {
    this.quota[i] = 0;
    this.demand[i] = 0;
    this.demand1[i] = 0;
    this.demand2[i] = 0;
    this.share[i] = NaN;
    this.idle[i] = 0;
    this.names[i] = undefined;
  }

  /** A slot×kind's index; a slot reused by another key since it was last seen starts afresh. */
  private index(slot: number, kind: number): number {
    const g = this.generation[slot]!;
    if (this.gen[slot] !== g) {
      this.gen[slot] = g;
      for (let k = 0; k < this.kinds; k++) {
        const i = slot * this.kinds + k;
        this.used[i] = 0;
        this.throttled[i] = 0;
        this.untrack(i);
      }
    }
    return slot * this.kinds + kind;
  }
}
