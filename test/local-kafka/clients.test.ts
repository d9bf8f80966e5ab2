// The harness serves real clients: a replication-factor-3 topic on the shared 3-node cluster, 10,000 records
// produced and consumed with each of kafkajs, kcat and the Java client, counts and contents checked.
import t from 'tap';
import { testKafka } from '../support/kafkajs.js';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { kcatConsume, kcatProduce } from '../support/kcat.js';
import { consumerPerformance, producerPerformance, verifiableConsumer, verifiableProducer } from '../support/java-clients.js';
import { createTopicsAndWait, topicMetadata } from '../../src/local-kafka/topics.js';

const RECORDS = 10_000;
const cluster = sharedCluster();
const kafka = testKafka(cluster.bootstrap);
const admin = kafka.admin();

async function createTopic(partitions = 3): Promise<string> {
  const topic = uniqueName('harness');
  await createTopicsAndWait(admin, [{ topic, numPartitions: partitions, replicationFactor: 3 }]);
  return topic;
}

const expected = (prefix: string) => Array.from({ length: RECORDS }, (_, i) => `${prefix}-${i}`);

t.before(() => admin.connect());
t.teardown(() => admin.disconnect());

t.test('a topic with replication factor 3 has 3 replicas in sync on each partition', async (t) => {
  const topic = await createTopic();
  const partitions = (await topicMetadata(admin, [topic]))[0]!.partitions;
  t.equal(partitions.length, 3);
  for (const p of partitions) {
    t.same([...p.replicas].sort(), [1, 2, 3], `partition ${p.partitionId} replicas`);
    t.equal(p.isr.length, 3, `partition ${p.partitionId} in-sync replicas`);
  }
});

t.test('kafkajs produces and consumes 10,000 records', async (t) => {
  const topic = await createTopic();
  const values = expected('kafkajs');
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < RECORDS; i += 1000) {
    await producer.send({ topic, acks: -1, messages: values.slice(i, i + 1000).map((value) => ({ value })) });
  }
  await producer.disconnect();

  // A group consumer delivers at least once: a rebalance while it reads (one CI run had one) re-delivers what was not
  // committed yet. So it reads until every record has been seen, and the check is on the distinct records. A rebalance
  // on a busy machine also stalls it until it has joined again (another CI run stopped at 9,667 of 10,000 after 60 s),
  // so it gets three minutes.
  const consumer = kafka.consumer({ groupId: uniqueName('kafkajs-group') });
  const seen = new Set<string>();
  let deliveries = 0;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${seen.size} of ${RECORDS}`)), 180_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        seen.add(message.value!.toString());
        deliveries++;
        if (seen.size === RECORDS) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  t.equal(seen.size, RECORDS, `count (${deliveries - RECORDS} delivered again after a rebalance)`);
  t.same([...seen].sort(), values.sort(), 'contents');
});

t.test('kcat produces and consumes 10,000 records', async (t) => {
  const topic = await createTopic();
  const values = expected('kcat');
  await kcatProduce(cluster.bootstrap, topic, values);
  const seen = await kcatConsume(cluster.bootstrap, topic);
  t.equal(seen.length, RECORDS, 'count');
  t.same(seen.sort(), values.sort(), 'contents');
});

t.test('the Java VerifiableProducer and VerifiableConsumer move 10,000 records', async (t) => {
  const topic = await createTopic();
  const produced = await verifiableProducer(cluster.classpath, { bootstrap: cluster.bootstrap, topic, maxMessages: RECORDS });
  t.equal(produced.errors, 0, 'no send errors');
  t.equal(produced.acked.length, RECORDS, 'every record acknowledged');
  const consumed = await verifiableConsumer(cluster.classpath, {
    bootstrap: cluster.bootstrap, topic, groupId: uniqueName('verifiable'), maxMessages: RECORDS,
  });
  t.equal(consumed.length, RECORDS, 'count');
  t.same(consumed.map((r) => r.value).sort(), produced.acked.map((a) => a.value).sort(), 'contents');
  t.same(new Set(consumed.map((r) => r.value)).size, RECORDS, 'no duplicates');
});

t.test('ProducerPerformance and ConsumerPerformance report parsed numbers', async (t) => {
  const topic = await createTopic();
  const p = await producerPerformance(cluster.classpath, { bootstrap: cluster.bootstrap, topic, numRecords: RECORDS, recordSize: 1024, props: { acks: 'all' } });
  t.equal(p.records, RECORDS);
  t.ok(p.recordsPerSec > 0 && p.mbPerSec > 0, `producer ${p.recordsPerSec} records/s, ${p.mbPerSec} MB/s`);
  t.ok(p.p99Ms >= p.p50Ms, `latency p50 ${p.p50Ms} ms, p99 ${p.p99Ms} ms`);
  const c = await consumerPerformance(cluster.classpath, { bootstrap: cluster.bootstrap, topic, numRecords: RECORDS });
  t.equal(c.records, RECORDS);
  t.ok(Math.abs(c.mbConsumed - (RECORDS * 1024) / (1024 * 1024)) < 0.01, `consumed ${c.mbConsumed} MB`);
});
