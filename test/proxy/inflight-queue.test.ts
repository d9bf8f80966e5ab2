// The in-flight ring: entries come out in the order they went in, with every field and attachment, across wrap-arounds
// and growth, and never beyond its capacity.
import t from 'tap';
import { InflightQueue, LOCAL_ANSWER, GATED } from '../../src/proxy/inflight-queue.js';

t.test('order, fields and attachments survive wrap-around and growth; the capacity holds', async (t) => {
  const q = new InflightQueue(64, 2);
  let pushed = 0;
  let shifted = 0;
  let wrong = 0;
  let refused = 0;
  const push = () => {
    const n = pushed;
    const answer = n % 3 === 0 ? Buffer.from([n & 0xff]) : undefined;
    const took = q.push(n % 70, n % 17, 1_000_000 + n, n + 0.25, answer ? LOCAL_ANSWER : n % 5 === 0 ? GATED : 0, n * 1.5, answer);
    if (took) pushed++;
    else refused++;
    return took;
  };
  const shift = () => {
    const n = shifted++;
    const answer = n % 3 === 0;
    if (q.firstApiKey() !== n % 70 || q.firstApiVersion() !== n % 17 || q.firstCorrelationId() !== 1_000_000 + n) wrong++;
    if (q.firstStartMs() !== n + 0.25 || q.firstThrottleMs() !== n * 1.5) wrong++;
    if (q.firstFlags() !== (answer ? LOCAL_ANSWER : n % 5 === 0 ? GATED : 0)) wrong++;
    if (answer ? (q.firstAttachment() as Buffer)[0] !== (n & 0xff) : q.firstAttachment() !== undefined) wrong++;
    q.shift();
  };
  // uneven push/shift rounds so that the ring wraps before and after it grows, and fills up now and then
  for (let round = 0; round < 400; round++) {
    for (let k = 0; k < (round % 7) + 1; k++) push();
    for (let k = 0; k < (round % 5) + 1 && q.size > 0; k++) shift();
  }
  while (q.size > 0) shift();
  t.equal(wrong, 0, `${shifted} entries came out as they went in`);
  t.equal(shifted, pushed);
  t.ok(refused > 0, `${refused} pushes refused at the capacity on the way`);
  for (let k = 0; k < 64; k++) push();
  t.ok(q.full, 'full at its capacity');
  t.notOk(push(), 'and takes no more');
  t.equal(q.countFlagged(GATED), Array.from({ length: 64 }, (_, k) => pushed - 64 + k).filter((n) => n % 3 !== 0 && n % 5 === 0).length, 'countFlagged counts the GATED ones');
});
