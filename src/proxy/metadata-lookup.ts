// One Metadata request of the sidecar's own to its broker, on a connection of its own: what the broker knows of some
// topics now (their partition counts, whether it has applied a topic's creation or deletion).
import type { UpstreamDialer } from './upstream-dialer.js';
import { REQUEST_CODECS, RESPONSE_CODECS } from '../protocol/generated/codecs.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import type { MetadataRequest } from '../protocol/generated/metadata-request.js';
import type { MetadataResponse } from '../protocol/generated/metadata-response.js';
import { readResponseHeader, writeRequestHeader } from '../protocol/headers.js';
import { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { SIZE_PREFIX } from '../protocol/frame-splitter.js';

/** Metadata v12: topics by name or by id, supported by every broker from 3.1 on. */
const METADATA_VERSION = 12;
/** The largest Metadata response a lookup reads. */
const MAX_LOOKUP_RESPONSE = 16 * 1024 * 1024;

/** A topic by name, or by id (16 bytes) when its name is null. */
export interface TopicRef {
  name: string | null;
  topicId?: Buffer;
}

/** Whether a topic id is all zeros: no id (a name-only request, an older version's answer). */
export function isZeroId(id: Buffer): boolean {
  for (const b of id) if (b !== 0) return false;
  return true;
}

let correlationIds = 0;

/**
 * Asks the broker about `topics` (`clientId` names the asker in the broker's logs and metrics). Resolves to its answer,
 * or undefined when there was none within `timeoutMs`, the connection failed, or the answer could not be read.
 */
export function lookUpMetadata(upstream: UpstreamDialer, topics: TopicRef[], clientId: string, timeoutMs: number): Promise<MetadataResponse | undefined> {
  const request: MetadataRequest = {
    topics: topics.map((t) => ({ name: t.name, topicId: t.topicId ?? Buffer.alloc(16), unknownTaggedFields: undefined })),
    allowAutoTopicCreation: false,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
    unknownTaggedFields: undefined,
  };
  const w = new Writer(256);
  w.int32(0);
  const correlationId = (correlationIds = (correlationIds + 1) | 0);
  writeRequestHeader(w, { apiKey: ApiKey.Metadata, apiVersion: METADATA_VERSION, correlationId, clientId, headerVersion: 2, unknownTaggedFields: undefined });
  REQUEST_CODECS.get(ApiKey.Metadata)!.encode(w, METADATA_VERSION, request);
  const frame = w.finish();
  frame.writeInt32BE(frame.length - SIZE_PREFIX, 0);

  return new Promise((resolve) => {
    const socket = upstream.connect();
    const chunks: Buffer[] = [];
    let got = 0;
    let size = -1;
    let finished = false;
    const finish = (response: Buffer | undefined) => {
      if (finished) return; // the 'close' that destroy() brings
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(response && decode(response, correlationId));
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.write(frame);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (size < 0 && got >= SIZE_PREFIX) size = Buffer.concat(chunks).readInt32BE(0);
      if (size > MAX_LOOKUP_RESPONSE) finish(undefined);
      else if (size >= 0 && got >= size + SIZE_PREFIX) finish(Buffer.concat(chunks).subarray(0, size + SIZE_PREFIX));
    });
    socket.once('error', () => finish(undefined));
    socket.once('close', () => finish(undefined));
  });
}

function decode(frame: Buffer, correlationId: number): MetadataResponse | undefined {
  try {
    const header = readResponseHeader(frame, ApiKey.Metadata, METADATA_VERSION, undefined, new Reader(frame), SIZE_PREFIX);
    if (header.correlationId !== correlationId) return undefined;
    return RESPONSE_CODECS.get(ApiKey.Metadata)!.decode(new Reader(frame, SIZE_PREFIX + header.length), METADATA_VERSION) as MetadataResponse;
  } catch {
    return undefined; // a response the codec cannot read teaches nothing
  }
}
