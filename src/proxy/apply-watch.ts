// Whether this broker has applied the topic changes its controller accepted (admin.holdUntilAppliedMs). In KRaft a
// CreateTopics or DeleteTopics is answered once the controller has committed it; each broker then applies it on its
// one metadata thread (BrokerMetadataPublisher: the metadata cache, then ReplicaManager.applyDelta, which creates or
// removes the logs). In a storm the brokers fell minutes behind their controller (issue 11), and a quiet tenant's new
// topic stayed unusable that long. A mutation the sidecar forwarded keeps its admission-gate place until the broker's
// own Metadata shows it (or for holdUntilAppliedMs at most), so at most admin.maxInFlight mutations are at the
// controller or not yet applied: the gate admits at the rate the broker applies.
//
// One topic is watched per request, its last accepted one: the controller appends a request's records together and
// the broker applies the log in order, so when the last shows the others have too. Every 100 ms while anything is
// watched, one Metadata request of the sidecar's own asks about all of them (at most admin.maxInFlight topics); when
// the broker does not answer it (a SASL listener does not, without upstream.sasl or with a login it refuses) they
// are let go.
import type { Counter, Gauge } from 'prom-client';
import { ErrorCode } from '../protocol/generated/error-codes.js';
import type { MetadataResponse } from '../protocol/generated/metadata-response.js';
import { isZeroId, type MetadataLookups } from './metadata-lookup.js';

const POLL_MS = 100;
const LOOKUP_TIMEOUT_MS = 2000;

/** A change the controller accepted: the topic with `partitions` partitions at least, or (0) deleted. */
export interface TopicChange {
  name: string;
  partitions: number;
  /** The topic's id as the broker answered it (all zeros, or absent: unknown). */
  topicId?: Buffer;
}

interface Watch {
  change: TopicChange;
  since: number;
  timer: NodeJS.Timeout;
  done: () => void;
}

export interface ApplyMetrics {
  unapplied: Gauge;
  lagSeconds: Gauge;
  timeouts: Counter;
}

export class ApplyWatch {
  /** At most one per admin gate place (each watch holds one). */
  private readonly watches = new Set<Watch>();
  private poller: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly lookups: MetadataLookups,
    /** The longest a change is watched (0: off). */
    private maxMs: number,
    private readonly now: () => number,
    private readonly metrics: ApplyMetrics,
  ) {}

  get stats(): { unapplied: number; holdUntilAppliedMs: number } {
    return { unapplied: this.watches.size, holdUntilAppliedMs: this.maxMs };
  }

  /** A reload: watches under way keep their limit. */
  configure(maxMs: number): void {
    this.maxMs = maxMs;
  }

  /**
   * Calls `done` once the broker shows `change` (or after holdUntilAppliedMs). Returns false, and never calls `done`,
   * when watching is off. A deletion ends the watch of the same topic's creation (its creation was applied before it).
   */
  watch(change: TopicChange, done: () => void): boolean {
    if (this.maxMs <= 0) return false;
    if (change.partitions === 0) for (const w of this.watches) if (w.change.name === change.name && w.change.partitions > 0) this.finish(w, true);
    const w: Watch = { change, since: this.now(), done, timer: setTimeout(() => this.finish(w, false), this.maxMs) };
    w.timer.unref();
    this.watches.add(w);
    this.setUnapplied();
    this.schedule();
    return true;
  }

  /** Ends every watch (the sidecar stops): their places are given back. */
  stop(): void {
    clearTimeout(this.poller);
    for (const w of this.watches) this.finish(w, true);
  }

  private schedule(): void {
    if (this.poller || this.polling || this.watches.size === 0) return;
    this.poller = setTimeout(() => void this.poll(), POLL_MS);
    this.poller.unref();
  }

  private async poll(): Promise<void> {
    this.poller = undefined;
    this.polling = true;
    const asked = [...this.watches];
    const names = [...new Set(asked.map((w) => w.change.name))];
    const answer = await this.lookups.lookUp(names.map((name) => ({ name })), 'kqp-apply-watch', LOOKUP_TIMEOUT_MS);
    this.polling = false;
    // no answer (a SASL listener closes a connection whose first request is not part of a login, and refuses a wrong
    // one; a broker too busy to answer in 2 s): what was asked is not held on a guess, and counted
    for (const w of asked) if (this.watches.has(w) && (!answer || applied(w.change, answer))) this.finish(w, answer !== undefined);
    this.schedule();
  }

  private finish(w: Watch, shown: boolean): void {
    if (!this.watches.delete(w)) return;
    clearTimeout(w.timer);
    if (!shown) this.metrics.timeouts.inc();
    this.metrics.lagSeconds.set((this.now() - w.since) / 1000);
    this.setUnapplied();
    w.done();
  }

  private setUnapplied(): void {
    this.metrics.unapplied.set(this.watches.size);
  }
}

/** Whether the broker's Metadata answer shows the change. */
export function applied(change: TopicChange, answer: MetadataResponse): boolean {
  const t = answer.topics.find((x) => x.name === change.name);
  const sameId = !change.topicId || isZeroId(change.topicId) || (t !== undefined && t.topicId.equals(change.topicId));
  if (change.partitions === 0) return !t || t.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION || !sameId;
  return t !== undefined && t.errorCode === ErrorCode.NONE && sameId && t.partitions.length >= change.partitions;
}
