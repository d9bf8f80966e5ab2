// Real clients through the sidecars of a 3-node cluster: producers with acks 0, 1 and all, idempotent and
// compressed; consumer groups that rebalance; transactions (committed and aborted); admin calls.
import t from 'tap';
import { testKafka } from '../support/kafkajs.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompressionTypes, type Consumer } from 'kafkajs';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { startSidecars } from '../support/sidecars.js';
import { kcatConsume, kcatProduce, runKcat } from '../support/kcat.js';
import { producerPerformance, verifiableConsumer, verifiableProducer } from '../support/java-clients.js';
import { runJavaOk } from '../../src/local-kafka/java-tool.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const cluster = sharedCluster();
const sidecars = await startSidecars(cluster);
t.teardown(() => sidecars.stop());
const bootstrap = sidecars.bootstrap.split(',')[0]!;
const kafka = testKafka(bootstrap);
const admin = kafka.admin();
await admin.connect();
t.teardown(() => admin.disconnect());

async function topic(prefix: string, partitions = 3): Promise<string> {
  const name = uniqueName(prefix);
  await createTopicsAndWait(admin, [{ topic: name, numPartitions: partitions, replicationFactor: 3 }]);
  return name;
}

/**
 * The records of a topic, each log entry once: a group consumer delivers at least once (a rebalance on a busy machine
 * re-delivers what was not committed), so deliveries are told apart by partition and offset; a record written twice
 * has two offsets and shows twice.
 */
async function consumeAll(name: string, expected: number, opts: { readUncommitted?: boolean } = {}): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('compat-reader'), readUncommitted: opts.readUncommitted ?? false });
  const seen = new Map<string, string>();
  await consumer.connect();
  await consumer.subscribe({ topic: name, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ partition, message }) => void seen.set(`${partition}:${message.offset}`, message.value!.toString()) });
  const deadline = Date.now() + 120_000;
  while (seen.size < expected && Date.now() < deadline) await sleep(100);
  await sleep(500); // anything beyond what was expected would show up now
  await consumer.disconnect();
  return [...seen.values()];
}

t.test('kafkajs producers: acks 0, 1 and all; idempotent; gzip', async (t) => {
  const name = await topic('compat-acks');
  const plain = kafka.producer();
  const idempotent = kafka.producer({ idempotent: true });
  await plain.connect();
  await idempotent.connect();
  const sent: string[] = [];
  for (const acks of [0, 1, -1]) {
    const values = Array.from({ length: 200 }, (_, i) => `acks${acks}-${i}`);
    await plain.send({ topic: name, acks, messages: values.map((value) => ({ value })) });
    sent.push(...values);
  }
  const gz = Array.from({ length: 200 }, (_, i) => `gzip-${i}-${'x'.repeat(100)}`);
  await idempotent.send({ topic: name, acks: -1, compression: CompressionTypes.GZIP, messages: gz.map((value) => ({ value })) });
  sent.push(...gz);
  await plain.disconnect();
  await idempotent.disconnect();
  const seen = await consumeAll(name, sent.length);
  t.same(seen.sort(), sent.sort(), `all ${sent.length} records, once each`);
});

t.test('kafkajs consumer group: members join and leave, every record is consumed', async (t) => {
  const name = await topic('compat-group', 6);
  const group = uniqueName('compat-group');
  const seen = new Set<string>();
  const members: Consumer[] = [];
  const join = async () => {
    const c = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 500 });
    await c.connect();
    await c.subscribe({ topic: name, fromBeginning: true });
    await c.run({ eachMessage: async ({ message }) => void seen.add(message.value!.toString()) });
    members.push(c);
    return c;
  };
  const producer = kafka.producer();
  await producer.connect();
  const produce = async (from: number) =>
    producer.send({ topic: name, messages: Array.from({ length: 300 }, (_, i) => ({ value: `r${from + i}` })) });
  const a = await join();
  await produce(0);
  await join(); // rebalance: two members
  await produce(300);
  await join(); // three members
  await produce(600);
  await a.disconnect(); // rebalance: a member leaves
  members.splice(members.indexOf(a), 1);
  await produce(900);
  const deadline = Date.now() + 120_000;
  while (seen.size < 1200 && Date.now() < deadline) await sleep(100);
  for (const c of members) await c.disconnect();
  await producer.disconnect();
  t.equal(seen.size, 1200, 'every record was consumed across the rebalances');
});

