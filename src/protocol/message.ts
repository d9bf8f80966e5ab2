// Whole-frame decoding: header plus body, for the frames the proxy must read in full (and for tests and fuzzing).
import { REQUEST_CODECS, RESPONSE_CODECS } from './generated/codecs.js';
import { readRequestHeader, readResponseHeader, type RequestHeader, type ResponseHeader } from './headers.js';
import { Reader } from './reader.js';
import { UnsupportedVersionError } from './errors.js';

export interface DecodedRequest {
  header: RequestHeader;
  body: object;
}

export interface DecodedResponse {
  header: ResponseHeader;
  body: object;
}

/** Decodes a request frame (the bytes after the size prefix); the frame must be consumed exactly. */
export function decodeRequestFrame(frame: Buffer): DecodedRequest {
  const header = readRequestHeader(frame, undefined, new Reader(frame));
  const codec = REQUEST_CODECS.get(header.apiKey);
  if (!codec || header.length < 0) {
    throw new UnsupportedVersionError('Request', header.apiVersion, 'RequestApiKey', `unknown API key ${header.apiKey}`);
  }
  const r = new Reader(frame, header.length);
  const body = codec.decode(r, header.apiVersion);
  r.expectEnd();
  return { header, body };
}

/** Decodes a response frame to a request of this API key and version; the frame must be consumed exactly. */
export function decodeResponseFrame(frame: Buffer, apiKey: number, apiVersion: number): DecodedResponse {
  const codec = RESPONSE_CODECS.get(apiKey);
  if (!codec) throw new UnsupportedVersionError('Response', apiVersion, '', `unknown API key ${apiKey}`);
  const header = readResponseHeader(frame, apiKey, apiVersion, undefined, new Reader(frame));
  const r = new Reader(frame, header.length);
  const body = codec.decode(r, apiVersion);
  r.expectEnd();
  return { header, body };
}
