// The coordination client's own life, against an in-process fake of its kafkajs clients: a consumer that kafkajs
// stops for good (a crash it does not retry: authorization lost, a group coordinator not found, a SASL login refused)
// is started again, with a back-off that doubles while it keeps stopping; one kafkajs restarts itself is left to it;
// nothing is started after stop(); a coordination topic made by someone else is checked (one partition, compacted); a
// topic deleted while the sidecars run is created again and the consumer, which reads nothing of it, started again.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KafkaConfig, Message } from 'kafkajs';
import { ClusterCoordinator, type KafkaClients } from '../../src/quota/cluster-coordinator.js';
import { ClusterShares } from '../../src/quota/cluster-shares.js';
import { BucketTable } from '../../src/quota/bucket-table.js';
import { KINDS } from '../../src/quota/quota-kinds.js';
import { createLogger, RateLimitedLog } from '../../src/observability/logger.js';
import { Writable } from 'node:stream';

const CRASH = 'consumer.crash';

/**
 * kafkajs' three clients, counting the consumer's runs and stops and keeping its crash listener; the topic exists
 * already. What the producer sends, a running consumer reads at once (unless not `readsBack`), unless the topic was
 * deleted after that run began (a consumer of a deleted topic reads nothing until it is run again).
 */
function fakeKafka(topic = { partitions: 1, cleanupPolicy: 'compact' }, readsBack = true) {
  const state = {
    runs: 0, stops: 0, creates: 0, exists: true, crash: undefined as ((e: { payload: { error: Error; restart: boolean } }) => void) | undefined,
    reader: undefined as ((p: { message: Message }) => Promise<void>) | undefined,
  };
  const noop = async () => undefined;
  const clients = {
    admin: () => ({
      connect: noop, disconnect: noop, describeCluster: async () => ({ brokers: [{}, {}, {}] }),
      listTopics: async () => (state.exists ? ['kqp-quota-coordination'] : []),
      createTopics: async () => (state.creates++, state.exists = true),
      fetchTopicMetadata: async () => ({ topics: [{ name: 'kqp-quota-coordination', partitions: Array.from({ length: topic.partitions }, (_, i) => ({ partitionId: i })) }] }),
      describeConfigs: async () => ({ resources: [{ configEntries: [{ configName: 'cleanup.policy', configValue: topic.cleanupPolicy }] }] }),
    }),
    producer: () => ({
      connect: noop, disconnect: noop,
      send: async ({ messages }: { messages: Message[] }) => {
        if (!state.exists) throw new Error('This server does not host this topic-partition');
        if (readsBack) for (const m of messages) await state.reader?.({ message: { ...m, value: typeof m.value === 'string' ? Buffer.from(m.value) : m.value } });
      },
    }),
    consumer: () => ({
      events: { CRASH },
      on: (event: string, listener: typeof state.crash) => void (event === CRASH && (state.crash = listener)),
      connect: noop, disconnect: noop, subscribe: noop,
      stop: async () => void (state.stops++, state.reader = undefined),
      run: async ({ eachMessage }: { eachMessage: typeof state.reader }) => void (state.runs++, state.reader = eachMessage),
    }),
  } as unknown as KafkaClients;
  const deleteTopic = () => {
    state.exists = false;
    state.reader = undefined;
  };
  return { state, deleteTopic, clients: (_config: KafkaConfig) => clients };
}

function coordinator(fake: ReturnType<typeof fakeKafka>, lines: string[] = []) {
  const now = () => performance.now();
  const table = new BucketTable(4, 64, now, 1, KINDS);
  const settings = { topic: 'kqp-quota-coordination', intervalMs: 1000, staleAfterMs: 5000, forgetAfterMs: 20_000, maxSidecars: 16, floorShare: 0.03, sidecarId: 'me' };
  const shares = new ClusterShares(settings, 5, KINDS, (slot) => table.keyOf(slot), table.generation, now);
  const log = createLogger('warn', new Writable({ write: (chunk, _enc, cb) => void (lines.push(String(chunk)), cb()) }));
  return { c: new ClusterCoordinator(shares, { host: '127.0.0.1', port: 9 }, log, new RateLimitedLog(log), KINDS, 64, fake.clients), shares };
}

const until = async (check: () => boolean, timeoutMs = 10_000) => {
  for (const deadline = Date.now() + timeoutMs; !check() && Date.now() < deadline;) await sleep(10);
};

t.test('a consumer kafkajs stops for good is started again, later each time it keeps stopping; one it restarts is left to it', async (t) => {
  const fake = fakeKafka(undefined, false);
  const { c } = coordinator(fake);
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

t.test('a coordination topic made by someone else: one partition and compacted, or a warning says what it needs', async (t) => {
  for (const [topic, warned] of [[{ partitions: 1, cleanupPolicy: 'compact' }, false], [{ partitions: 6, cleanupPolicy: 'delete' }, true], [{ partitions: 1, cleanupPolicy: 'delete' }, true]] as const) {
    const fake = fakeKafka(topic);
    const lines: string[] = [];
    const { c } = coordinator(fake, lines);
    c.start();
    await until(() => fake.state.runs === 1);
    await c.stop();
    const warning = lines.find((l) => l.includes('coordination-topic'));
    t.equal(warning !== undefined, warned, `${topic.partitions} partition(s), cleanup.policy ${topic.cleanupPolicy}: ${warning ?? 'no warning'}`);
    t.equal(fake.state.runs, 1, 'and coordination runs all the same');
  }
});

t.test('the topic deleted while the sidecars run: created again, the consumer started again, coordinated again', async (t) => {
  const fake = fakeKafka();
  const lines: string[] = [];
  const { c, shares } = coordinator(fake, lines);
  t.teardown(() => c.stop());
  c.start();
  await until(() => shares.mode() === 'coordinated');
  t.equal(shares.mode(), 'coordinated', 'its own reports read back');
  // a consumer is started again only once it has had longer than a first join takes (15 s) to read anything
  await sleep(15_000);
  const runs = fake.state.runs;
  fake.deleteTopic();
  const deletedAt = performance.now();
  await until(() => fake.state.creates === 1, 5000);
  t.equal(fake.state.creates, 1, `created again ${((performance.now() - deletedAt) / 1000).toFixed(1)} s after it was deleted (the next publish failed)`);
  t.ok(lines.some((l) => l.includes('coordination-recreated')), 'and said so');
  await until(() => shares.mode() === 'stale', 10_000);
  t.equal(shares.mode(), 'stale', 'the fallback share meanwhile: the consumer of the deleted topic reads nothing');
  await until(() => shares.mode() === 'coordinated', 10_000);
  t.equal(shares.mode(), 'coordinated', `coordinated again ${((performance.now() - deletedAt) / 1000).toFixed(1)} s after the deletion`);
  t.same([fake.state.runs - runs, fake.state.stops], [1, 1], 'its consumer stopped and run again, once');
  t.equal(fake.state.creates, 1, 'the topic created once');
});
