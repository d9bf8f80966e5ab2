// Broker addresses in a Metadata response, rewritten without decoding the rest: the brokers array comes first (after
// throttle_time_ms). Where every new host is as long as the one it replaces (a sidecar on the broker's own host, on
// another port, is the usual case) the frame is patched in place; else the brokers array is written anew and
// everything after it (cluster id, controller, the topics and their partitions, which are most of the bytes) is
// copied as it came. The layout is MetadataResponse.json's, v0-13; a version beyond that is decoded in full instead
// (see response-rewriter.ts).
import type { HostPort } from '../config/load-config.js';
import { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';

/** The highest Metadata response version whose layout rewriteMetadataBrokers follows. */
export const METADATA_BROKERS_MAX_VERSION = 13;

interface Broker {
  nodeId: number;
  host: string;
  port: number;
  /** Where the host's UTF-8 bytes start and end (the port follows) in the frame. */
  hostAt: number;
  hostEnd: number;
  /** Its address is replaced. */
  moved: boolean;
  /** Rack (v1+) and tagged fields (v9+), copied as they are. */
  rest: Buffer;
}

/**
 * The frame (size prefix included; the body from `bodyAt`) with each broker's address replaced by `lookup`'s (none:
 * left): the frame itself, changed in place when it could be (nothing changed, or every new host as long as the old
 * one), else a new one. Throws a ProtocolError where the brokers array is malformed.
 */
export function rewriteMetadataBrokers(frame: Buffer, bodyAt: number, v: number, lookup: (nodeId: number) => HostPort | undefined): Buffer {
  const flexible = v >= 9;
  const r = new Reader(frame, bodyAt).enter('MetadataResponse', v);
  if (v >= 3) r.skip(4, 'ThrottleTimeMs');
  const brokersAt = r.offset;
  const brokers: Broker[] = [];
  let changed = false;
  let inPlace = true;
  for (let n = r.arrayLength('Brokers', flexible, false); n > 0; n--) {
    const nodeId = r.int32('NodeId');
    const lengthAt = r.offset;
    let host = (flexible ? r.compactString('Host', false) : r.string('Host', false))!;
    const hostEnd = r.offset;
    let hostAt = lengthAt + 2;
    if (flexible) for (hostAt = lengthAt + 1; frame[hostAt - 1]! & 0x80; hostAt++); // past the length's varint
    let port = r.int32('Port');
    const restAt = r.offset;
    if (v >= 1) r.skipString('Rack', flexible);
    if (flexible) r.skipTaggedFields('Brokers');
    const to = lookup(nodeId);
    const moved = to !== undefined && (to.host !== host || to.port !== port);
    if (moved) {
      [host, port] = [to.host, to.port];
      changed = true;
      if (Buffer.byteLength(host) !== hostEnd - hostAt) inPlace = false;
    }
    brokers.push({ nodeId, host, port, hostAt, hostEnd, moved, rest: frame.subarray(restAt, r.offset) });
  }
  if (!changed) return frame;
  if (inPlace) {
    for (const b of brokers) {
      if (!b.moved) continue;
      frame.write(b.host, b.hostAt, 'utf8');
      frame.writeInt32BE(b.port, b.hostEnd);
    }
    return frame;
  }
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
