// The sidecar-wide admission gate for controller-bound admin requests (CreateTopics, DeleteTopics, AlterConfigs, ...):
// at most admin.maxInFlight of them at the broker at once. The rest wait, each its client connection not read (one
// request per waiting connection is all that is held), in one queue per tenant; a freed place goes to the next tenant
// in turn (round robin), so that one tenant's thousand requests do not put another tenant's single request behind
// them. A mutation the broker has yet to apply may keep its place after its response (admin.holdUntilAppliedMs). A
// waiter whose client goes away leaves its queue; one that waits admin.maxWaitMs is told so (the request is then
// answered REQUEST_TIMED_OUT by its stage).
import type { Counter, Gauge } from 'prom-client';

/** A request's place in the gate: waiting, then admitted (it holds a place until released) or timed out. */
export interface GateTicket {
  state: 'waiting' | 'admitted' | 'timedOut' | 'cancelled';
  readonly tenant: string;
  readonly since: number;
  resume: () => void;
  timer: NodeJS.Timeout | undefined;
}

export interface GateMetrics {
  inFlight: Gauge;
  waiting: Gauge;
  waitSeconds: Counter;
  timeouts: Counter;
}

export class AdminGate {
  private inFlight = 0;
  private waitingCount = 0;
  /** Waiting tickets by tenant; a tenant is here only while it has some (so at most one entry per waiting connection). */
  private readonly queues = new Map<string, GateTicket[]>();

  constructor(
    private maxInFlight: number,
    private maxWaitMs: number,
    private readonly now: () => number,
    private readonly metrics: GateMetrics,
  ) {}

  get stats(): { inFlight: number; waiting: number; waitingTenants: number; maxInFlight: number } {
    return { inFlight: this.inFlight, waiting: this.waitingCount, waitingTenants: this.queues.size, maxInFlight: this.maxInFlight };
  }

  /** New limits (a reload): waiting requests are admitted at once if the gate got wider; waits started keep their timeout. */
  configure(maxInFlight: number, maxWaitMs: number): void {
    this.maxInFlight = maxInFlight;
    this.maxWaitMs = maxWaitMs;
    this.admitNext();
  }

  /** Takes a place at once if one is free and nobody waits; else returns false. */
  tryEnter(): boolean {
    if (this.inFlight >= this.maxInFlight || this.waitingCount > 0) return false;
    this.setInFlight(this.inFlight + 1);
    return true;
  }

  /**
   * Queues a request of `tenant`; `resume` is called once it is admitted or has timed out (after admin.maxWaitMs, or
   * `limitMs` if sooner: the end of its connection's SASL session).
   */
  wait(tenant: string, resume: () => void, limitMs = Infinity): GateTicket {
    const ticket: GateTicket = { state: 'waiting', tenant, since: this.now(), resume, timer: undefined };
    ticket.timer = setTimeout(() => this.timeOut(ticket), Math.max(0, Math.min(this.maxWaitMs, limitMs)));
    let q = this.queues.get(tenant);
    if (!q) this.queues.set(tenant, (q = []));
    q.push(ticket);
    this.setWaiting(this.waitingCount + 1);
    return ticket;
  }

  /** The waiting request's client went away: it leaves the queue (an admitted one must be released instead). */
  cancel(ticket: GateTicket): void {
    if (ticket.state !== 'waiting') return;
    ticket.state = 'cancelled';
    this.leave(ticket);
  }

  /**
   * Takes a place whatever the limit, for a request whose response is coming back now and whose place is released
   * right after (apply-watch.ts: the place stays taken, by the change the broker has yet to apply, until release()).
   */
  reserve(): void {
    this.setInFlight(this.inFlight + 1);
  }

  /** An admitted request's response came back (or its connection closed): its place goes to the next tenant in turn. */
  release(): void {
    this.setInFlight(Math.max(0, this.inFlight - 1));
    this.admitNext();
  }

  private admitNext(): void {
    while (this.inFlight < this.maxInFlight && this.queues.size > 0) {
      // the Map's first tenant is next; after it is served it goes to the back (round robin)
      const [tenant, q] = this.queues.entries().next().value!;
      const ticket = q.shift()!;
      this.queues.delete(tenant);
      if (q.length > 0) this.queues.set(tenant, q);
      this.setWaiting(this.waitingCount - 1);
      clearTimeout(ticket.timer);
      this.metrics.waitSeconds.inc((this.now() - ticket.since) / 1000);
      ticket.state = 'admitted';
      this.setInFlight(this.inFlight + 1);
      ticket.resume();
    }
  }

  private timeOut(ticket: GateTicket): void {
    if (ticket.state !== 'waiting') return;
    ticket.state = 'timedOut';
    this.leave(ticket);
    this.metrics.timeouts.inc();
    this.metrics.waitSeconds.inc((this.now() - ticket.since) / 1000);
    ticket.resume();
  }

  private leave(ticket: GateTicket): void {
    clearTimeout(ticket.timer);
    const q = this.queues.get(ticket.tenant);
    const i = q ? q.indexOf(ticket) : -1;
    if (i < 0) return;
    q!.splice(i, 1);
    if (q!.length === 0) this.queues.delete(ticket.tenant);
    this.setWaiting(this.waitingCount - 1);
  }

  private setInFlight(n: number): void {
    this.inFlight = n;
    this.metrics.inFlight.set(n);
  }

  private setWaiting(n: number): void {
    this.waitingCount = n;
    this.metrics.waiting.set(n);
  }
}
