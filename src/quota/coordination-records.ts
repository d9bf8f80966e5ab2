// The records sidecars publish to the coordination topic: one report per sidecar per interval, cut into parts of at
// most RECORD_MAX_BYTES each, keyed "<sidecar id>/<part>" (the topic is compacted: it keeps each sidecar's last report).
// A part's value is JSON: {"v":1,"s":sidecar,"at":ms,"p":part,"n":parts,"e":[[kind,"bucket key",demand],...]}, demand
// in the quota's unit per second, -1 for "wants more" (the sidecar throttled the tenant in that interval).
import { WANTS_MORE } from './fair-share.js';

/** The most one record's value may hold (Kafka's max.message.bytes is 1 MB by default). */
export const RECORD_MAX_BYTES = 64 * 1024;
/** The longest sidecar id. */
export const MAX_SIDECAR_ID_LENGTH = 256;
const VERSION = 1;

export interface ReportEntry {
  kind: number;
  key: string;
  demand: number;
}

export interface ReportPart {
  sidecar: string;
  /** The report's time on its sidecar's wall clock: a later report of the same sidecar replaces an earlier one. */
  at: number;
  part: number;
  parts: number;
  entries: ReportEntry[];
}

export interface CoordinationRecord {
  key: string;
  value: string | null;
}

/**
 * A demand as published: to a thousandth, so that the quotas of a few units a second (group joins, partition
 * mutations, requests) keep their shares (whole units would turn a demand of 0.45 into 0 at every other sidecar).
 */
const wire = (demand: number) => (demand === WANTS_MORE ? -1 : Math.round(demand * 1000) / 1000);

/**
 * A report's records; parts from `parts` up to `previousParts` (a longer earlier report) are deleted with tombstones, so
 * that the compacted topic keeps no stale part.
 */
export function encodeReport(sidecar: string, at: number, entries: readonly ReportEntry[], previousParts = 0): CoordinationRecord[] {
  const bodies: string[][] = [[]];
  const overhead = JSON.stringify({ v: VERSION, s: sidecar, at, p: 0, n: 0, e: [] }).length + 24;
  let size = overhead;
  for (const e of entries) {
    const item = JSON.stringify([e.kind, e.key, wire(e.demand)]);
    if (size + item.length + 1 > RECORD_MAX_BYTES && bodies.at(-1)!.length > 0) {
      bodies.push([]);
      size = overhead;
    }
    bodies.at(-1)!.push(item);
    size += item.length + 1;
  }
  const n = bodies.length;
  const records: CoordinationRecord[] = bodies.map((items, p) => ({
    key: `${sidecar}/${p}`,
    value: `{"v":${VERSION},"s":${JSON.stringify(sidecar)},"at":${at},"p":${p},"n":${n},"e":[${items.join(',')}]}`,
  }));
  for (let p = n; p < previousParts; p++) records.push({ key: `${sidecar}/${p}`, value: null });
  return records;
}

/** A record's report part, or undefined when it is not one (a tombstone, too large, malformed, a key too long). */
export function decodeReport(value: Buffer | null, kinds: number, maxKeyLength: number): ReportPart | undefined {
  if (!value || value.length > RECORD_MAX_BYTES) return undefined;
  let o: { v?: unknown; s?: unknown; at?: unknown; p?: unknown; n?: unknown; e?: unknown } | null;
  try {
    o = JSON.parse(value.toString('utf8')) as typeof o;
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined; // `null`, a number, a string: JSON, but no report
  if (o.v !== VERSION || typeof o.s !== 'string' || o.s.length === 0 || o.s.length > MAX_SIDECAR_ID_LENGTH) return undefined;
  if (!Number.isFinite(o.at) || !Number.isInteger(o.p) || !Number.isInteger(o.n) || !Array.isArray(o.e)) return undefined;
  const entries: ReportEntry[] = [];
  for (const e of o.e as unknown[]) {
    if (!Array.isArray(e) || e.length !== 3) return undefined;
    const [kind, key, demand] = e as [unknown, unknown, unknown];
    if (!Number.isInteger(kind) || (kind as number) < 0 || (kind as number) >= kinds) return undefined;
    if (typeof key !== 'string' || key.length > maxKeyLength || typeof demand !== 'number' || !(demand >= -1)) return undefined;
    entries.push({ kind: kind as number, key, demand: demand === -1 ? WANTS_MORE : demand });
  }
  return { sidecar: o.s, at: o.at as number, part: o.p as number, parts: o.n as number, entries };
}
