// Proves a cluster serves: a real client creates a topic and produces to it with acks=all.
import { Kafka, logLevel } from 'kafkajs';
import { createTopicsAndWait } from './topics.js';

const READY_TOPIC = '__kqp_ready';

export async function checkServes(bootstrap: string, replicationFactor: number): Promise<void> {
  const kafka = new Kafka({
    clientId: 'kqp-readiness',
    brokers: bootstrap.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 2 },
  });
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    if (!topics.includes(READY_TOPIC)) {
      await createTopicsAndWait(admin, [{ topic: READY_TOPIC, numPartitions: 1, replicationFactor }]);
    }
    await producer.connect();
    await producer.send({ topic: READY_TOPIC, acks: -1, messages: [{ value: `ready ${Date.now()}` }] });
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
