// The quota state: a fixed number of slots, each a token bucket per quota kind, in preallocated typed arrays, found
// through a bounded key → slot index kept in least-recently-used order. Its memory depends on its capacity alone.
//
// Buckets refill lazily when touched (no timers): tokens = min(burst, tokens + rate × elapsed). A new bucket starts with
// `startShare` of its burst (see quotaTable.newBucketShare in the config). A charge may take the tokens below zero (the
// request is still forwarded); the owner is then throttled for -tokens / rate (Kafka's KIP-599 bucket: admit while
// tokens ≥ 0, throttle for the debt).
//
// Eviction, when a new key needs a slot and none is free, looks at the least recently used slots (up to
// EVICTION_SCAN of them):
//   1. a slot whose buckets are all full again (idle long enough to refill) is reused: nothing is lost;
//   2. else a slot none of whose buckets is below zero is reused, forgiving what it had used (counted as an eviction
//      that lost debt: the table is too small for the traffic);
//   3. else (every candidate is throttled) no slot is taken from anyone: the new key gets the overflow slot, so a
//      tenant in debt keeps its debt however many new keys (client ids) appear. What the overflow slot is depends on
//      the table: in the quota table (`sharedOverflow` false) it keeps no balance: each charge to it is throttled as
//      if from an empty bucket of that rate (cost ÷ rate), so keys that found no slot cannot throttle one another (a
//      shared balance let one tenant inventing client ids and declaring huge produce frames throttle every newcomer
//      for minutes). The price: such a key's connections are throttled each on its own, so each gets up to the rate
//      (a tenant with 20 connections, 20x its quota) for as long as the table stays full of debtors, which the
//      KafkaQuotaProxyQuotaTableOverflow alert reports (Kafka gives every client id of a <default> client-id quota a
//      whole quota of its own in any case); in the connection guard's table (`sharedOverflow` true) it is one
//      shared bucket: addresses beyond the table share one creation rate.
import { createHash } from 'node:crypto';
import { SlidingCounts } from './sliding-counts.js';

export const EVICTION_SCAN = 16;
const NONE = -1;
/** Windows of the activity each slot keeps for /tenants: throttle time over a minute, use (the current rate) over 10 s. */
const THROTTLE_WINDOW_MS = 60_000;
const USE_WINDOW_MS = 10_000;

/** A slot's recent activity, for /tenants. */
export interface SlotActivity {
  slot: number;
  key: string;
  /** Throttle its buckets gave over the last minute (ms). */
  throttleMs: number;
  /** Per kind: the rate, burst and tokens of its bucket now, and its use per second over the last 10 s (null: never charged). */
  buckets: ({ rate: number; burst: number; tokens: number; usePerSec: number } | null)[];
}

export interface TableStats {
  capacity: number;
  used: number;
  evictions: number;
  evictionsLostDebt: number;
  overflowed: number;
}

export class BucketTable {
  readonly capacity: number;
  /** The shared slot for keys that found no slot (index = capacity). */
  readonly overflowSlot: number;
  // per slot × kind
  private readonly tokens: Float64Array;
  private readonly lastMs: Float64Array;
  private readonly rate: Float64Array;
  private readonly burst: Float64Array;
  private readonly use: SlidingCounts;
  // per slot
  private readonly throttle: SlidingCounts;
  // per slot: LRU links (most recent at head), owner key, generation (bumped on reuse)
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  readonly generation: Uint32Array;
  private readonly keys: (string | undefined)[];
  private readonly index = new Map<string, number>();
  private head = NONE;
  private tail = NONE;
  private freeTop: number;
  private readonly free: Int32Array;
  readonly stats: TableStats;

