// A response frame encoded by the generated codec (size prefix, header of the right version, body), for tests of
// what the proxy does to responses.
import { RESPONSE_CODECS } from '../../src/protocol/generated/codecs.js';
import { responseHeaderVersion } from '../../src/protocol/api.js';
import { writeResponseHeader } from '../../src/protocol/headers.js';
import { Writer } from '../../src/protocol/writer.js';

/** The frame and where its body starts. */
export function encodeResponseFrame(apiKey: number, version: number, body: object, correlationId = 42): { frame: Buffer; bodyAt: number } {
  const w = new Writer();
  w.int32(0);
  writeResponseHeader(w, correlationId, responseHeaderVersion(apiKey, version)!);
  const bodyAt = w.offset;
  RESPONSE_CODECS.get(apiKey)!.encode(w, version, body);
  const frame = Buffer.from(w.finish());
  frame.writeInt32BE(frame.length - 4, 0);
  return { frame, bodyAt };
}
