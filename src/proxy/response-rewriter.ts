// Responses the proxy rewrites whole: broker addresses a client will connect to become the sidecars' addresses
// (Metadata, FindCoordinator, DescribeCluster, and the NodeEndpoints of Produce v10+, ShareFetch and
// ShareAcknowledge), and ApiVersions is capped to the versions this proxy can decode. Metadata responses teach the
// topic cache their partition counts when the partition-mutation quota or budget needs them; a request's stage may
// have its response merged (admin-stages.ts).
import { RESPONSE_CODECS } from '../protocol/generated/codecs.js';
import { readResponseHeader, writeResponseHeader, emptyResponseHeader, type ResponseHeader } from '../protocol/headers.js';
import { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { SIZE_PREFIX } from '../protocol/frame-splitter.js';
import { THROTTLE_TIME_OFFSETS, VARIABLE } from '../protocol/generated/throttle-time-offsets.js';
import { API_SCHEMAS, ApiKey } from '../protocol/generated/api-table.js';
import { ErrorCode } from '../protocol/generated/error-codes.js';
import type { AddressMap } from './address-map.js';
import type { Merge } from './inflight-queue.js';
import type { TopicPartitions } from './topic-partitions.js';
import { PRODUCE_TAIL_MAX_VERSION, produceResponseTail } from './produce-response-tail.js';
import { METADATA_BROKERS_MAX_VERSION, rewriteMetadataBrokers } from './metadata-brokers.js';
import type { MetadataResponse } from '../protocol/generated/metadata-response.js';

/**
 * Fetch responses stay streamed (they can be tens of MB), so when addresses are rewritten the proxy offers Fetch only
 * up to v15: NodeEndpoints arrive in v16 (KIP-951). Clients then learn new leaders from a Metadata refresh instead,
 * which is rewritten.
 */
export const FETCH_MAX_VERSION_WHEN_REWRITING = 15;

interface Endpoint {
  host: string;
  port: number;
}

interface ApiVersionsBody {
  errorCode: number;
  apiKeys: { apiKey: number; minVersion: number; maxVersion: number }[];
}

export class ResponseRewriter {
  /** Highest version offered per API key (our codec's maximum, lower for Fetch when rewriting). */
  private readonly maxVersion: number[] = [];
  /**
   * The last ApiVersions answer of each version the codec knows: its body as the broker sent it, and as capped
   * (undefined: unchanged). One per version, so bounded; a different answer (a broker upgraded) replaces it.
   */
  private readonly cappedApiVersions: ({ from: Buffer; to: Buffer | undefined } | undefined)[];

  constructor(
    private readonly addresses: AddressMap,
    /** Learns partition counts from Metadata responses (when partition mutations are counted). */
    private readonly topics?: TopicPartitions,
  ) {
    for (const api of API_SCHEMAS) this.maxVersion[api.key] = api.maxVersion;
    if (addresses.enabled) this.maxVersion[ApiKey.Fetch] = Math.min(this.maxVersion[ApiKey.Fetch]!, FETCH_MAX_VERSION_WHEN_REWRITING);
    this.cappedApiVersions = new Array(this.maxVersion[ApiKey.ApiVersions]! + 1).fill(undefined);
  }

  /**
   * Whether a response to (apiKey, version) must be held whole and passed through rewrite(): to rewrite addresses,
   * to cap ApiVersions, or to raise a throttle_time_ms that does not sit at a fixed offset (Produce, ...).
   */
  needsWhole(apiKey: number, version: number, throttleMs = 0): boolean {
    if (apiKey === ApiKey.ApiVersions) return true;
    if (throttleMs > 0 && throttleTimeOffset(apiKey, version) === VARIABLE) return true;
    if (apiKey === ApiKey.Metadata && this.topics) return true;
    if (!this.addresses.enabled) return false;
    switch (apiKey) {
      case ApiKey.Metadata:
      case ApiKey.FindCoordinator:
      case ApiKey.DescribeCluster:
      case ApiKey.ShareFetch:
      case ApiKey.ShareAcknowledge:
        return true;
      case ApiKey.Produce:
        return version >= 10;
      default:
        return false;
    }
  }

  /**
   * Rewrites a whole response frame (size prefix included) to a request of (apiKey, version). Returns the frame
   * itself when nothing changed. Throws a ProtocolError if it cannot be decoded.
   */
  rewrite(frame: Buffer, apiKey: number, version: number, throttleMs = 0, merge?: Merge): Buffer {
    const header = readResponseHeader(frame, apiKey, version, emptyResponseHeader(), new Reader(frame), SIZE_PREFIX);
    const bodyAt = SIZE_PREFIX + header.length;
    if (apiKey !== ApiKey.ApiVersions || throttleMs > 0 || merge || version >= this.cappedApiVersions.length) {
      return this.rewriteBody(frame, bodyAt, header, apiKey, version, throttleMs, merge);
    }
    // the broker gives every connection the same ApiVersions answer: it is capped once per version
    const body = frame.subarray(bodyAt);
    let capped = this.cappedApiVersions[version];
    if (!capped?.from.equals(body)) {
      const out = this.rewriteBody(frame, bodyAt, header, apiKey, version, 0, undefined);
      capped = { from: Buffer.from(body), to: out === frame ? undefined : Buffer.from(out.subarray(bodyAt)) };
      this.cappedApiVersions[version] = capped;
      return out;
    }
    if (!capped.to) return frame;
    const out = Buffer.concat([frame.subarray(0, bodyAt), capped.to]);
    out.writeInt32BE(out.length - SIZE_PREFIX, 0);
    return out;
  }

  private rewriteBody(frame: Buffer, bodyAt: number, header: ResponseHeader, apiKey: number, version: number, throttleMs: number, merge: Merge | undefined): Buffer {
    const codec = RESPONSE_CODECS.get(apiKey)!;
    const r = new Reader(frame, bodyAt);
    // (a body too short for its error code is left to the decoder below, which says so)
    if (apiKey === ApiKey.ApiVersions && frame.length >= bodyAt + 2 && frame.readInt16BE(r.offset) !== ErrorCode.NONE) {
      // Kafka answers an ApiVersions version it does not know with UNSUPPORTED_VERSION in the v0 format, listing what
      // it supports so that the client retries with one (KIP-511; KafkaApis.handleApiVersionsRequest): that list is
      // capped like any other. Another error (INVALID_REQUEST) lists nothing.
      if (frame.readInt16BE(r.offset) !== ErrorCode.UNSUPPORTED_VERSION) return frame;
      version = 0;
    }
    if (apiKey === ApiKey.Produce && !merge && version >= 3 && version <= PRODUCE_TAIL_MAX_VERSION) {
      // nearly always no NodeEndpoints: the frame goes on as it came, its throttle patched in place
      const tail = produceResponseTail(r.enter('ProduceResponse', version), version);
      if (!tail.tagged) {
        r.expectEnd();
        if (throttleMs > 0) raiseThrottle(frame, tail.throttleAt, throttleMs);
        return frame;
      }
      r.offset = bodyAt;
    }
    if (apiKey === ApiKey.Metadata && !merge && !this.topics && this.addresses.enabled && version <= METADATA_BROKERS_MAX_VERSION) {
      // the brokers array rewritten, the rest (the topics) copied as it came; throttle_time_ms is the body's first field
      const out = rewriteMetadataBrokers(frame, bodyAt, version, (id) => this.addresses.lookup(id));
      if (throttleMs > 0 && version >= 3) raiseThrottle(out, bodyAt, throttleMs);
      return out;
    }
    const body = codec.decode(r, version);
    r.expectEnd();
    if (apiKey === ApiKey.Metadata) this.topics?.learnMetadata(body as MetadataResponse);
    let changed = apiKey === ApiKey.ApiVersions ? this.capVersions(body as ApiVersionsBody) : this.addresses.enabled && this.rewriteAddresses(apiKey, version, body);
    if (merge?.(body)) changed = true;
    const t = body as { throttleTimeMs?: number };
    if (throttleMs > 0 && t.throttleTimeMs !== undefined && t.throttleTimeMs < throttleMs) {
      t.throttleTimeMs = throttleField(throttleMs);
      changed = true;
    }
    if (!changed) return frame;
    const w = new Writer(frame.length + 256);
    w.int32(0);
    writeResponseHeader(w, header.correlationId, header.headerVersion, header.unknownTaggedFields);
    codec.encode(w, version, body);
    const out = w.finish();
    out.writeInt32BE(out.length - SIZE_PREFIX, 0);
    return out;
  }

  /**
   * Raises throttle_time_ms in place when it sits at a fixed offset inside `head` (from `bodyAt`); returns false when
   * it does not (absent in this version, or not inside the head).
   */
  patchThrottle(head: Buffer, bodyAt: number, apiKey: number, version: number, throttleMs: number): boolean {
    const offset = throttleTimeOffset(apiKey, version);
    if (offset < 0 || bodyAt + offset + 4 > head.length) return false;
    raiseThrottle(head, bodyAt + offset, throttleMs);
    return true;
  }

  private capVersions(body: ApiVersionsBody): boolean {
    let changed = false;
    for (const api of body.apiKeys) {
      const max = this.maxVersion[api.apiKey];
      if (max !== undefined && api.maxVersion > max) {
        api.maxVersion = Math.max(max, api.minVersion);
        changed = true;
      }
    }
    return changed;
  }

  private rewriteAddresses(apiKey: number, version: number, body: object): boolean {
    switch (apiKey) {
      case ApiKey.Metadata:
        return this.rewriteAll((body as { brokers: (Endpoint & { nodeId: number })[] }).brokers, (b) => b.nodeId);
      case ApiKey.DescribeCluster:
        return this.rewriteAll((body as { brokers: (Endpoint & { brokerId: number })[] }).brokers, (b) => b.brokerId);
      case ApiKey.FindCoordinator: {
        const b = body as Endpoint & { nodeId: number; coordinators: (Endpoint & { nodeId: number })[] };
        if (version >= 4) return this.rewriteAll(b.coordinators, (c) => c.nodeId);
        return this.rewriteOne(b, b.nodeId);
      }
      case ApiKey.Produce:
      case ApiKey.ShareFetch:
      case ApiKey.ShareAcknowledge:
        return this.rewriteAll((body as { nodeEndpoints: (Endpoint & { nodeId: number })[] }).nodeEndpoints, (e) => e.nodeId);
      default:
        return false; // taken whole for another reason (a merge, a throttle): no address in it
    }
  }

  private rewriteAll<T extends Endpoint>(list: T[], id: (x: T) => number): boolean {
    let changed = false;
    for (const x of list) changed = this.rewriteOne(x, id(x)) || changed;
    return changed;
  }

  private rewriteOne(x: Endpoint, nodeId: number): boolean {
    const to = this.addresses.lookup(nodeId);
    if (!to || (x.host === to.host && x.port === to.port)) return false;
    x.host = to.host;
    x.port = to.port;
    return true;
  }
}

/** A throttle as throttle_time_ms (an int32) carries it: rounded up, at most 2^31 - 1 ms (a quota of a few bytes a second can owe more). */
export function throttleField(throttleMs: number): number {
  return Math.min(0x7fffffff, Math.ceil(throttleMs));
}

/** Raises the throttle_time_ms at `at` to `throttleMs` (rounded up) where it is lower. */
function raiseThrottle(frame: Buffer, at: number, throttleMs: number): void {
  if (frame.readInt32BE(at) < throttleMs) frame.writeInt32BE(throttleField(throttleMs), at);
}

/** Offset of throttle_time_ms in a response body: >= 0, ABSENT (-1), or VARIABLE (-2). Unknown APIs: ABSENT. */
export function throttleTimeOffset(apiKey: number, version: number): number {
  const versions = THROTTLE_TIME_OFFSETS[apiKey];
  if (!versions) return -1;
  return version < versions.length ? versions[version]! : versions[versions.length - 1]!;
}
