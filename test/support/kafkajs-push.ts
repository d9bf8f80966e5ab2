// A kafkajs producer that pushes 1 KB records as hard as it can (several sends in flight) until killed.
// Usage: kafkajs-push.ts BOOTSTRAP TOPIC CLIENT_ID [SASL_MECHANISM USER PASSWORD]
import { testKafka } from './kafkajs.js';
import type { SASLOptions } from 'kafkajs';

const [bootstrap, topic, clientId, mechanism, username, password] = process.argv.slice(2);
const sasl = mechanism ? ({ mechanism, username, password } as SASLOptions) : undefined;
const kafka = testKafka(bootstrap!, { clientId: clientId!, ...(sasl ? { sasl } : {}) });
const producer = kafka.producer({ allowAutoTopicCreation: false });
await producer.connect();
const messages = Array.from({ length: 64 }, () => ({ value: Buffer.alloc(1024, 0x6b) }));
const loop = async () => {
  for (;;) await producer.send({ topic: topic!, acks: 1, messages });
};
await Promise.all([loop(), loop(), loop(), loop()]);