  constructor(
    capacity: number,
    private readonly maxKeyLength: number,
    private readonly now: () => number,
    private readonly startShare = 1,
    /** Buckets per slot (the quota kinds; 1 for a table of a single rate). */
    readonly kinds = 1,
    /** The overflow slot is one shared bucket (true), or keeps no balance (see above). */
    private readonly sharedOverflow = false,
  ) {
    this.capacity = capacity;
    this.overflowSlot = capacity;
    const slots = capacity + 1;
    this.tokens = new Float64Array(slots * kinds).fill(NaN); // NaN: never charged, i.e. full
    this.lastMs = new Float64Array(slots * kinds);
    this.rate = new Float64Array(slots * kinds);
    this.burst = new Float64Array(slots * kinds);
    this.use = new SlidingCounts(slots * kinds, USE_WINDOW_MS);
    this.throttle = new SlidingCounts(slots, THROTTLE_WINDOW_MS);
    this.prev = new Int32Array(capacity).fill(NONE);
    this.next = new Int32Array(capacity).fill(NONE);
    this.generation = new Uint32Array(slots);
    this.keys = new Array<string | undefined>(capacity).fill(undefined);
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeTop = capacity;
    this.stats = { capacity, used: 0, evictions: 0, evictionsLostDebt: 0, overflowed: 0 };
  }

  /** Bounds a key's length: longer keys keep a prefix and a hash of the whole. */
  boundKey(key: string): string {
    if (key.length <= this.maxKeyLength) return key;
    const hash = createHash('sha256').update(key).digest('base64url').slice(0, 22);
    return `${key.slice(0, this.maxKeyLength - 23)}#${hash}`;
  }

  /** The slot of a key, without creating one; undefined if it has none. */
  find(key: string): number | undefined {
    return this.index.get(this.boundKey(key));
  }

  /** The slot of a key, taking one (see the eviction policy above) if it has none; may be the overflow slot. */
  slotFor(key: string): number {
    const k = this.boundKey(key);
    const found = this.index.get(k);
    if (found !== undefined) {
      this.touch(found);
      return found;
    }
    let slot: number;
    if (this.freeTop > 0) {
      slot = this.free[--this.freeTop]!;
      this.stats.used++;
    } else {
      const victim = this.victim();
      if (victim === NONE) {
        this.stats.overflowed++;
        return this.overflowSlot;
      }
      slot = victim;
      this.index.delete(this.keys[slot]!);
      this.unlink(slot);
    }
    this.keys[slot] = k;
    this.index.set(k, slot);
    this.generation[slot]!++;
    for (let kind = 0; kind < this.kinds; kind++) {
      this.tokens[slot * this.kinds + kind] = NaN;
      this.use.reset(slot * this.kinds + kind);
    }
    this.throttle.reset(slot);
    this.pushHead(slot);
    return slot;
  }

  /** Tokens in a bucket after refilling it (its start level when never charged). */
  tokensOf(slot: number, kind: number, rate: number, burst: number): number {
    if (slot === this.overflowSlot && !this.sharedOverflow) return 0;
    const i = slot * this.kinds + kind;
    this.refill(i, rate, burst);
    return this.tokens[i]!;
  }

  /** Takes `cost` tokens (the balance may go negative); returns the throttle time in ms (0 while tokens ≥ 0). */
  charge(slot: number, kind: number, cost: number, rate: number, burst: number): number {
    const i = slot * this.kinds + kind;
    if (slot === this.overflowSlot && !this.sharedOverflow) {
      this.use.add(i, cost, this.now());
      return (cost / rate) * 1000;
    }
    this.refill(i, rate, burst);
    this.use.add(i, cost, this.lastMs[i]!);
    const left = (this.tokens[i]! -= cost);
    return left >= 0 ? 0 : (-left / rate) * 1000;
  }

  /** Raises a bucket that is below `min` (a negative balance) to it: a debt never deeper than that. */
  floor(slot: number, kind: number, min: number): void {
    if (slot === this.overflowSlot && !this.sharedOverflow) return;
    const i = slot * this.kinds + kind;
    if (this.tokens[i]! < min) this.tokens[i] = min;
  }

  /** Gives back `cost` charged before (what it was charged for did not happen), up to the burst. */
  refund(slot: number, kind: number, cost: number, rate: number, burst: number): void {
    if (slot === this.overflowSlot && !this.sharedOverflow) return;
    const i = slot * this.kinds + kind;
    this.refill(i, rate, burst);
    this.tokens[i] = Math.min(burst, this.tokens[i]! + cost);
  }

