// The coordination client's own life, against an in-process fake of its kafkajs clients: a consumer that kafkajs
// stops for good (a crash it does not retry: authorization lost, a group coordinator not found, a SASL login refused)
// is started again, with a back-off that doubles while it keeps stopping; one kafkajs restarts itself is left to it;
// nothing is started after stop().
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KafkaConfig } from 'kafkajs';
import { ClusterCoordinator, type KafkaClients } from '../../src/quota/cluster-coordinator.js';
import { ClusterShares } from '../../src/quota/cluster-shares.js';
import { BucketTable } from '../../src/quota/bucket-table.js';
import { KINDS } from '../../src/quota/quota-kinds.js';
import { createLogger, RateLimitedLog } from '../../src/observability/logger.js';

const CRASH = 'consumer.crash';

/** kafkajs' three clients, doing nothing but count the consumer's runs and keep its crash listener. */
function fakeKafka() {
  const state = { runs: 0, crash: undefined as ((e: { payload: { error: Error; restart: boolean } }) => void) | undefined };
  const noop = async () => undefined;
  const clients = {
    admin: () => ({ connect: noop, disconnect: noop, describeCluster: async () => ({ brokers: [{}, {}, {}] }), listTopics: async () => ['kqp-quota-coordination'], createTopics: noop }),
    producer: () => ({ connect: noop, disconnect: noop, send: noop }),
    consumer: () => ({
      events: { CRASH },
      on: (event: string, listener: typeof state.crash) => void (event === CRASH && (state.crash = listener)),
      connect: noop, disconnect: noop, subscribe: noop,
      run: async () => void state.runs++,
    }),
  } as unknown as KafkaClients;
  return { state, clients: (_config: KafkaConfig) => clients };
}

function coordinator(fake: ReturnType<typeof fakeKafka>) {
  const now = () => performance.now();
  const table = new BucketTable(4, 64, now, 1, KINDS);
  const settings = { topic: 'kqp-quota-coordination', intervalMs: 1000, staleAfterMs: 5000, forgetAfterMs: 20_000, maxSidecars: 16, floorShare: 0.03, sidecarId: 'me' };
  const shares = new ClusterShares(settings, 5, KINDS, (slot) => table.keyOf(slot), table.generation, now);
  const log = createLogger('silent');
  return new ClusterCoordinator(shares, { host: '127.0.0.1', port: 9 }, log, new RateLimitedLog(log), KINDS, 64, fake.clients);
}

const until = async (check: () => boolean, timeoutMs = 10_000) => {
  for (const deadline = Date.now() + timeoutMs; !check() && Date.now() < deadline;) await sleep(10);
};

t.test('a consumer kafkajs stops for good is started again, later each time it keeps stopping; one it restarts is left to it', async (t) => {
  const fake = fakeKafka();
  const c = coordinator(fake);
  t.teardown(() => c.stop());
  c.start();
  await until(() => fake.state.runs === 1);
  t.equal(fake.state.runs, 1, 'started');

  fake.state.crash!({ payload: { error: new Error('Not authorized to access group'), restart: true } });
  await sleep(1500);
  t.equal(fake.state.runs, 1, 'a crash kafkajs restarts from itself: left to it');

  let crashedAt = performance.now();
  fake.state.crash!({ payload: { error: new Error('Not authorized to access group'), restart: false } });
  await until(() => fake.state.runs === 2);
  const first = performance.now() - crashedAt;
  t.ok(fake.state.runs === 2 && first >= 950, `stopped for good: run again ${first.toFixed(0)} ms later`);

  crashedAt = performance.now();
  fake.state.crash!({ payload: { error: new Error('The group coordinator is not available'), restart: false } });
  await until(() => fake.state.runs === 3);
  const second = performance.now() - crashedAt;
  t.ok(fake.state.runs === 3 && second >= 1950, `stopped again before it read anything: run again ${second.toFixed(0)} ms later (twice the wait)`);

  await c.stop();
  fake.state.crash!({ payload: { error: new Error('late'), restart: false } });
  await sleep(1500);
  t.equal(fake.state.runs, 3, 'after stop(), nothing is started');
});
