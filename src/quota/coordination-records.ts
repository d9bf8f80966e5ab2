// The records sidecars publish to the coordination topic: one report per sidecar per interval, cut into parts of at
// most RECORD_MAX_BYTES each, keyed "<sidecar id>/<part>" (the topic is compacted: it keeps each sidecar's last report).
// A part's value is JSON: {"v":1,"s":sidecar,"i":instance,"st":0|1,"at":ms,"p":part,"n":parts,"e":[[kind,"bucket
// key",demand],...]}, demand in the quota's unit per second, -1 for "wants more" (the sidecar throttled the tenant in
// that interval). "i" tells one process from another that has (by mistake, or after a restart) the same sidecar id;
// "st" 1: the sender serves the static share (it is not coordinated), whatever its demands say. Both may be missing (a
// sidecar of an earlier version): read as "" and 0.
import { WANTS_MORE } from './fair-share.js';

/** The most one record's value may hold (Kafka's max.message.bytes is 1 MB by default). */
export const RECORD_MAX_BYTES = 64 * 1024;
/** The longest sidecar id. */
export const MAX_SIDECAR_ID_LENGTH = 256;
/** The longest instance id, and the most parts a report may have (a full table's report of long keys is a few dozen). */
const MAX_INSTANCE_LENGTH = 64;
export const MAX_PARTS = 1024;
const VERSION = 1;

export interface ReportEntry {
  kind: number;
  key: string;
  demand: number;
}

/** Who publishes a report. */
export interface Reporter {
  sidecar: string;
  /** This process's id (random at start). */
  instance: string;
  /** Serving the static share (not coordinated): the others reserve that for it. */
  staticShare: boolean;
}

export interface ReportPart extends Reporter {
  /** The report's time on its sidecar's wall clock: its parts share it (reports are applied in the order read). */
  at: number;
  part: number;
  parts: number;
  entries: ReportEntry[];
}

/** A part read: the entries that could be read (one off is skipped and counted, not the whole part). */
export interface DecodedPart extends ReportPart {
  skipped: number;
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
 * A report's records, each value at most RECORD_MAX_BYTES (UTF-8), at most `maxParts` of them (readers refuse more:
 * entries beyond are dropped, and counted); parts from `parts` up to `previousParts` (a longer earlier report) are
 * deleted with tombstones, so that the compacted topic keeps no stale part.
 */
export function encodeReport(
  from: Reporter, at: number, entries: readonly ReportEntry[], previousParts = 0, maxParts = MAX_PARTS,
): { records: CoordinationRecord[]; dropped: number } {
  const { sidecar } = from;
  const head = `{"v":${VERSION},"s":${JSON.stringify(sidecar)},"i":${JSON.stringify(from.instance)},"st":${from.staticShare ? 1 : 0},"at":${at}`;
  const bodies: string[][] = [[]];
  const overhead = Buffer.byteLength(head) + `,"p":${MAX_PARTS},"n":${MAX_PARTS},"e":[]}`.length;
  let size = overhead;
  let dropped = 0;
  for (const e of entries) {
    const item = JSON.stringify([e.kind, e.key, wire(e.demand)]);
    const bytes = Buffer.byteLength(item) + 1;
    if (size + bytes > RECORD_MAX_BYTES && bodies.at(-1)!.length > 0) {
      if (bodies.length === maxParts) {
        dropped++;
        continue;
      }
      bodies.push([]);
      size = overhead;
    }
    bodies.at(-1)!.push(item);
    size += bytes;
  }
  const n = bodies.length;
  const records: CoordinationRecord[] = bodies.map((items, p) => ({
    key: `${sidecar}/${p}`,
    value: `${head},"p":${p},"n":${n},"e":[${items.join(',')}]}`,
  }));
  for (let p = n; p < previousParts; p++) records.push({ key: `${sidecar}/${p}`, value: null });
  return { records, dropped };
}

/**
 * A record's report part, or undefined when it is not one (a tombstone, too large, malformed); an entry that cannot be
 * read (a key longer than this sidecar's table allows, a kind it does not know) is skipped and counted.
 */
export function decodeReport(value: Buffer | null, kinds: number, maxKeyLength: number): DecodedPart | undefined {
  if (!value || value.length > RECORD_MAX_BYTES) return undefined;
  let o: { v?: unknown; s?: unknown; i?: unknown; st?: unknown; at?: unknown; p?: unknown; n?: unknown; e?: unknown } | null;
  try {
    o = JSON.parse(value.toString('utf8')) as typeof o;
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined; // `null`, a number, a string: JSON, but no report
  if (o.v !== VERSION || typeof o.s !== 'string' || o.s.length === 0 || o.s.length > MAX_SIDECAR_ID_LENGTH) return undefined;
  const instance = o.i ?? '';
  if (typeof instance !== 'string' || instance.length > MAX_INSTANCE_LENGTH || (o.st !== undefined && o.st !== 0 && o.st !== 1)) return undefined;
  if (!Number.isFinite(o.at) || !Number.isInteger(o.n) || !Number.isInteger(o.p) || !Array.isArray(o.e)) return undefined;
  const [p, n] = [o.p as number, o.n as number];
  if (n < 1 || n > MAX_PARTS || p < 0 || p >= n) return undefined;
  const entries: ReportEntry[] = [];
  let skipped = 0;
  for (const e of o.e as unknown[]) {
    const [kind, key, demand] = Array.isArray(e) && e.length === 3 ? (e as [unknown, unknown, unknown]) : [];
    if (!Number.isInteger(kind) || (kind as number) < 0 || (kind as number) >= kinds || typeof key !== 'string' || key.length > maxKeyLength ||
      typeof demand !== 'number' || !(demand >= -1)) {
      skipped++;
      continue;
    }
    entries.push({ kind: kind as number, key, demand: demand === -1 ? WANTS_MORE : demand });
  }
  return { sidecar: o.s, instance, staticShare: o.st === 1, at: o.at as number, part: p, parts: n, entries, skipped };
}
