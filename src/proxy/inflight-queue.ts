// The requests of one connection awaiting their responses, in order (Kafka answers in request order). A ring of
// parallel typed arrays that starts small and doubles up to a fixed capacity, so idle connections cost little and
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

/** Called with a decoded response body; returns whether it changed the body. */
export type Merge = (body: object) => boolean;
/** What an entry may carry: a local answer (LOCAL_ANSWER) or a Merge (MERGE). */
export type Attachment = Buffer | Merge;

export class InflightQueue {
  private apiKey: Int16Array;
  private apiVersion: Int16Array;
  private correlationId: Int32Array;
  private startMs: Float64Array;
  private throttleMs: Float64Array;
  private flags: Uint8Array;
  /** Attachments, allocated with the first one (most connections never have any). */
  private attached: (Attachment | undefined)[] | undefined;
  private head = 0;
  private count = 0;

  /** The most entries (a reload may change it: a queue above a lowered capacity is full until it drains below it). */
  constructor(public capacity: number, initial = 4) {
    const n = Math.min(initial, capacity);
    this.apiKey = new Int16Array(n);
    this.apiVersion = new Int16Array(n);
    this.correlationId = new Int32Array(n);
    this.startMs = new Float64Array(n);
    this.throttleMs = new Float64Array(n);
    this.flags = new Uint8Array(n);
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
    if (this.count === this.apiKey.length) this.grow();
    const i = (this.head + this.count) % this.apiKey.length;
    this.apiKey[i] = apiKey;
    this.apiVersion[i] = apiVersion;
    this.correlationId[i] = correlationId;
    this.startMs[i] = startMs;
    this.throttleMs[i] = throttleMs;
    this.flags[i] = flags;
    if (attachment !== undefined) (this.attached ??= new Array<Attachment | undefined>(this.apiKey.length))[i] = attachment;
    else if (this.attached) this.attached[i] = undefined;
    this.count++;
    return true;
  }

  /** The oldest entry's fields (call only when size > 0). */
  firstApiKey(): number {
    return this.apiKey[this.head]!;
  }

  firstApiVersion(): number {
    return this.apiVersion[this.head]!;
  }

  firstCorrelationId(): number {
    return this.correlationId[this.head]!;
  }

  firstStartMs(): number {
    return this.startMs[this.head]!;
  }

  /** The throttle the proxy gave the oldest request (ms). */
  firstThrottleMs(): number {
    return this.throttleMs[this.head]!;
  }

  firstFlags(): number {
    return this.flags[this.head]!;
  }

  /** The oldest entry's attachment (LOCAL_ANSWER and MERGE entries). */
  firstAttachment(): Attachment | undefined {
    return this.attached?.[this.head];
  }

  /** How many entries have all of `flags`. */
  countFlagged(flags: number): number {
    let n = 0;
    for (let k = 0; k < this.count; k++) if ((this.flags[(this.head + k) % this.flags.length]! & flags) === flags) n++;
    return n;
  }

  shift(): void {
    if (this.count === 0) return;
    if (this.attached) this.attached[this.head] = undefined;
    this.head = (this.head + 1) % this.apiKey.length;
    this.count--;
  }

  private grow(): void {
    const n = Math.min(this.apiKey.length * 2, this.capacity);
    const order = <T>(a: ArrayLike<T>): T[] => Array.from({ length: this.count }, (_, k) => a[(this.head + k) % a.length] as T);
    const next = <T extends Int16Array | Int32Array | Float64Array | Uint8Array>(make: new (n: number) => T, a: T): T => {
      const b = new make(n);
      b.set(order(a));
      return b;
    };
    this.apiKey = next(Int16Array, this.apiKey);
    this.apiVersion = next(Int16Array, this.apiVersion);
    this.correlationId = next(Int32Array, this.correlationId);
    this.startMs = next(Float64Array, this.startMs);
    this.throttleMs = next(Float64Array, this.throttleMs);
    this.flags = next(Uint8Array, this.flags);
    if (this.attached) {
      const attached = order(this.attached);
      attached.length = n;
      this.attached = attached;
    }
    this.head = 0;
  }
}
