// Fair turns for topics refused by the partition-mutation quota. Kafka refuses a topic with THROTTLING_QUOTA_EXCEEDED
// and throttle_time_ms = the tenant's debt; every refused client then retries when the debt is paid, and whichever
// arrives first wins, so in a storm a call can lose round after round until the Java AdminClient gives up
// (default.api.timeout.ms, 60 s). Here a refused topic gets a turn instead: the tenant's topics queue up one after the
// other, each taking its partitions ÷ the rate, and throttle_time_ms tells the client when its turn comes. A topic that
// comes back at its turn is accepted; a new topic of a tenant with topics waiting goes to the back of its queue. So
// a tenant's calls are served in the order they were first refused, and each waits for what is ahead of it, not for
// luck. (The retry names the same topic: that is how its turn is found.) Bounded: at most `capacity` turns and
// tenants are kept, the oldest forgotten first (a forgotten turn's topic queues again when it comes back).

/** A retry may come back this much before its turn (timers, clocks) and still be accepted. */
const EARLY_MS = 50;

export class MutationTurns {
  /** tenant, API and topic → when its turn starts (ms). */
  private readonly turns = new Map<string, number>();
  /** tenant → when the last of its queued turns ends (ms). */
  private readonly tails = new Map<string, number>();

  constructor(private readonly capacity: number, private readonly now: () => number) {}

  get size(): number {
    return this.turns.size;
  }

  /**
   * Decides one topic of a tenant whose bucket is `debtMs` in debt (0: not in debt): 0 when it may go now, else how
   * long (ms) until its turn. `costMs` is its partitions ÷ the tenant's rate.
   */
  decide(tenant: string, topic: string, costMs: number, debtMs: number): number {
    const now = this.now();
    const key = `${tenant}\u0000${topic}`;
    const due = this.turns.get(key);
    if (due !== undefined) {
      if (now >= due - EARLY_MS) {
        this.turns.delete(key);
        return 0;
      }
      return due - now;
    }
    const tail = this.tails.get(tenant) ?? 0;
    if (debtMs <= 0 && tail <= now) return 0; // nobody waiting and not in debt: Kafka's own rule
    const start = Math.max(now + debtMs, tail);
    put(this.tails, tenant, start + costMs, this.capacity);
    put(this.turns, key, start, this.capacity);
    return start - now;
  }
}

function put(map: Map<string, number>, key: string, value: number, capacity: number): void {
  map.delete(key);
  if (map.size >= capacity) map.delete(map.keys().next().value!);
  map.set(key, value);
}
