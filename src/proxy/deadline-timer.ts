// A timer that fires once the proxy's clock reaches a deadline. setTimeout counts from the event loop's time when the
// current iteration began (libuv's cached uv_now), which is behind the clock by as long as the iteration has taken so
// far (a burst of accepts, a chunk of many requests): a timer armed late in an iteration fires that much early. This
// one checks the clock when it fires and re-arms itself for what is left, so that a throttle, a hold or a connection's
// wait ends when the clock that computed it says so, never before.
/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days): a longer one fires after 1 ms, with a warning. */
export const MAX_TIMER_MS = 0x7fffffff;

export class DeadlineTimer {
  private timer: NodeJS.Timeout | undefined;

  /** `clock.now()`: the proxy's clock (ms), the one the deadlines are computed from. */
  constructor(private readonly clock: { now(): number }) {}

  /** Calls `fire` once the clock reaches `until` (in a later tick, even if it already has); replaces a deadline set before. */
  set(until: number, fire: () => void): void {
    clearTimeout(this.timer);
    const check = () => {
      const left = until - this.clock.now();
      if (left > 0) {
        this.timer = setTimeout(check, Math.min(MAX_TIMER_MS, Math.ceil(left)));
        return;
      }
      this.timer = undefined;
      fire();
    };
    this.timer = setTimeout(check, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(until - this.clock.now()))));
  }

  /** Forgets the deadline: `fire` is not called. */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
