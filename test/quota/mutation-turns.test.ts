// Turns for topics refused by the partition-mutation quota, on a fake clock: refused topics queue in the order they
// were first refused, each taking its partitions ÷ the rate; one that comes back at its turn goes, one that comes
// back early is told how long is left; a new topic goes to the back while others wait; tenants queue apart; and the
// state is bounded.
import t from 'tap';
import { MutationTurns } from '../../src/quota/mutation-turns.js';

function setup(capacity = 100) {
  let now = 1000;
  const turns = new MutationTurns(capacity, () => now);
  return { turns, at: (ms: number) => void (now = ms) };
}

t.test('nobody waiting and not in debt: a topic goes at once (Kafka\'s rule)', async (t) => {
  const { turns } = setup();
  t.equal(turns.decide('a', 't1', 2000, 0), 0);
  t.equal(turns.size, 0, 'nothing kept');
});

t.test('refused topics are served in the order they were first refused, a cost apart', async (t) => {
  const { turns, at } = setup();
  // in debt for 500 ms; three topics of 2 s each (200 partitions at 100/s)
  t.equal(turns.decide('a', 't1', 2000, 500), 500, 'the first waits out the debt');
  t.equal(turns.decide('a', 't2', 2000, 500), 2500, 'the second waits for the first');
  t.equal(turns.decide('a', 't3', 2000, 500), 4500, 'the third for both');
  at(1400);
  t.equal(turns.decide('a', 't2', 2000, 0), 2100, 'a retry before its turn is told what is left');
  t.equal(turns.decide('a', 'new', 2000, 0), 6100, 'a new topic goes to the back, though the bucket is not in debt');
  at(1500);
  t.equal(turns.decide('a', 't1', 2000, 0), 0, 't1 goes at its turn');
  at(3460);
  t.equal(turns.decide('a', 't2', 2000, 300), 0, 't2 goes at its turn (a little early is fine), whatever the debt');
  t.equal(turns.decide('b', 'x', 1000, 0), 0, 'another tenant does not queue behind a');
});

t.test('bounded: at most capacity turns, the oldest forgotten first', async (t) => {
  const { turns } = setup(10);
  for (let i = 0; i < 1000; i++) turns.decide(`tenant-${i % 50}`, `t${i}`, 100, 100);
  t.equal(turns.size, 10, 'ten turns kept of a thousand');
});
