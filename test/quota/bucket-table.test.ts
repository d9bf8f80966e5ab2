// The bucket table: lazy refill, debt and throttle time, the eviction policy, the overflow slot, and memory that
// depends on the capacity alone.
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BucketTable, EVICTION_SCAN } from '../../src/quota/bucket-table.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function clock(): { now: () => number; advance(ms: number): void } {
  let ms = 0;
  return { now: () => ms, advance: (d) => void (ms += d) };
}

t.test('a bucket starts full, may go into debt, throttles for debt ÷ rate, refills lazily up to its burst', async (t) => {
  const c = clock();
  const table = new BucketTable(10, 256, c.now, 1, 2);
  const slot = table.slotFor('alice');
  t.equal(table.tokensOf(slot, 0, 1000, 500), 500, 'full: the burst');
  t.equal(table.charge(slot, 0, 400, 1000, 500), 0, 'within the burst: no throttle');
  t.equal(table.charge(slot, 0, 600, 1000, 500), 500, '500 bytes of debt at 1000 B/s: 500 ms');
  c.advance(250);
  t.equal(table.tokensOf(slot, 0, 1000, 500), -250);
  c.advance(10_000);
  t.equal(table.tokensOf(slot, 0, 1000, 500), 500, 'never above the burst');
  t.equal(table.tokensOf(slot, 1, 50, 50), 50, 'kinds are separate');
});

t.test('a new bucket starts with its start share of the burst (quotaTable.newBucketShare), also after eviction', async (t) => {
  const c = clock();
  const table = new BucketTable(1, 256, c.now, 0.1);
  const alice = table.slotFor('alice');
  t.equal(table.tokensOf(alice, 0, 1000, 1000), 100, 'a tenth of a 1000-byte burst');
  t.equal(table.startTokens(1000), 100);
  t.equal(table.charge(alice, 0, 300, 1000, 1000), 200, '200 bytes of debt at 1000 B/s: 200 ms');
  c.advance(10_000);
  t.equal(table.tokensOf(alice, 0, 1000, 1000), 1000, 'it refills to the whole burst');
  const bob = table.slotFor('bob'); // alice is full again: her slot is reused
  t.equal(bob, alice);
  t.equal(table.tokensOf(bob, 0, 1000, 1000), 100, 'the next tenant in that slot starts at a tenth again');
  t.equal(table.tokensOf(table.slotFor('alice'), 0, 1000, 1000), 100, 'and so does alice when she comes back');
});

t.test('eviction: full buckets go first and lose nothing; partly used ones are forgiven and counted', async (t) => {
  const c = clock();
  const table = new BucketTable(3, 256, c.now);
  const a = table.slotFor('a');
  const b = table.slotFor('b');
  const cc = table.slotFor('c');
  table.charge(a, 0, 100, 1000, 1000); // a: partly used
  table.charge(b, 0, 100, 1000, 1000); // b: partly used, refills in 100 ms
  table.charge(cc, 0, 100, 1000, 1000);
  c.advance(50);
  table.slotFor('b'); // b most recently used
  table.slotFor('c');
  const d = table.slotFor('d');
  t.equal(d, a, 'the least recently used slot is reused');
  t.same([table.stats.evictions, table.stats.evictionsLostDebt], [1, 1], 'a was not full: counted as lost debt');
  c.advance(1000);
  const e = table.slotFor('e');
  t.equal(e, b, 'b, full again, is reused');
  t.same([table.stats.evictions, table.stats.evictionsLostDebt], [2, 1], 'lossless');
  t.equal(table.find('a'), undefined);
  t.equal(table.find('b'), undefined);
});

