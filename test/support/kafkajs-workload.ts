// A kafkajs client in its own process (so the OS can tell its connections apart): creates a topic, produces with an
// idempotent acks=all producer, consumes in a group, describes and alters configs, deletes the topic; prints one
// JSON line with what it saw. Usage: kafkajs-workload.ts BOOTSTRAP TOPIC COUNT
import { testKafka } from './kafkajs.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const [bootstrap, topic, countText] = process.argv.slice(2);
const count = Number(countText);
const kafka = testKafka(bootstrap!, { clientId: 'kafkajs-workload' });
const admin = kafka.admin();
await admin.connect();
await createTopicsAndWait(admin, [{ topic: topic!, numPartitions: 3, replicationFactor: 3 }]);
const producer = kafka.producer({ idempotent: true });
await producer.connect();
const values = Array.from({ length: count }, (_, i) => `v${i}`);
for (let i = 0; i < count; i += 100) await producer.send({ topic: topic!, acks: -1, messages: values.slice(i, i + 100).map((value) => ({ value })) });
await producer.disconnect();

const consumer = kafka.consumer({ groupId: `${topic}-group` });
await consumer.connect();
await consumer.subscribe({ topic: topic!, fromBeginning: true });
// consumption is at-least-once (a rebalance re-reads what was not committed yet), so it runs until every distinct
// value has been seen, and reports both counts
const seen = new Set<string>();
let deliveries = 0;
await new Promise<void>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`consumed ${seen.size} of ${count}`)), 60_000);
  void consumer.run({
    eachMessage: async ({ message }) => {
      seen.add(message.value!.toString());
      deliveries++;
      if (seen.size === count) {
        clearTimeout(timer);
        resolve();
      }
    },
  });
});
await consumer.disconnect();

// KRaft answers AlterConfigs and DeleteTopics once the controller committed them; the broker asked next may not have
// applied them yet: read until it has (30 s at most), reporting what was read last
const settled = async <T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> => {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
};
await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: topic!, configEntries: [{ name: 'retention.ms', value: '7200000' }] }] });
const retention = await settled(async () => {
  const described = await admin.describeConfigs({ resources: [{ type: 2, name: topic!, configNames: ['retention.ms'] }], includeSynonyms: false });
  return described.resources[0]!.configEntries.find((e) => e.configName === 'retention.ms')!.configValue;
}, (v) => v === '7200000');
const cluster = await admin.describeCluster();
await admin.deleteTopics({ topics: [topic!], timeout: 30_000 });
const remaining = await settled(() => admin.listTopics(), (topics) => !topics.includes(topic!));
await admin.disconnect();
console.log(JSON.stringify({
  produced: count,
  consumed: deliveries,
  distinct: seen.size,
  retention,
  brokers: cluster.brokers.map((b) => `${b.host}:${b.port}`),
  deleted: !remaining.includes(topic!),
}));
