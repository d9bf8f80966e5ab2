// Requests at exact versions over a bare connection (test/support/raw-client.ts), and the ApiVersions
// range a sidecar offers, for the protocol-version compatibility tests (issue 13, point 4).
import { RawClient, encodeRequest } from './raw-client.js';
import { produceRequest } from './requests.js';
import { recordBatch } from './record-batch.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import { defaultMetadataRequest, defaultMetadataRequestTopic } from '../../src/protocol/generated/metadata-request.js';
import { defaultApiVersionsRequest } from '../../src/protocol/generated/api-versions-request.js';
import type { MetadataResponse } from '../../src/protocol/generated/metadata-response.js';
import type { ProduceResponse } from '../../src/protocol/generated/produce-response.js';
import type { ApiVersionsResponse } from '../../src/protocol/generated/api-versions-response.js';

const PRODUCE = 0;
const METADATA = 3;
const API_VERSIONS = 18;

export function apiVersionsBody(): ReturnType<typeof defaultApiVersionsRequest> {
  return { ...defaultApiVersionsRequest(), clientSoftwareName: 'kqp-compat', clientSoftwareVersion: '1' };
}

/** The ApiVersions response (v3) a server at `port` gives. */
export async function apiVersions(port: number): Promise<ApiVersionsResponse> {
  const c = await RawClient.open(port);
  try {
    const frame = await c.response(c.send(API_VERSIONS, 3, apiVersionsBody()));
    return decodeResponseFrame(frame.subarray(4), API_VERSIONS, 3).body as ApiVersionsResponse;
  } finally {
    c.close();
  }
}

/** The [min, max] versions of an API in an ApiVersions response. */
export function range(r: ApiVersionsResponse, apiKey: number): [number, number] | undefined {
  const k = r.apiKeys.find((a) => a.apiKey === apiKey);
  return k ? [k.minVersion, k.maxVersion] : undefined;
}

/** A topic's id, from a Metadata v12 response (Produce v13 names topics by id). */
async function topicId(c: RawClient, topic: string): Promise<Buffer> {
  const m = defaultMetadataRequest();
  const t = defaultMetadataRequestTopic();
  t.name = topic;
  m.topics = [t];
  const frame = await c.response(c.send(METADATA, 12, m));
  const body = decodeResponseFrame(frame.subarray(4), METADATA, 12).body as MetadataResponse;
  return body.topics[0]!.topicId;
}

export interface ProduceOutcome {
  /** The partition's error code in the response (acks=1/all), or null for acks=0 (no response). */
  errorCode: number | null;
  /** Whether the connection still answered a request sent after it (responses and requests still paired). */
  answersAfter: boolean;
}

/**
 * Sends one Produce of `records` 100-byte records to partition 0 at `version` with `acks`, then an ApiVersions
 * request on the same connection, whose response proves the connection is still in step.
 */
export async function produceAt(port: number, topic: string, version: number, acks: number, records: number): Promise<ProduceOutcome> {
  const c = await RawClient.open(port);
  try {
    const req = produceRequest(topic, 0, recordBatch(records, 100), acks);
    if (version >= 13) req.topicData[0]!.topicId = await topicId(c, topic);
    const id = c.send(PRODUCE, version, req);
    let errorCode: number | null = null;
    if (acks !== 0) {
      const body = decodeResponseFrame((await c.response(id, 30_000)).subarray(4), PRODUCE, version).body as ProduceResponse;
      errorCode = body.responses[0]!.partitionResponses[0]!.errorCode;
    }
    let answersAfter = true;
    try {
      await c.response(c.send(API_VERSIONS, 3, apiVersionsBody()));
    } catch {
      answersAfter = false;
    }
    return { errorCode, answersAfter };
  } finally {
    c.close();
  }
}

/**
 * An ApiVersions request of a version newer than the codec knows (as a newer client would send first): the body of
 * the newest known version, its header saying `version`. Returns the response's error code and the versions it lists.
 */
export async function apiVersionsNewerThanKnown(port: number, version: number, known: number): Promise<{ errorCode: number; listed: ApiVersionsResponse | undefined; closed: boolean }> {
  const c = await RawClient.open(port);
  try {
    const frame = encodeRequest(API_VERSIONS, known, 1, apiVersionsBody());
    frame.writeInt16BE(version, 6); // size (4), api key (2), then the version
    c.socket.write(frame);
    let response: Buffer;
    try {
      response = await c.response(1);
    } catch {
      return { errorCode: -1, listed: undefined, closed: true };
    }
    // Kafka answers a version it does not know in v0 (KIP-511): error code, then the versions it supports
    const body = decodeResponseFrame(response.subarray(4), API_VERSIONS, 0).body as ApiVersionsResponse;
    return { errorCode: body.errorCode, listed: body, closed: false };
  } finally {
    c.close();
  }
}
