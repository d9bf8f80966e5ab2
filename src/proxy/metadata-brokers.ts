// Broker addresses in a Metadata response, rewritten without decoding the rest: the brokers array comes first (after
// throttle_time_ms), so it is read and written anew and everything after it (cluster id, controller, the topics and
// their partitions, which are most of the bytes) is copied as it came. The layout is MetadataResponse.json's,
// v0-13; a version beyond that is decoded in full instead (see response-rewriter.ts).
import type { HostPort } from '../config/load-config.js';
import { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';

/** The highest Metadata response version whose layout rewriteMetadataBrokers follows. */
export const METADATA_BROKERS_MAX_VERSION = 13;

interface Broker {
  nodeId: number;
  host: string;
  port: number;
  /** Rack (v1+) and tagged fields (v9+), copied as they are. */
  rest: Buffer;
}

/**
 * The frame (size prefix included; the body from `bodyAt`) with each broker's address replaced by `lookup`'s (none:
 * left); the frame itself when that changes nothing. Throws a ProtocolError where the brokers array is malformed.
 */
export function rewriteMetadataBrokers(frame: Buffer, bodyAt: number, v: number, lookup: (nodeId: number) => HostPort | undefined): Buffer {
  const flexible = v >= 9;
  const r = new Reader(frame, bodyAt).enter('MetadataResponse', v);
  if (v >= 3) r.skip(4, 'ThrottleTimeMs');
  const brokersAt = r.offset;
  const brokers: Broker[] = [];
  let changed = false;
  for (let n = r.arrayLength('Brokers', flexible, false); n > 0; n--) {
    const nodeId = r.int32('NodeId');
    let host = (flexible ? r.compactString('Host', false) : r.string('Host', false))!;
    let port = r.int32('Port');
    const restAt = r.offset;
    if (v >= 1) r.skipString('Rack', flexible);
    if (flexible) r.skipTaggedFields('Brokers');
    const to = lookup(nodeId);
    if (to && (to.host !== host || to.port !== port)) {
      [host, port] = [to.host, to.port];
      changed = true;
    }
    brokers.push({ nodeId, host, port, rest: frame.subarray(restAt, r.offset) });
  }
  if (!changed) return frame;
  const w = new Writer(frame.length + 64 * brokers.length);
  w.raw(frame.subarray(0, brokersAt));
  w.arrayLength(brokers.length, flexible);
  for (const b of brokers) {
    w.int32(b.nodeId);
    if (flexible) w.compactString(b.host);
    else w.string(b.host);
    w.int32(b.port);
    w.raw(b.rest);
  }
  w.raw(frame.subarray(r.offset));
  const out = w.finish();
  out.writeInt32BE(out.length - 4, 0);
  return out;
}
