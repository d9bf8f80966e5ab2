// pino loggers: one root logger, a child per connection, and warnings rate-limited per kind so that a flood of bad
// clients cannot flood the log.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return destination ? pino({ level, base: { name: 'kafka-quota-proxy' } }, destination) : pino({ level, base: { name: 'kafka-quota-proxy' } });
}

/**
 * Allows at most `perWindow` lines of each kind per window; the first line after a window in which lines were
 * dropped says how many. Bounded: at most `maxKinds` kinds are tracked; when that many are, kinds not seen in the
 * current window are forgotten first (saying what they dropped), and only then do new kinds share one bucket.
 */
export class RateLimitedLog {
  private readonly counts = new Map<string, { window: number; logged: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly perWindow = 10,
    private readonly windowMs = 60_000,
    private readonly maxKinds = 64,
    private readonly now: () => number = Date.now,
  ) {}

  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    const window = Math.floor(this.now() / this.windowMs);
    if (!this.counts.has(kind) && this.counts.size >= this.maxKinds) this.forgetBefore(window);
    const key = this.counts.has(kind) || this.counts.size < this.maxKinds ? kind : '(other)';
    let c = this.counts.get(key);
    if (!c || c.window !== window) {
      const suppressed = c?.suppressed ?? 0;
      c = { window, logged: 0, suppressed: 0 };
      this.counts.set(key, c);
      if (suppressed > 0) this.log.warn({ kind: key, suppressed }, `${suppressed} similar warnings were suppressed`);
    }
    if (c.logged < this.perWindow) {
      c.logged++;
      this.log.warn({ kind, ...fields }, message);
    } else {
      c.suppressed++;
    }
  }

  private forgetBefore(window: number): void {
    for (const [kind, c] of this.counts) {
      if (c.window >= window) continue;
      this.counts.delete(kind);
      if (c.suppressed > 0) this.log.warn({ kind, suppressed: c.suppressed }, `${c.suppressed} similar warnings were suppressed`);
    }
  }
}