  /** Throttle time a slot's buckets gave (for /tenants). */
  recordThrottle(slot: number, ms: number): void {
    this.throttle.add(slot, ms, this.now());
  }

  /**
   * The `n` slots with the most throttle time over the last minute (only those with some), most first: a scan of the
   * table, keeping the best n as it goes.
   */
  mostThrottled(n: number): SlotActivity[] {
    const now = this.now();
    const best: { slot: number; ms: number }[] = [];
    for (let slot = 0; slot <= this.capacity; slot++) {
      const ms = this.throttle.sum(slot, now);
      if (ms <= 0 || (best.length === n && ms <= best[n - 1]!.ms)) continue;
      let at = best.length;
      while (at > 0 && best[at - 1]!.ms < ms) at--;
      best.splice(at, 0, { slot, ms });
      if (best.length > n) best.pop();
    }
    return best.map(({ slot, ms }) => ({
      slot,
      key: slot === this.overflowSlot ? '(overflow)' : this.keys[slot]!,
      throttleMs: ms,
      buckets: Array.from({ length: this.kinds }, (_, kind) => {
        const i = slot * this.kinds + kind;
        if (Number.isNaN(this.tokens[i]!)) return null;
        return { rate: this.rate[i]!, burst: this.burst[i]!, tokens: this.peek(i, now), usePerSec: (this.use.sum(i, now) * 1000) / USE_WINDOW_MS };
      }),
    }));
  }

  /** The key owning a slot (undefined for free slots and the overflow slot). */
  keyOf(slot: number): string | undefined {
    return slot < this.capacity ? this.keys[slot] : undefined;
  }

  private refill(i: number, rate: number, burst: number): void {
    const now = this.now();
    const t = this.tokens[i]!;
    this.rate[i] = rate;
    this.burst[i] = burst;
    this.tokens[i] = Number.isNaN(t) ? burst * this.startShare : Math.min(burst, t + (rate * (now - this.lastMs[i]!)) / 1000);
    this.lastMs[i] = now;
  }

  /** What a new bucket of this burst starts with. */
  startTokens(burst: number): number {
    return burst * this.startShare;
  }

  /** Tokens a bucket would hold now, from its last rate and burst (NaN: never charged). */
  private peek(i: number, now: number): number {
    const t = this.tokens[i]!;
    return Number.isNaN(t) ? Infinity : Math.min(this.burst[i]!, t + (this.rate[i]! * (now - this.lastMs[i]!)) / 1000);
  }

  private victim(): number {
    const now = this.now();
    let forgivable = NONE;
    let slot = this.tail;
    for (let n = 0; n < EVICTION_SCAN && slot !== NONE; n++, slot = this.prev[slot]!) {
      let full = true;
      let inDebt = false;
      for (let kind = 0; kind < this.kinds; kind++) {
        const i = slot * this.kinds + kind;
        const t = this.peek(i, now);
        if (t < this.burst[i]!) full = false;
        if (t < 0) inDebt = true;
      }
      if (full) {
        this.stats.evictions++;
        return slot;
      }
      if (!inDebt && forgivable === NONE) forgivable = slot;
    }
    if (forgivable !== NONE) {
      this.stats.evictions++;
      this.stats.evictionsLostDebt++;
    }
    return forgivable;
  }

  private touch(slot: number): void {
    if (this.head === slot) return;
    this.unlink(slot);
    this.pushHead(slot);
  }

  private unlink(slot: number): void {
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p !== NONE) this.next[p] = n;
    else this.head = n;
    if (n !== NONE) this.prev[n] = p;
    else this.tail = p;
    this.prev[slot] = NONE;
    this.next[slot] = NONE;
  }

  private pushHead(slot: number): void {
    this.prev[slot] = NONE;
    this.next[slot] = this.head;
    if (this.head !== NONE) this.prev[this.head] = slot;
    this.head = slot;
    if (this.tail === NONE) this.tail = slot;
  }
}
