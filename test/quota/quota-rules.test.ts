// Kafka's quota precedence, level by level, and the bucket keys (Kafka's quota sensor tags).
import t from 'tap';
import { QuotaRules, DEFAULT } from '../../src/quota/quota-rules.js';
import { PRODUCE, FETCH, REQUESTS } from '../../src/quota/quota-kinds.js';
import type { QuotaEntry } from '../../src/config/load-config.js';

const r = (rate: number) => ({ rate, burst: rate });
const entry = (user: string | undefined, clientId: string | undefined, produce: number): QuotaEntry => ({
  user, clientId, rates: [r(produce), undefined, undefined], shadow: false,
});

const all = new QuotaRules([
  entry('alice', 'app', 1),
  entry('alice', DEFAULT, 2),
  entry('alice', undefined, 3),
  entry(DEFAULT, 'app', 4),
  entry(DEFAULT, DEFAULT, 5),
  entry(DEFAULT, undefined, 6),
  entry(undefined, 'app', 7),
  entry(undefined, DEFAULT, 8),
]);

t.test('the most specific entity wins, in Kafka order', async (t) => {
  t.match(all.resolve(PRODUCE, 'alice', 'app'), { level: 1, rate: 1, entity: 'user=alice,client-id=app', userTag: 'alice', clientTag: 'app' });
  t.match(all.resolve(PRODUCE, 'alice', 'other'), { level: 2, rate: 2, userTag: 'alice', clientTag: 'other' }, '(user, <default>): per client id');
  t.match(all.resolve(PRODUCE, 'bob', 'app'), { level: 4, rate: 4, userTag: 'bob', clientTag: 'app' });
  t.match(all.resolve(PRODUCE, 'bob', 'x'), { level: 5, rate: 5, userTag: 'bob', clientTag: 'x' });
});

t.test('each level, by removing the more specific ones', async (t) => {
  const levels: [QuotaEntry[], string, string, number, string, string][] = [
    [[entry('alice', undefined, 3)], 'alice', 'app', 3, 'alice', ''],
    [[entry(DEFAULT, undefined, 6)], 'carol', 'app', 6, 'carol', ''],
    [[entry(undefined, 'app', 7)], 'carol', 'app', 7, '', 'app'],
    [[entry(undefined, DEFAULT, 8)], 'carol', 'zzz', 8, '', 'zzz'],
  ];
  for (const [entries, user, client, level, userTag, clientTag] of levels) {
    t.match(new QuotaRules(entries).resolve(PRODUCE, user, client), { level, userTag, clientTag }, `level ${level}`);
  }
  t.equal(new QuotaRules([entry(undefined, 'app', 7)]).resolve(PRODUCE, 'carol', 'other'), undefined, 'no quota applies');
});

t.test("no client id (null or empty): the user's quotas alone, as Kafka's lookup", async (t) => {
  t.match(all.resolve(PRODUCE, 'alice', ''), { level: 3, rate: 3, userTag: 'alice', clientTag: '' }, 'user=alice, not (alice, <default>)');
  t.match(all.resolve(PRODUCE, 'bob', ''), { level: 6, rate: 6, userTag: 'bob', clientTag: '' }, '<default> user, not (<default>, <default>)');
  const clientQuotas = new QuotaRules([entry(undefined, 'app', 7), entry(undefined, DEFAULT, 8), entry(DEFAULT, DEFAULT, 5)]);
  t.equal(clientQuotas.resolve(PRODUCE, 'ANONYMOUS', ''), undefined, 'no <default> client-id quota applies (before: level 5)');
});

t.test('each kind of quota is resolved on its own', async (t) => {
  const rules = new QuotaRules([
    { user: 'alice', clientId: undefined, rates: [r(100), undefined, undefined], shadow: false },
    { user: undefined, clientId: DEFAULT, rates: [r(1), r(200), r(10)], shadow: true },
  ]);
  t.match(rules.resolve(PRODUCE, 'alice', 'a'), { level: 3, rate: 100 }, 'produce from the user entry');
  t.match(rules.resolve(FETCH, 'alice', 'a'), { level: 8, rate: 200, shadow: true }, 'fetch from the default client-id entry (in shadow mode, as the entry says)');
  t.match(rules.resolve(PRODUCE, 'alice', 'a'), { shadow: false }, 'the user entry is enforced');
  t.match(rules.resolve(REQUESTS, 'alice', 'a'), { level: 8, rate: 10 });
  const named = QuotaRules.namedTenants(rules ? [entry('alice', 'x', 1), entry(DEFAULT, DEFAULT, 1)] : []);
  t.same([[...named.users], [...named.clients]], [['alice'], ['x']], 'named tenants exclude <default>, users and client ids apart');
});
