// The requests of one connection awaiting their responses, in order (Kafka answers in request order). A ring of
// parallel typed arrays that starts small and doubles up to a fixed capacity, so idle connections cost little and
// none can grow without bound. A request the proxy answered itself waits here with its answer until every response
// before it has gone to the client.

/** Flags of an in-flight entry. */
export const RAW_SASL_TOKEN = 1;
/** A fetch already counted as throttled when it was admitted (held or capped): its response adds throttle time only. */
export const THROTTLE_COUNTED = 2;
/** Answered by the proxy (never forwarded): its answer goes to the client when its turn comes. */
export const LOCAL_ANSWER = 4;

export class InflightQueue {
  private apiKey: Int16Array;
  private apiVersion: Int16Array;
  private correlationId: Int32Array;
  private startMs: Float64Array;
  private throttleMs: Float64Array;
  private flags: Uint8Array;
  /** Local answers, allocated with the first one (most connections never have any). */
  private answers: (Buffer | undefined)[] | undefined;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number, initial = 4) {
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
  push(apiKey: number, apiVersion: number, correlationId: number, startMs: number, flags = 0, throttleMs = 0, answer?: Buffer): boolean {
    if (this.count >= this.capacity) return false;
    if (this.count === this.apiKey.length) this.grow();
    const i = (this.head + this.count) % this.apiKey.length;
    this.apiKey[i] = apiKey;
    this.apiVersion[i] = apiVersion;
    this.correlationId[i] = correlationId;
    this.startMs[i] = startMs;
    this.throttleMs[i] = throttleMs;
    this.flags[i] = flags;
    if (answer !== undefined) (this.answers ??= new Array<Buffer | undefined>(this.apiKey.length))[i] = answer;
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

  /** The oldest entry's local answer (LOCAL_ANSWER entries). */
  firstAnswer(): Buffer | undefined {
    return this.answers?.[this.head];
  }

  shift(): void {
    if (this.count === 0) return;
    if (this.answers) this.answers[this.head] = undefined;
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
    if (this.answers) {
      const answers = order(this.answers);
      answers.length = n;
      this.answers = answers;
    }
    this.head = 0;
  }
}
