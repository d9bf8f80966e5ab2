// The requests of one connection awaiting their responses, in order (Kafka answers in request order). A ring of
// numbers that starts small and doubles up to a fixed capacity, so idle connections cost little and
// none can grow without bound. A request the proxy answered itself waits here with its answer until every response
// before it has gone to the client.

/** Flags of an in-flight entry. */
export const RAW_SASL_TOKEN = 1;
/** A fetch already counted as throttled when it was admitted (held or capped): its response adds throttle time only. */
export const THROTTLE_COUNTED = 2;
/** Answered by the proxy (never forwarded): its answer (attached) goes to the client when its turn comes. */
export const LOCAL_ANSWER = 4;
/** Holds a place in the admin gate until its response comes (or its connection closes). */
export const GATED = 8;
/** Its response is taken whole, decoded and passed to the attached Merge (which may change it). */
export const MERGE = 16;
/** A follower's fetch (a broker replicating): its response is charged to no quota, as Kafka exempts replication. */
export const REPLICATION = 32;

/** Called with a decoded response body; returns whether it changed the body. */
export type Merge = (body: object) => boolean;
/** What an entry may carry: a local answer (LOCAL_ANSWER) or a Merge (MERGE). */
export type Attachment = Buffer | Merge;

/** An entry's fields, in its stride of the ring. */
const API_KEY = 0;
const API_VERSION = 1;
const CORRELATION_ID = 2;
const START_MS = 3;
const THROTTLE_MS = 4;
const FLAGS = 5;
const STRIDE = 6;

export class InflightQueue {
  /** The ring: STRIDE numbers per entry (one array of doubles: an idle connection holds one small array, not six). */
  private slots: number[];
  /** Entries the ring holds. */
  private ringSize: number;
  /** Attachments, allocated with the first one (most connections never have any). */
  private attached: (Attachment | undefined)[] | undefined;
  private head = 0;
  private count = 0;

  /** The most entries (a reload may change it: a queue above a lowered capacity is full until it drains below it). */
  constructor(public capacity: number, initial = 4) {
    this.ringSize = Math.min(initial, capacity);
    this.slots = new Array<number>(this.ringSize * STRIDE).fill(0);
  }

  get size(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.capacity;
  }

  /** Appends an entry; returns false (and stores nothing) when the queue is at capacity. */
  push(apiKey: number, apiVersion: number, correlationId: number, startMs: number, flags = 0, throttleMs = 0, attachment?: Attachment): boolean {
    if (this.count >= this.capacity) return false;
    if (this.count === this.ringSize) this.grow();
    const i = (this.head + this.count) % this.ringSize;
    const at = i * STRIDE;
    const s = this.slots;
    s[at + API_KEY] = apiKey;
    s[at + API_VERSION] = apiVersion;
    s[at + CORRELATION_ID] = correlationId;
    s[at + START_MS] = startMs;
    s[at + THROTTLE_MS] = throttleMs;
    s[at + FLAGS] = flags;
    if (attachment !== undefined) (this.attached ??= new Array<Attachment | undefined>(this.ringSize))[i] = attachment;
    else if (this.attached) this.attached[i] = undefined;
    this.count++;
    return true;
  }

  /** The oldest entry's fields (call only when size > 0). */
  firstApiKey(): number {
    return this.slots[this.head * STRIDE + API_KEY]!;
  }

  firstApiVersion(): number {
    return this.slots[this.head * STRIDE + API_VERSION]!;
  }

  firstCorrelationId(): number {
    return this.slots[this.head * STRIDE + CORRELATION_ID]!;
  }

  firstStartMs(): number {
    return this.slots[this.head * STRIDE + START_MS]!;
  }

  /** The throttle the proxy gave the oldest request (ms). */
  firstThrottleMs(): number {
    return this.slots[this.head * STRIDE + THROTTLE_MS]!;
  }

  firstFlags(): number {
    return this.slots[this.head * STRIDE + FLAGS]!;
  }

  /** The oldest entry's attachment (LOCAL_ANSWER and MERGE entries). */
  firstAttachment(): Attachment | undefined {
    return this.attached?.[this.head];
  }

  /** How many entries have all of `flags`. */
  countFlagged(flags: number): number {
    let n = 0;
    for (let k = 0; k < this.count; k++) if ((this.slots[((this.head + k) % this.ringSize) * STRIDE + FLAGS]! & flags) === flags) n++;
    return n;
  }

  shift(): void {
    if (this.count === 0) return;
    if (this.attached) this.attached[this.head] = undefined;
    this.head = (this.head + 1) % this.ringSize;
    this.count--;
  }

  /** Doubles the ring (up to capacity), the entries in order from its start. */
  private grow(): void {
    const n = Math.min(this.ringSize * 2, this.capacity);
    const slots = new Array<number>(n * STRIDE).fill(0);
    const attached = this.attached && new Array<Attachment | undefined>(n);
    for (let k = 0; k < this.count; k++) {
      const from = (this.head + k) % this.ringSize;
      for (let f = 0; f < STRIDE; f++) slots[k * STRIDE + f] = this.slots[from * STRIDE + f]!;
      if (attached) attached[k] = this.attached![from];
    }
    this.slots = slots;
    this.attached = attached;
    this.ringSize = n;
    this.head = 0;
  }
}
