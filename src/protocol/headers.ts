// Request headers v0/v1/v2 and response headers v0/v1: read in place from a frame (the bytes after the size prefix),
// and written for the responses the proxy makes itself.
import { Reader, type TaggedField } from './reader.js';
import type { Writer } from './writer.js';
import { requestHeaderVersion, responseHeaderVersion } from './api.js';

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  /** 0, 1 or 2; -1 when the API key is unknown (then only the fields up to client id are read). */
  headerVersion: number;
  /** Bytes the header takes at the start of the frame (the body follows), or -1 when the API key is unknown. */
  length: number;
  unknownTaggedFields: TaggedField[] | undefined;
}

export function emptyRequestHeader(): RequestHeader {
  return { apiKey: -1, apiVersion: -1, correlationId: 0, clientId: null, headerVersion: -1, length: -1, unknownTaggedFields: undefined };
}

const reader = new Reader(Buffer.alloc(0));

/**
 * Reads a request header from `frame` (starting at `start`: 4 to skip a size prefix) into `out`, which is reused so the
 * hot path allocates only the client id string.
 */
export function readRequestHeader(frame: Buffer, out: RequestHeader = emptyRequestHeader(), r: Reader = reader, start = 0): RequestHeader {
  r.reset(frame, start, frame.length).enter('RequestHeader', -1);
  out.apiKey = r.int16('RequestApiKey');
  out.apiVersion = r.int16('RequestApiVersion');
  out.correlationId = r.int32('CorrelationId');
  const version = requestHeaderVersion(out.apiKey, out.apiVersion);
  out.headerVersion = version ?? -1;
  out.unknownTaggedFields = undefined;
  r.version = out.headerVersion;
  // client id is in v1+ (and read for unknown APIs too); it is never a compact string, even in v2
  out.clientId = version === 0 ? null : r.string('ClientId', true);
  if (version === 2) {
    const count = r.uvarint('TaggedFields');
    for (let i = 0; i < count; i++) {
      const tag = r.uvarint('TaggedFields');
      (out.unknownTaggedFields ??= []).push({ tag, data: r.taggedData('TaggedFields') });
    }
  }
  out.length = version === undefined ? -1 : r.offset - start;
  return out;
}

export function writeRequestHeader(w: Writer, h: Omit<RequestHeader, 'length'>): void {
  w.int16(h.apiKey);
  w.int16(h.apiVersion);
  w.int32(h.correlationId);
  if (h.headerVersion >= 1) w.string(h.clientId);
  if (h.headerVersion >= 2) {
    w.uvarint(h.unknownTaggedFields?.length ?? 0);
    w.unknownTagged(h.unknownTaggedFields, 0, Infinity);
  }
}

export interface ResponseHeader {
  correlationId: number;
  /** 0 or 1. */
  headerVersion: number;
  /** Bytes the header takes at the start of the frame. */
  length: number;
  unknownTaggedFields: TaggedField[] | undefined;
}

export function emptyResponseHeader(): ResponseHeader {
  return { correlationId: 0, headerVersion: 0, length: 0, unknownTaggedFields: undefined };
}

/** Reads the header of a response to a request with this API key and version (the response header version follows from them). */
export function readResponseHeader(
  frame: Buffer,
  apiKey: number,
  apiVersion: number,
  out: ResponseHeader = emptyResponseHeader(),
  r: Reader = reader,
  start = 0,
): ResponseHeader {
  r.reset(frame, start, frame.length).enter('ResponseHeader', -1);
  const version = responseHeaderVersion(apiKey, apiVersion) ?? 0;
  r.version = version;
  out.headerVersion = version;
  out.correlationId = r.int32('CorrelationId');
  out.unknownTaggedFields = undefined;
  if (version === 1) {
    const count = r.uvarint('TaggedFields');
    for (let i = 0; i < count; i++) {
      const tag = r.uvarint('TaggedFields');
      (out.unknownTaggedFields ??= []).push({ tag, data: r.taggedData('TaggedFields') });
    }
  }
  out.length = r.offset - start;
  return out;
}

export function writeResponseHeader(w: Writer, correlationId: number, headerVersion: number, tagged?: TaggedField[]): void {
  w.int32(correlationId);
  if (headerVersion >= 1) {
    w.uvarint(tagged?.length ?? 0);
    w.unknownTagged(tagged, 0, Infinity);
  }
}
