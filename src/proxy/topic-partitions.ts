// How many partitions each topic has, for the partition-mutation quota: DeleteTopics and CreatePartitions do not say
// how many partitions they remove or add. A bounded cache (admin.topicCacheCapacity topics, the oldest forgotten
// first) learnt from what the sidecar relays (Metadata responses, CreateTopics responses, accepted CreatePartitions)
// and, for a topic it does not know, asked of the broker with a Metadata request of the sidecar's own. Topics are
// known by name and, for DeleteTopics v6+, by topic id.
import type { UpstreamDialer } from './upstream-dialer.js';
import { REQUEST_CODECS, RESPONSE_CODECS } from '../protocol/generated/codecs.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import { ErrorCode } from '../protocol/generated/error-codes.js';
import type { MetadataRequest } from '../protocol/generated/metadata-request.js';
import type { MetadataResponse } from '../protocol/generated/metadata-response.js';
import { readResponseHeader, writeRequestHeader } from '../protocol/headers.js';
import { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { SIZE_PREFIX } from '../protocol/frame-splitter.js';

/** Metadata v12: topics by name or by id, supported by every broker from 3.1 on. */
const METADATA_VERSION = 12;
const LOOKUP_TIMEOUT_MS = 2000;
/** Lookups of the broker under way at once; a miss beyond them is charged the default partition count. */
const MAX_LOOKUPS = 8;
/** The largest Metadata response a lookup reads. */
const MAX_LOOKUP_RESPONSE = 16 * 1024 * 1024;

/** A topic by name, or by id (16 bytes) when its name is null. */
export interface TopicRef {
  name: string | null;
  topicId?: Buffer;
}

export class TopicPartitions {
  /** name, or "id:" + hex id → partitions (insertion order: the oldest is forgotten first). */
  private readonly counts = new Map<string, number>();
  private lookups = 0;
  private correlationId = 0;

  constructor(
    private readonly capacity: number,
    /** The broker's num.partitions as configured, until a CreateTopics response shows the broker's own. */
    public defaultPartitions: number,
    private readonly upstream: UpstreamDialer | undefined,
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
    if (t.topicId && !isZero(t.topicId)) this.put(idKey(t.topicId), partitions);
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
    if (!this.upstream || this.lookups >= MAX_LOOKUPS) return false;
    this.lookups++;
    const request: MetadataRequest = {
      topics: topics.map((t) => ({ name: t.name, topicId: t.topicId ?? Buffer.alloc(16), unknownTaggedFields: undefined })),
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
      unknownTaggedFields: undefined,
    };
    const w = new Writer(256);
    w.int32(0);
    const correlationId = (this.correlationId = (this.correlationId + 1) | 0);
    writeRequestHeader(w, { apiKey: ApiKey.Metadata, apiVersion: METADATA_VERSION, correlationId, clientId: 'kqp-topic-partitions', headerVersion: 2, unknownTaggedFields: undefined });
    REQUEST_CODECS.get(ApiKey.Metadata)!.encode(w, METADATA_VERSION, request);
    const frame = w.finish();
    frame.writeInt32BE(frame.length - SIZE_PREFIX, 0);

    const socket = this.upstream.connect();
    const chunks: Buffer[] = [];
    let got = 0;
    let finished = false;
    const finish = (response: Buffer | undefined) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      this.lookups--;
      if (response) this.learnLookup(response, correlationId);
      done();
    };
    const timer = setTimeout(() => finish(undefined), LOOKUP_TIMEOUT_MS);
    socket.write(frame);
    let size = -1;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (size < 0 && got >= SIZE_PREFIX) size = Buffer.concat(chunks).readInt32BE(0);
      if (size > MAX_LOOKUP_RESPONSE) finish(undefined);
      else if (size >= 0 && got >= size + SIZE_PREFIX) finish(Buffer.concat(chunks).subarray(0, size + SIZE_PREFIX));
    });
    socket.once('error', () => finish(undefined));
    socket.once('close', () => finish(undefined));
    return true;
  }

  private learnLookup(frame: Buffer, correlationId: number): void {
    try {
      const r = new Reader(frame);
      const header = readResponseHeader(frame, ApiKey.Metadata, METADATA_VERSION, undefined, r, SIZE_PREFIX);
      if (header.correlationId !== correlationId) return;
      const body = RESPONSE_CODECS.get(ApiKey.Metadata)!.decode(new Reader(frame, SIZE_PREFIX + header.length), METADATA_VERSION);
      this.learnMetadata(body as MetadataResponse);
    } catch {
      // a response the codec cannot read teaches nothing: the topics are charged the default
    }
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

function isZero(id: Buffer): boolean {
  for (const b of id) if (b !== 0) return false;
  return true;
}
