// Readiness: the broker answers. Every interval, a fresh connection sends an ApiVersions v0 request and waits for
// its response; the last outcome is the proxy's readiness.
import type { UpstreamDialer } from './upstream-dialer.js';

// ApiVersions v0 request, header v1: key 18, version 0, correlation id 1, client id "kqp-probe"
export const PROBE_REQUEST = Buffer.from('00000013001200000000000100096b71702d70726f6265', 'hex');

export function probeBroker(broker: UpstreamDialer, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = broker.connect();
    let got = 0;
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.write(PROBE_REQUEST);
    socket.on('data', (c: Buffer) => {
      got += c.length;
      if (got >= 10) finish(true); // size, correlation id, error code: the broker is answering
    });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

export class BrokerProbe {
  ready = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly at: UpstreamDialer,
    /** Told when readiness changes (not of the first outcome: the proxy's start says that). */
    private readonly changed: (ready: boolean) => void = () => undefined,
    private readonly intervalMs = 2000,
    private readonly timeoutMs = 2000,
  ) {}

  async start(): Promise<void> {
    await this.check();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async check(): Promise<void> {
    const first = this.timer === undefined;
    const ready = await probeBroker(this.at, this.timeoutMs);
    if (ready !== this.ready && !first && !this.stopped) this.changed(ready);
    this.ready = ready;
    if (!this.stopped) this.timer = setTimeout(() => void this.check(), this.intervalMs).unref();
  }
}