t.test('kafkajs transactions: committed records are read, aborted ones are not', async (t) => {
  const name = await topic('compat-tx');
  const producer = kafka.producer({ transactionalId: uniqueName('tx'), idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const committed = await producer.transaction();
  await committed.send({ topic: name, messages: Array.from({ length: 50 }, (_, i) => ({ value: `commit-${i}` })) });
  await committed.commit();
  const aborted = await producer.transaction();
  await aborted.send({ topic: name, messages: Array.from({ length: 50 }, (_, i) => ({ value: `abort-${i}` })) });
  await aborted.abort();
  await producer.disconnect();
  const seen = await consumeAll(name, 50);
  t.equal(seen.length, 50);
  t.ok(seen.every((v) => v.startsWith('commit-')), 'read_committed sees only the committed transaction');
});

t.test('kcat: acks 0, 1 and all; snappy, lz4 and zstd; a consumer group', async (t) => {
  const name = await topic('compat-kcat');
  const sent: string[] = [];
  for (const [acks, codec] of [['0', 'none'], ['1', 'snappy'], ['all', 'lz4'], ['all', 'zstd']] as const) {
    const values = Array.from({ length: 250 }, (_, i) => `${acks}-${codec}-${i}`);
    await kcatProduce(bootstrap, name, values, { acks, 'compression.codec': codec });
    sent.push(...values);
  }
  t.same((await kcatConsume(bootstrap, name)).sort(), sent.sort(), 'every record once');
  const group = await runKcat(['-b', bootstrap, '-G', uniqueName('kcat-group'), '-o', 'beginning', '-e', '-q', '-f', '%s\\n', name], undefined, 120_000);
  t.equal(group.stdout.trim().split('\n').length, sent.length, 'the balanced consumer read them all');
});

t.test('Java: VerifiableProducer with acks 0, 1 and all and compression; every acknowledged record consumed once', async (t) => {
  const name = await topic('compat-java');
  const acked: string[] = [];
  for (const [acks, compression, prefix] of [[0, 'none', 1], [1, 'gzip', 2], [-1, 'zstd', 3]] as const) {
    const r = await verifiableProducer(cluster.classpath, {
      bootstrap, topic: name, maxMessages: 2000, acks, valuePrefix: prefix, props: { 'compression.type': compression, 'linger.ms': 5 },
    });
    t.equal(r.errors, 0, `acks=${acks} ${compression}: no send errors`);
    acked.push(...r.acked.map((a) => a.value));
  }
  t.equal(acked.length, 6000);
  const consumed = await verifiableConsumer(cluster.classpath, { bootstrap, topic: name, groupId: uniqueName('verifiable'), maxMessages: 6000 });
  const values = consumed.map((r) => r.value);
  t.same(values.filter((v, i) => values.indexOf(v) !== i), [], 'none consumed twice');
  t.same([...new Set(values)].sort(), [...acked].sort(), 'every acknowledged record consumed');
});

t.test('Java: a transactional ProducerPerformance run, read committed', async (t) => {
  const name = await topic('compat-java-tx', 1);
  const perf = await producerPerformance(cluster.classpath, {
    bootstrap, topic: name, numRecords: 5000, recordSize: 200, props: { 'transactional.id': uniqueName('java-tx'), acks: 'all' },
  });
  t.equal(perf.records, 5000);
  const consumed = await verifiableConsumer(cluster.classpath, {
    bootstrap, topic: name, groupId: uniqueName('java-tx-reader'), maxMessages: 5000, props: { 'isolation.level': 'read_committed' },
  });
  t.equal(consumed.length, 5000, 'all committed records read');
});

t.test('Java admin: create, alter and describe configs, delete', async (t) => {
  const name = uniqueName('compat-admin');
  const cp = { classpath: cluster.classpath };
  const base = ['--bootstrap-server', bootstrap];
  await runJavaOk('org.apache.kafka.tools.TopicCommand', [...base, '--create', '--topic', name, '--partitions', '2', '--replication-factor', '3'], cp);
  await runJavaOk('org.apache.kafka.tools.ConfigCommand', [...base, '--alter', '--entity-type', 'topics', '--entity-name', name, '--add-config', 'max.message.bytes=2000000'], cp);
  // the broker a command asks may not have applied what the controller committed for the one before: asked again
  // (30 s at most) until it has
  const settled = async (args: string[], done: (out: string) => boolean) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { stdout } = await runJavaOk('org.apache.kafka.tools.' + args[0], [...base, ...args.slice(1)], cp);
      if (done(stdout) || Date.now() > deadline) return stdout;
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const described = await settled(['ConfigCommand', '--describe', '--entity-type', 'topics', '--entity-name', name], (out) => /max\.message\.bytes=2000000/.test(out));
  t.match(described, /max\.message\.bytes=2000000/);
  await runJavaOk('org.apache.kafka.tools.TopicCommand', [...base, '--delete', '--topic', name], cp);
  const list = await settled(['TopicCommand', '--list'], (out) => !out.split('\n').includes(name));
  t.notOk(list.split('\n').includes(name), 'deleted');
});
