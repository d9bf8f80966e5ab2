// Amounts added over the last window, for a fixed number of counters in preallocated arrays: each counter keeps the
// current fixed window and the one before it, and the sum over the last `windowMs` counts the previous window in
// proportion to how much of it is still inside (the sliding-window estimate rate limiters use). Memory: three numbers a
// counter, whatever is counted.
export class SlidingCounts {
  private readonly current: Float64Array;
  private readonly previous: Float64Array;
  private readonly window: Float64Array;

  constructor(size: number, private readonly windowMs: number) {
    this.current = new Float64Array(size);
    this.previous = new Float64Array(size);
    this.window = new Float64Array(size);
  }

  add(i: number, amount: number, now: number): void {
    this.roll(i, now);
    this.current[i]! += amount;
  }

  /** What was added over the last windowMs, up to `now`. */
  sum(i: number, now: number): number {
    this.roll(i, now);
    const into = (now % this.windowMs) / this.windowMs;
    return this.previous[i]! * (1 - into) + this.current[i]!;
  }

  reset(i: number): void {
    this.current[i] = 0;
    this.previous[i] = 0;
  }

  private roll(i: number, now: number): void {
    const w = Math.floor(now / this.windowMs);
    const behind = w - this.window[i]!;
    if (behind === 0) return;
    this.previous[i] = behind === 1 ? this.current[i]! : 0;
    this.current[i] = 0;
    this.window[i] = w;
  }
}
