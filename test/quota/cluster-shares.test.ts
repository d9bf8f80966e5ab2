// Cluster-scoped quotas without Kafka: the max-min fair shares, the state kept for other sidecars' reports and its
// bounds, the report records' bounds, and the fallbacks (starting, stale, silent sidecars). Deterministic: a fake clock.
import t from 'tap';
import { fairShares, WANTS_MORE } from '../../src/quota/fair-share.js';
import { ClusterShares, type CoordinationSettings } from '../../src/quota/cluster-shares.js';
import { decodeReport, encodeReport, RECORD_MAX_BYTES } from '../../src/quota/coordination-records.js';
import { BucketTable } from '../../src/quota/bucket-table.js';
import { FETCH, KINDS, PRODUCE } from '../../src/quota/quota-kinds.js';
import { configFromObject } from '../../src/config/load-config.js';
import { makeCertificates } from '../support/tls-certificates.js';
import type { PeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { prng } from '../support/populate.js';

const shares = (quota: number, demands: number[], floor = 0) => {
  const out = new Float64Array(demands.length);
  fairShares(quota, demands, floor, out);
  return [...out];
};
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

t.test('max-min fair: who needs less keeps it, the rest is shared equally, the sum is the quota', async (t) => {
  t.same(shares(300, [WANTS_MORE, WANTS_MORE, WANTS_MORE]), [100, 100, 100], 'all want more: equal thirds');
  t.same(shares(300, [WANTS_MORE, 0, 0]), [300, 0, 0], 'skew: one sidecar needs it all');
  t.same(shares(300, [50, WANTS_MORE, WANTS_MORE]), [50, 125, 125], 'one needs 50: the others share 250');
  t.same(shares(300, [50, 100, WANTS_MORE]), [50, 100, 150]);
  t.same(shares(300, [30, 30, 30]), [100, 100, 100], 'nobody needs it all: the rest is spread evenly');
  t.same(shares(300, [WANTS_MORE]), [300], 'one sidecar: all of it');
});

t.test('the floor: every sidecar has it, demand shares the rest, the sum stays the quota', async (t) => {
  const s = shares(300, [WANTS_MORE, 0, 0], 0.03);
  t.same(s, [294, 3, 3], 'skew: the idle sidecars keep 1% each (3% split three ways)');
  t.equal(sum(s), 300);
  const many = shares(1000, [WANTS_MORE, 10, 400, 0, WANTS_MORE, 5], 0.06);
  t.ok(Math.abs(sum(many) - 1000) < 1e-9, `sum ${sum(many)}`);
  for (const x of many) t.ok(x >= 10 - 1e-9, 'each at least its floor (60 ÷ 6)');
});

t.test('random demands: never more than the quota in total, nobody below the floor or above its need when others want more', async (t) => {
  const rnd = prng(42);
  for (let run = 0; run < 2000; run++) {
    const n = 1 + Math.floor(rnd() * 16);
    const d = Array.from({ length: n }, () => (rnd() < 0.3 ? WANTS_MORE : rnd() < 0.2 ? 0 : rnd() * 500));
    const q = 1 + rnd() * 1000;
    const f = rnd() * 0.1;
    const s = shares(q, d, f);
    if (Math.abs(sum(s) - q) > 1e-6 * q || s.some((x) => x < (q * f) / n - 1e-9)) {
      t.fail(`quota ${q}, floor ${f}, demands ${d}: ${s}`);
      return;
    }
  }
  t.pass('2000 random cases');
});

const settings = (o: Partial<CoordinationSettings> = {}): CoordinationSettings => ({
  topic: 't', intervalMs: 1000, staleAfterMs: 5000, forgetAfterMs: 20_000, maxSidecars: 4, floorShare: 0.03, sidecarId: 'me', ...o,
});

function setup(o: Partial<CoordinationSettings> = {}, capacity = 8) {
  const clock = { ms: 0 };
  const now = () => clock.ms;
  const table = new BucketTable(capacity, 64, now, 1, KINDS);
  const c = new ClusterShares(settings(o), capacity + 1, KINDS, (slot) => table.keyOf(slot), table.generation, now, `${o.sidecarId ?? 'me'}-i`);
  return { clock, table, c };
}
/** A one-part report of `sidecar`'s process `${sidecar}-i` (the instance setup() gives its own sidecar). */
const part = (sidecar: string, at: number, entries: [string, number][], kind = PRODUCE, o: { instance?: string; staticShare?: boolean } = {}) =>
  ({ sidecar, instance: o.instance ?? `${sidecar}-i`, staticShare: o.staticShare ?? false, at, part: 0, parts: 1, skipped: 0, entries: entries.map(([key, demand]) => ({ kind, key, demand })) });

/** A sidecar ('me') whose tenant 'a' it throttles each interval; tick(): one interval, its own report read back. */
function throttling(o: Partial<CoordinationSettings> = {}, brokers = 3) {
  const { clock, table, c } = setup(o);
  c.brokers = brokers;
  const a = table.slotFor('\u0000a');
  clock.ms = 1000;
  const tick = () => {
    c.charged(a, PRODUCE, 10, true, 3000);
    c.collect();
    c.received(part('me', clock.ms, []));
    c.recompute();
  };
  return { clock, c, a, tick };
}

t.test('shares follow what was published: starting, coordinated, skew, even', async (t) => {
  const { clock, table, c } = setup();
  c.brokers = 3;
  const a = table.slotFor('\u0000tenant-a');
  t.equal(c.mode(), 'starting');
  t.equal(c.shareOf(a, PRODUCE), 0.03 / 4, 'starting: the floor as if maxSidecars shared the quota');
  c.charged(a, PRODUCE, 1000, true, 3000);
  clock.ms = 1000;
  c.received(part('b', 1, []));
  c.received(part('c', 1, []));
  t.same(c.collect(), [{ kind: PRODUCE, key: '\u0000tenant-a', demand: WANTS_MORE }], 'throttled: it wants more');
  c.recompute();
  c.received(part('me', 1, []));
  t.equal(c.mode(), 'coordinated');
  t.ok(Math.abs(c.shareOf(a, PRODUCE) - 1 / 3) < 1e-12, 'a rise waits two intervals (the others may not have seen the demand): meanwhile nobody has asked for anything and the quota is shared evenly');
  for (const ms of [2000, 3000]) {
    clock.ms = ms;
    c.charged(a, PRODUCE, 1000, true, 3000);
    c.collect();
    c.recompute();
    c.received(part('me', ms / 1000, []));
    if (ms === 2000) t.ok(Math.abs(c.shareOf(a, PRODUCE) - 1 / 3) < 1e-12, 'the second interval: still');
  }
  t.equal(c.shareOf(a, PRODUCE), 0.98, 'the third: skew, all but the two others\' floors (1% each)');
  c.received(part('b', 3, [['\u0000tenant-a', WANTS_MORE]]));
  c.received(part('c', 3, [['\u0000tenant-a', WANTS_MORE]]));
  c.recompute();
  t.ok(Math.abs(c.shareOf(a, PRODUCE) - 1 / 3) < 1e-12, 'all three want more: a third');
  const other = table.slotFor('\u0000tenant-new');
  t.ok(Math.abs(c.shareOf(other, PRODUCE) - 0.01) < 1e-12, 'a bucket with no share yet: the floor');
  t.match(c.clusterStats(), { mode: 'coordinated', liveSidecars: 3, staleSidecars: 0, brokers: 3 }, 'stats');
});

t.test('faults: stale coordination serves quota ÷ brokers; a silent sidecar is reserved that, and so is its broker after it is forgotten', async (t) => {
  const { clock, table, c } = setup();
  c.brokers = 2;
  const a = table.slotFor('\u0000a');
  clock.ms = 6000;
  t.equal(c.mode(), 'stale', 'never coordinated for staleAfterMs');
  t.equal(c.shareOf(a, PRODUCE), 1 / 2, 'static share');
  c.received(part('me', 1, []));
  c.received(part('b', 1, [['\u0000a', WANTS_MORE]]));
  for (let n = 0; n < 3; n++) {
    c.charged(a, PRODUCE, 10, true, 3000);
    c.collect();
  }
  c.recompute(); // a rise is served from the third report on
  t.equal(c.shareOf(a, PRODUCE), 0.5, 'coordinated with b: half each');
  clock.ms = 12_000;
  c.received(part('me', 2, []));
  c.charged(a, PRODUCE, 10, true, 3000);
  c.collect();
  c.recompute();
  c.recompute();
  t.equal(c.shareOf(a, PRODUCE), 0.5, 'b silent for 6 s: b is reserved its static half, we take the rest');
  t.match(c.clusterStats(), { liveSidecars: 1, staleSidecars: 1 });
  clock.ms = 26_500;
  c.received(part('me', 3, []));
  c.charged(a, PRODUCE, 10, true, 3000);
  c.collect();
  c.recompute();
  c.recompute();
  t.match(c.clusterStats(), { liveSidecars: 1, staleSidecars: 0 }, 'b silent for forgetAfterMs: forgotten');
  t.equal(c.shareOf(a, PRODUCE), 0.5, 'its broker is still in the metadata without a live sidecar: still reserved its static share');
  c.brokers = 1;
  c.recompute();
  t.equal(c.shareOf(a, PRODUCE), 1, 'the broker gone from the metadata: all of it');
  clock.ms = 31_600;
  t.equal(c.mode(), 'stale', 'our own report not read back for staleAfterMs');
  t.equal(c.shareOf(a, PRODUCE), 1, 'static share again (one broker)');
});

t.test('what a sidecar cannot see is reserved: brokers with no sidecar heard, sidecars on the static share', async (t) => {
  const { c, a, tick } = throttling({ maxSidecars: 4 }, 4);
  c.received(part('b', 1, []));
  for (let n = 0; n < 3; n++) tick();
  t.ok(Math.abs(c.shareOf(a, PRODUCE) - 0.5 * 0.985) < 1e-12, 'four brokers, one other sidecar heard: the two unheard brokers are reserved a quarter each; of the rest, all but b\'s floor');
  c.received(part('c', 2, []));
  c.received(part('d', 2, []));
  tick();
  t.ok(Math.abs(c.shareOf(a, PRODUCE) - (1 - 3 * 0.0075)) < 1e-12, 'all heard: all but the three others\' floors');
  c.received(part('c', 3, [], PRODUCE, { staticShare: true }));
  tick();
  t.ok(Math.abs(c.shareOf(a, PRODUCE) - (0.75 - 2 * 0.0075)) < 1e-12, 'c says it serves the static share (it cannot read the topic): it is reserved that');
  t.match(c.clusterStats(), { liveSidecars: 3, staleSidecars: 1 });
  c.received(part('c', 4, []));
  tick();
  t.ok(Math.abs(c.shareOf(a, PRODUCE) - (1 - 3 * 0.0075)) < 1e-12, 'coordinated again: live again');
  const many = throttling({ maxSidecars: 10 }, 2);
  for (let i = 0; i < 6; i++) many.c.received(part(`ghost-${i}`, 1, [], PRODUCE, { staticShare: true }));
  many.tick();
  t.equal(many.c.shareOf(many.a, PRODUCE), 0.5, 'more sidecars on the static share than brokers: all but one broker\'s static share reserved, and no more');
});

t.test('sidecar ids: a second process with the same id is another sidecar (and counted); a restarted one replaces the old', async (t) => {
  const { clock, c, a, tick } = throttling();
  c.received(part('me', 1, [['\u0000a', WANTS_MORE]], PRODUCE, { instance: 'other-process' }));
  c.received(part('b', 1, [['\u0000a', WANTS_MORE]]));
  for (let n = 0; n < 3; n++) tick();
  t.equal(c.stats.sidecarIdCollisions, 1, 'our id from another process: counted');
  t.match(c.clusterStats(), { liveSidecars: 3 }, 'and it counts as a sidecar of its own: the quota is split three ways, not two');
  t.ok(Math.abs(c.shareOf(a, PRODUCE) - 1 / 3) < 1e-12, 'a third each');
  const remotes = (c as unknown as { remotes: Map<string, { sidecar: string }> }).remotes;
  const instances = () => [...remotes.keys()].map((k) => k.split('\u0000')[1]).sort();
  clock.ms += 200;
  c.received(part('b', 2, [['\u0000a', WANTS_MORE]], PRODUCE, { instance: 'b-second' }));
  t.equal(c.stats.sidecarIdCollisions, 1, 'another process of b, 200 ms after b\'s last report: a restart, however soon');
  t.same(instances(), ['b-second', 'other-process'], 'it replaces the first');
  c.received(part('b', 3, [['\u0000a', WANTS_MORE]]));
  t.equal(c.stats.sidecarIdCollisions, 2, 'the first speaks again: two processes named b');
  t.same(instances(), ['b-i', 'b-second', 'other-process'], 'both kept, each a sidecar');
  c.received(part('b', 4, [['\u0000a', WANTS_MORE]], PRODUCE, { instance: 'b-second' }));
  c.received(part('b', 4, [['\u0000a', WANTS_MORE]]));
  t.equal(c.stats.sidecarIdCollisions, 2, 'and counted once');
});

t.test('a report of several parts is applied whole, when its last part is read', async (t) => {
  const { c, a, tick } = throttling({}, 2);
  const report = (at: number, entries: [string, number][][]) => entries.map((e, p) => ({ ...part('b', at, e), part: p, parts: entries.length }));
  for (const p of report(1, [[['\u0000x', 1]], [['\u0000a', WANTS_MORE]]])) c.received(p);
  for (let n = 0; n < 3; n++) tick();
  t.ok(Math.abs(c.shareOf(a, PRODUCE) - 0.5) < 1e-12, 'b wants more of a: half each');
  const [first, second] = report(2, [[['\u0000x', 1]], [['\u0000a', WANTS_MORE]]]);
  c.received(first!);
  tick();
  t.ok(Math.abs(c.shareOf(a, PRODUCE) - 0.5) < 1e-12, 'between the parts of b\'s next report: its last whole report still holds (not a demand of 0 for a)');
  c.received(second!);
  tick();
  t.ok(Math.abs(c.shareOf(a, PRODUCE) - 0.5) < 1e-12, 'the whole report read: the same');
  c.received({ ...part('b', 3, [['\u0000x', 1]]), skipped: 4 });
  tick();
  t.equal(c.stats.entriesDropped, 4, 'entries another version wrote, or longer keys, are skipped and counted, the rest of the part read');
  t.ok(c.shareOf(a, PRODUCE) > 0.9, `b no longer asks for a: nearly all of it (${c.shareOf(a, PRODUCE)})`);
});

t.test('bounds: other sidecars (maxSidecars - 1) and their entries (capacity each); churn cannot grow them', async (t) => {
  const { c } = setup({ maxSidecars: 3 }, 8);
  t.equal(c.remoteCapacity, 16, 'capacity × (maxSidecars - 1)');
  for (let s = 0; s < 50; s++) c.received(part(`sidecar-${s}`, 1, Array.from({ length: 100 }, (_, i) => [`\u0000client-${s}-${i}`, 1] as [string, number])));
  const remotes = (c as unknown as { remotes: Map<string, { demands: Map<string, number>; next: Map<string, number> }> }).remotes;
  t.equal(remotes.size, 2, 'only maxSidecars - 1 others kept');
  for (const r of remotes.values()) t.equal(r.demands.size, 8, 'each at most capacity entries');
  t.equal(c.stats.sidecarsRefused, 48);
  t.equal(c.stats.entriesDropped, 2 * 92);
  // a later report of a kept sidecar replaces its entries (no growth across reports)
  c.received(part('sidecar-0', 2, [['\u0000x', 1]]));
  t.equal(remotes.get('sidecar-0\u0000sidecar-0-i')!.demands.size, 1);
  for (const r of remotes.values()) t.equal(r.next.size, 0, 'nothing kept of a report once applied');
});

t.test('local state follows the table: a reused slot starts afresh, and a million client ids leave it bounded', async (t) => {
  const { clock, table, c } = setup({}, 8);
  for (let i = 0; i < 1000; i++) {
    const slot = table.slotFor(`\u0000id-${i}`);
    c.charged(slot, PRODUCE, 1, false, 1000);
    clock.ms += 10;
  }
  const entries = c.collect();
  t.ok(entries.length <= 8, `published ${entries.length} entries: at most the table's capacity`);
  t.ok(c.clusterStats().trackedBuckets <= 9, 'tracked buckets bounded by the slots');
});

t.test('records: bounded in size, split in parts, tombstones for parts no longer used; decode refuses what is off', async (t) => {
  const entries = Array.from({ length: 5000 }, (_, i) => ({ kind: PRODUCE, key: `\u0000${'k'.repeat(200)}-${i}`, demand: i % 2 ? WANTS_MORE : i }));
  const from = { sidecar: 'sidecar-1', instance: 'p1', staticShare: false };
  const { records } = encodeReport(from, 123, entries);
  t.ok(records.length > 1, `${records.length} parts`);
  for (const r of records) t.ok(Buffer.byteLength(r.value!) <= RECORD_MAX_BYTES, 'each part within RECORD_MAX_BYTES');
  const decoded = records.flatMap((r) => decodeReport(Buffer.from(r.value!), KINDS, 256)!.entries);
  t.same(decoded, entries, 'round trip (wants more as -1 on the wire)');
  t.match(decodeReport(Buffer.from(records[1]!.value!), KINDS, 256), { sidecar: 'sidecar-1', instance: 'p1', staticShare: false, at: 123, part: 1, parts: records.length, skipped: 0 });
  // keys of two-byte characters: parts measured in bytes (UTF-8), not in characters
  const wide = Array.from({ length: 600 }, (_, i) => ({ kind: PRODUCE, key: `\u0000${'é'.repeat(240)}${i}`, demand: 1 }));
  const wideRecords = encodeReport({ ...from, staticShare: true }, 5, wide).records;
  for (const r of wideRecords) t.ok(Buffer.byteLength(r.value!) <= RECORD_MAX_BYTES, `a part of long non-ASCII keys: ${Buffer.byteLength(r.value!)} bytes, within RECORD_MAX_BYTES`);
  t.same(wideRecords.flatMap((r) => decodeReport(Buffer.from(r.value!), KINDS, 256)!.entries), wide, 'and each is read back');
  t.equal(decodeReport(Buffer.from(wideRecords[0]!.value!), KINDS, 256)!.staticShare, true, 'the static-share flag');
  const shorter = encodeReport(from, 124, entries.slice(0, 1), records.length).records;
  t.equal(shorter.length, records.length);
  t.same(shorter.slice(1).map((r) => r.value), Array(records.length - 1).fill(null), 'tombstones for the parts dropped');
  const capped = encodeReport(from, 125, entries, 0, 2);
  t.same([capped.records.length, capped.records.flatMap((r) => decodeReport(Buffer.from(r.value!), KINDS, 256)!.entries).length + capped.dropped], [2, entries.length],
    `at most maxParts parts (readers refuse more): ${capped.dropped} entries beyond them dropped and counted`);
  const short = decodeReport(Buffer.from(encodeReport(from, 1, [...entries.slice(0, 3), { kind: PRODUCE, key: '\u0000a', demand: 1 }]).records[0]!.value!), KINDS, 100)!;
  t.same([short.entries.map((e) => e.key), short.skipped], [['\u0000a'], 3], 'keys longer than the table allows: skipped and counted, the rest read');
  const oldVersion = decodeReport(Buffer.from('{"v":1,"s":"old","at":1,"p":0,"n":1,"e":[[0,"k",5],[99,"k",1],[0,"k"]]}'), KINDS, 256)!;
  t.same([oldVersion.instance, oldVersion.staticShare, oldVersion.entries.length, oldVersion.skipped], ['', false, 1, 2],
    'a report without instance or flag (an earlier version): read; an unknown kind and a short entry skipped');
  for (const [p, n] of [[1, 1], [-1, 1], [0, 0], [0, 2000]]) {
    t.equal(decodeReport(Buffer.from(`{"v":1,"s":"x","at":1,"p":${p},"n":${n},"e":[]}`), KINDS, 256), undefined, `part ${p} of ${n}: refused`);
  }
  t.equal(decodeReport(Buffer.from('{"v":1}'), KINDS, 256), undefined, 'malformed: refused');
  t.equal(decodeReport(Buffer.alloc(RECORD_MAX_BYTES + 1, 32), KINDS, 256), undefined, 'too large: refused unread');
  t.equal(decodeReport(null, KINDS, 256), undefined, 'tombstone');
  for (const json of ['null', '7', '"text"', '[]']) t.equal(decodeReport(Buffer.from(json), KINDS, 256), undefined, `JSON that is no report (${json}): refused`);
  const small = [{ kind: PRODUCE, key: '\u0000a', demand: 0.45 }, { kind: PRODUCE, key: '\u0000b', demand: 1 / 3 }];
  t.same(decodeReport(Buffer.from(encodeReport({ ...from, sidecar: 's' }, 1, small).records[0]!.value!), KINDS, 256)!.entries.map((e) => e.demand), [0.45, 0.333],
    'demands of less than one a second keep their size, to a thousandth');
});

t.test('config: scope defaults to broker; coordination defaults; bad settings named', async (t) => {
  const base = { listen: '127.0.0.1:1', upstream: '127.0.0.1:2' };
  const c = configFromObject({ ...base, quotas: [{ user: 'a', produceBytesPerSec: 1 }, { user: 'b', produceBytesPerSec: 1, scope: 'cluster' }] });
  t.same(c.quotas.map((q) => q.cluster), [false, true]);
  t.same(c.coordination, { topic: 'kqp-quota-coordination', intervalMs: 1000, staleAfterMs: 5000, forgetAfterMs: 60000, maxSidecars: 16, floorShare: 0.02, sidecarId: `${hostname()}/127.0.0.1:2` });
  t.throws(() => configFromObject({ ...base, quotas: [{ user: 'a', produceBytesPerSec: 1, scope: 'world' }] }), /quotas\.0\.scope: must be one of broker, cluster/);
  t.throws(() => configFromObject({ ...base, coordination: { intervalMs: 1000, staleAfterMs: 1000 } }), /coordination\.staleAfterMs: must be more than/);
  t.throws(() => configFromObject({ ...base, coordination: { topic: 'a b' } }), /coordination\.topic/);
});

t.test('10,000 active cluster-scoped tenants: what one report weighs, and what is kept of three sidecars\' reports', async (t) => {
  const capacity = 10_000;
  const { clock, table, c } = setup({ maxSidecars: 4 }, capacity);
  for (let i = 0; i < capacity; i++) c.charged(table.slotFor(`\u0000tenant-${String(i).padStart(5, '0')}`), PRODUCE, 1000 + i, i % 3 === 0, 1_000_000);
  clock.ms = 1000;
  const entries = c.collect();
  t.equal(entries.length, capacity, 'one entry per active bucket');
  const { records } = encodeReport({ sidecar: '127.0.0.1:9092', instance: 'p', staticShare: false }, Date.now(), entries);
  const bytes = records.reduce((n, r) => n + r.key.length + Buffer.byteLength(r.value!), 0);
  t.ok(bytes <= capacity * (16 + 30), `one report: ${records.length} records, ${bytes} bytes (${(bytes / capacity).toFixed(1)} bytes per tenant): at intervalMs 1000, ${(bytes / 1024).toFixed(0)} KB/s per sidecar`);
  for (const s of ['b', 'c', 'd', 'e']) for (const r of records) c.received({ ...decodeReport(Buffer.from(r.value!), KINDS, 256)!, sidecar: s });
  const remotes = (c as unknown as { remotes: Map<string, { demands: Map<string, number> }> }).remotes;
  t.equal(remotes.size, 3, 'maxSidecars - 1 others');
  t.equal([...remotes.values()].reduce((n, r) => n + r.demands.size, 0), 3 * capacity, 'their entries: capacity each');
  c.received(part('me', 1, []));
  const started = performance.now();
  c.recompute();
  t.pass(`recomputing 10,000 tenants' shares over 4 sidecars took ${(performance.now() - started).toFixed(0)} ms (reported, not asserted)`);
});

t.test('three sidecars ticking at different moments, demands changing every interval: their shares never add up to more than the quota', async (t) => {
  // Each publishes at its own phase of the interval; its report reaches the others some time under an interval later
  // (its own copy, which tells it coordination works, 50 ms later). 20 draws of phases and delay, 200 intervals each.
  const rnd = prng(7);
  let worst = 0;
  let worstAt = '';
  for (let draw = 0; draw < 20; draw++) {
    const clock = { ms: 0 };
    const now = () => clock.ms;
    const ids = ['a', 'b', 'c'];
    const phase = ids.map(() => Math.floor(rnd() * 100) * 10);
    const delay = 10 + Math.floor(rnd() * 99) * 10;
    const nodes = ids.map((id) => {
      const table = new BucketTable(4, 64, now, 1, KINDS);
      const c = new ClusterShares(settings({ sidecarId: id, maxSidecars: 3, floorShare: 0.03 }), 5, KINDS, (slot) => table.keyOf(slot), table.generation, now, `${id}-i`);
      c.brokers = 3;
      return { c, slot: table.slotFor('\u0000tenant') };
    });
    let inFlight: { at: number; to: number; part: ReturnType<typeof part> }[] = [];
    for (let ms = 0; ms < 200_000; ms += 10) {
      clock.ms = ms;
      for (const m of inFlight) if (m.at <= ms) nodes[m.to]!.c.received(m.part);
      inFlight = inFlight.filter((x) => x.at > ms);
      for (let i = 0; i < 3; i++) {
        if (ms % 1000 !== phase[i]) continue;
        const { c, slot } = nodes[i]!;
        // what it used this interval: up to the whole quota, throttled (wants more) a third of the time
        c.charged(slot, PRODUCE, rnd() * 3000, rnd() < 0.33, 3000);
        const entries = c.collect();
        c.recompute();
        const p = part(ids[i]!, ms, entries.map((e) => [e.key, e.demand] as [string, number]));
        for (let to = 0; to < 3; to++) inFlight.push({ at: ms + (to === i ? 50 : delay), to, part: p });
      }
      if (ms <= 10_000) continue;
      const sum = nodes.reduce((total, { c, slot }) => total + c.shareOf(slot, PRODUCE), 0);
      if (sum > worst) [worst, worstAt] = [sum, `phases ${phase.join('/')} ms, delay ${delay} ms`];
    }
  }
  t.ok(worst <= 1 + 1e-9, `the most the three shares added up to: ${worst.toFixed(4)} of the quota (${worstAt})`);
});

t.test('more brokers than maxSidecars: a sidecar serves at most the static share (each hears only some of the others)', async (t) => {
  for (const brokers of [4, 6]) {
    // maxSidecars 4: three others heard from, all idle; 'me' wants more of a
    const { clock, c, a, tick } = throttling({ maxSidecars: 4 }, brokers);
    for (let n = 0; n < 4; n++) {
      for (const other of ['b', 'c', 'd']) c.received(part(other, clock.ms, []));
      tick();
      clock.ms += 1000;
    }
    const share = c.shareOf(a, PRODUCE);
    if (brokers === 4) t.ok(share > 0.9, `${brokers} brokers, all heard: skew, nearly all of it (${share.toFixed(3)})`);
    else t.ok(share <= 1 / brokers + 1e-12, `${brokers} brokers: at most 1/${brokers} (${share.toFixed(3)}; it was ${(0.97 * 4 / 6).toFixed(3)}, the quota less two brokers' static shares)`);
    c.received(part('e', clock.ms, []));
    t.equal(c.stats.sidecarsRefused, 1, `${brokers} brokers: a fourth other sidecar is beyond maxSidecars - 1, refused`);
  }
});

t.test('a report that lost entries (more than the table holds: tenants with two cluster kinds) never lets the shares pass the quota', async (t) => {
  // two sidecars with 4-slot tables, 4 tenants each with a produce and a fetch quota, all throttled: 8 entries a
  // report, 4 kept by the reader (one slot of the 5 is the overflow's). Read as demand 0, the unnamed ones added up to
  // 1.98 of the quota.
  const clock = { ms: 0 };
  const now = () => clock.ms;
  const sidecars = ['A', 'B'].map((id) => {
    const table = new BucketTable(4, 64, now, 1, KINDS);
    const c = new ClusterShares(settings({ sidecarId: id, maxSidecars: 4, floorShare: 0.02 }), 5, KINDS, (slot) => table.keyOf(slot), table.generation, now, `${id}-i`);
    c.brokers = 2;
    return { id, table, c };
  });
  const keys = ['\u0000t0', '\u0000t1', '\u0000t2', '\u0000t3'];
  for (let tick = 1; tick <= 5; tick++) {
    clock.ms = tick * 1000;
    const reports = sidecars.map((s) => {
      for (const k of keys) {
        const slot = s.table.slotFor(k);
        s.c.charged(slot, PRODUCE, 10, true, 1000);
        s.c.charged(slot, FETCH, 10, true, 1000);
      }
      const { records } = encodeReport({ sidecar: s.id, instance: `${s.id}-i`, staticShare: false }, clock.ms, s.c.collect());
      return records.map((r) => decodeReport(Buffer.from(r.value!), KINDS, 256)!);
    });
    for (const s of sidecars) for (const parts of reports) for (const p of parts) s.c.received(p);
    for (const s of sidecars) s.c.recompute();
  }
  t.ok(sidecars[0]!.c.stats.entriesDropped > 0, `entries were dropped (${sidecars[0]!.c.stats.entriesDropped})`);
  let worst = 0;
  for (const k of keys) {
    for (const kind of [PRODUCE, FETCH]) worst = Math.max(worst, sidecars.reduce((n, s) => n + s.c.shareOf(s.table.slotFor(k), kind), 0));
  }
  t.ok(worst <= 1 + 1e-9, `the most two shares of a bucket added up to: ${worst.toFixed(3)} of the quota`);
});

t.test('config: scope cluster with upstream.tls: the coordination client gets the same context, each broker\'s name checked', async (t) => {
  const certs = makeCertificates();
  t.teardown(() => certs.cleanup());
  const base = { listen: '127.0.0.1:1', quotas: [{ user: 'b', produceBytesPerSec: 1, scope: 'cluster' }] };
  const c = configFromObject({ ...base, upstream: { address: '127.0.0.1:2', tls: { truststoreCertificates: certs.ca } } });
  const tls = c.coordination.tls!;
  t.equal(tls.secureContext, c.upstream.tls!.options.secureContext, 'the relay\'s context (trust store, key store, protocols)');
  t.equal(tls.rejectUnauthorized, true);
  // a broker's certificate (DNS:localhost, IP:127.0.0.1) as tls.connect gives it, chained to the trusted CA
  const legacy = (file: string) => new X509Certificate(readFileSync(file)).toLegacyObject();
  const peer = { ...legacy(certs.server.cert), issuerCertificate: legacy(certs.ca) } as PeerCertificate;
  t.equal(tls.checkServerIdentity!('127.0.0.1', peer), undefined, 'a broker reached at a name its certificate has');
  t.type(tls.checkServerIdentity!('10.1.2.3', peer), Error, 'another broker\'s host, not in the certificate: refused');
  const named = configFromObject({ ...base, upstream: { address: '127.0.0.1:2', tls: { truststoreCertificates: certs.ca, serverName: 'localhost' } } }).coordination.tls!;
  t.equal(named.servername, 'localhost');
  t.equal(named.checkServerIdentity!('10.1.2.3', peer), undefined, 'upstream.tls.serverName: checked against that name');
  const unchecked = configFromObject({ ...base, upstream: { address: '127.0.0.1:2', tls: { truststoreCertificates: certs.ca, endpointIdentificationAlgorithm: '' } } }).coordination.tls!;
  t.equal(unchecked.checkServerIdentity!('10.1.2.3', peer), undefined, 'ssl.endpoint.identification.algorithm empty: names not checked');
  t.notOk('tls' in configFromObject({ ...base, upstream: '127.0.0.1:2' }).coordination, 'plaintext upstream: none');
});
