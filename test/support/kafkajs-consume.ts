// A kafkajs consumer in a group that reads a topic from the beginning as fast as it can, committing every 500 ms,
// until killed. Usage: kafkajs-consume.ts BOOTSTRAP TOPIC GROUP CLIENT_ID
import { testKafka } from './kafkajs.js';

const [bootstrap, topic, group, clientId] = process.argv.slice(2);
const consumer = testKafka(bootstrap!, { clientId: clientId! }).consumer({ groupId: group!, maxBytes: 50 * 1024 * 1024 });
await consumer.connect();
await consumer.subscribe({ topic: topic!, fromBeginning: true });
await consumer.run({ autoCommitInterval: 500, eachBatch: async ({ batch, resolveOffset }) => resolveOffset(batch.lastOffset()) });