t.test('when every candidate is throttled, a new key gets the overflow slot and nobody loses debt; shared, its keys are throttled together', async (t) => {
  const c = clock();
  const table = new BucketTable(4, 256, c.now, 1, 1, true);
  for (const k of ['t1', 't2', 't3', 't4']) table.charge(table.slotFor(k), 0, 5000, 1000, 1000); // 4 s of debt each
  const throttled = ['t1', 't2', 't3', 't4'].map((k) => table.find(k));
  let overflowed = 0;
  for (let i = 0; i < 1000; i++) if (table.slotFor(`invented-${i}`) === table.overflowSlot) overflowed++;
  t.equal(overflowed, 1000, '1,000 new keys all went to the overflow slot');
  t.equal(table.stats.overflowed, 1000);
  t.same(['t1', 't2', 't3', 't4'].map((k) => table.find(k)), throttled, 'the throttled tenants keep their slots');
  t.ok(table.tokensOf(table.find('t1')!, 0, 1000, 1000) < 0, 'and their debt');
  // the overflow slot is one shared bucket: keys that found no slot are throttled together
  let throttle = 0;
  for (let i = 0; i < 10; i++) throttle = table.charge(table.slotFor(`invented-${i}`), 0, 500, 1000, 1000);
  t.ok(throttle > 3000, `ten invented keys share one bucket (throttle ${throttle} ms)`);
  c.advance(10_000);
  t.not(table.slotFor('late'), table.overflowSlot, 'once debts are paid, slots are reused again');
});

t.test(`eviction looks at most ${EVICTION_SCAN} least recently used slots`, async (t) => {
  const c = clock();
  const table = new BucketTable(EVICTION_SCAN + 1, 256, c.now);
  for (let i = 0; i < EVICTION_SCAN; i++) table.charge(table.slotFor(`debtor-${i}`), 0, 5000, 1000, 1000);
  const idle = table.slotFor('idle'); // most recent, full
  t.equal(table.slotFor('new'), table.overflowSlot, 'the free slot beyond the scan is not found');
  t.ok(idle >= 0);
});

t.test('keys are bounded in length; long keys keep a prefix and a hash', async (t) => {
  const table = new BucketTable(10, 64, () => 0);
  const long1 = 'x'.repeat(1000) + '1';
  const long2 = 'x'.repeat(1000) + '2';
  const k1 = table.boundKey(long1);
  t.ok(k1.length <= 64);
  t.not(k1, table.boundKey(long2), 'different keys stay different');
  t.not(table.slotFor(long1), table.slotFor(long2));
  t.equal(table.find(long1), table.slotFor(long1));
});

t.test('memory depends on the capacity alone: a million keys through a 10,000-slot table', async (t) => {
  const c = clock();
  const table = new BucketTable(10_000, 256, c.now);
  const fill = (from: number, n: number) => {
    for (let i = from; i < from + n; i++) {
      table.charge(table.slotFor(`client-${i}-${'p'.repeat(40)}`), 0, 100, 1_000_000, 1_000_000);
      c.advance(1);
    }
  };
  fill(0, 20_000);
  gc();
  const after20k = process.memoryUsage().heapUsed;
  fill(20_000, 1_000_000);
  gc();
  const after1m = process.memoryUsage().heapUsed;
  t.equal(table.stats.used, 10_000, 'the table is full, never larger');
  t.ok(table.stats.evictions >= 1_010_000, `${table.stats.evictions} evictions`);
  const growthMB = (after1m - after20k) / 1048576;
  t.ok(growthMB < 8, `heap after 1,000,000 keys is within 8 MB of the heap after 20,000 (${growthMB.toFixed(1)} MB)`);
});

t.test("the quota table's overflow slot keeps no balance: each charge is throttled as from an empty bucket, nobody's debt is another's", async (t) => {
  const c = clock();
  const table = new BucketTable(4, 256, c.now);
  for (const k of ['t1', 't2', 't3', 't4']) table.charge(table.slotFor(k), 0, 5000, 1000, 1000);
  // a key that found no slot takes the overflow slot deep into "debt"...
  t.equal(table.charge(table.slotFor('mallory-1'), 0, 100_000_000, 1000, 1000), 100_000_000, 'a charge of 100,000,000 at 1,000/s: 100,000 s for it alone');
  // ...which is no one else's
  const newcomer = table.slotFor('alice');
  t.equal(newcomer, table.overflowSlot);
  t.equal(table.charge(newcomer, 0, 1000, 1_000_000, 1_000_000), 1, "the next key's 1,000 at 1,000,000/s: 1 ms, its own cost");
  t.equal(table.tokensOf(newcomer, 0, 1000, 1000), 0, 'its tokens read as an empty bucket');
  table.refund(newcomer, 0, 1000, 1000, 1000);
  t.equal(table.tokensOf(newcomer, 0, 1000, 1000), 0, 'a refund to it changes nothing');
});
