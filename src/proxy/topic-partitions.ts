// How many partitions each topic has, for the partition-mutation quota: DeleteTopics and CreatePartitions do not say
// how many partitions they remove or add. A bounded cache (admin.topicCacheCapacity topics, the oldest forgotten
// first) learnt from what the sidecar relays (Metadata responses, CreateTopics responses, accepted CreatePartitions)
// and, for a topic it does not know, asked of the broker with a Metadata request of the sidecar's own. Topics are
// known by name and, for DeleteTopics v6+, by topic id.
import { ErrorCode } from '../protocol/generated/error-codes.js';
import type { MetadataResponse } from '../protocol/generated/metadata-response.js';
import { isZeroId, type MetadataLookups, type TopicRef } from './metadata-lookup.js';

const LOOKUP_TIMEOUT_MS = 2000;
/** Lookups of the broker under way at once; a miss beyond them is charged the default partition count. */
const MAX_LOOKUPS = 8;

export class TopicPartitions {
  /** name, or "id:" + hex id → partitions (insertion order: the oldest is forgotten first). */
  private readonly counts = new Map<string, number>();
  private underWay = 0;

  constructor(
    private readonly capacity: number,
    /** The broker's num.partitions as configured, until a CreateTopics response shows the broker's own. */
    public defaultPartitions: number,
    private readonly lookups: MetadataLookups | undefined,
  ) {}

  get size(): number {
    return this.counts.size;
  }

  /** The topic's partition count, or undefined when not known. */
  get(t: TopicRef): number | undefined {
    return this.counts.get(key(t));
  }

  set(t: TopicRef, partitions: number): void {
    if (t.name !== null) this.put(t.name, partitions);
    if (t.topicId && !isZeroId(t.topicId)) this.put(idKey(t.topicId), partitions);
  }

  forget(t: TopicRef): void {
    if (t.name !== null) this.counts.delete(t.name);
    if (t.topicId) this.counts.delete(idKey(t.topicId));
  }

  /** Learns from a Metadata response relayed to a client (decoded). */
  learnMetadata(body: MetadataResponse): void {
    for (const t of body.topics) if (t.errorCode === ErrorCode.NONE) this.set(t, t.partitions.length);
  }

  /**
   * Asks the broker for topics it does not know; calls `done` when their counts are known (or could not be found:
   * they are then charged the default). Returns false, without calling `done`, when too many lookups are under way.
   */
  lookUp(topics: TopicRef[], done: () => void): boolean {
    if (!this.lookups || this.underWay >= MAX_LOOKUPS) return false;
    this.underWay++;
    void this.lookups.lookUp(topics, 'kqp-topic-partitions', LOOKUP_TIMEOUT_MS).then((response) => {
      this.underWay--;
      if (response) this.learnMetadata(response);
      done();
    });
    return true;
  }

  private put(k: string, partitions: number): void {
    this.counts.delete(k);
    if (this.counts.size >= this.capacity) this.counts.delete(this.counts.keys().next().value!);
    this.counts.set(k, partitions);
  }
}

function key(t: TopicRef): string {
  return t.name ?? idKey(t.topicId!);
}

function idKey(id: Buffer): string {
  return `id:${id.toString('hex')}`;
}
