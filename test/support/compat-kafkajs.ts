// kafkajs for the compatibility suite, in a process of its own (so that its connections can be told apart): the same
// commands as compat-client.java and compat-client.py.
//   produce BOOTSTRAP TOPIC CLIENT_ID plain|tx-commit|tx-abort   values on stdin, one per line; acks=all
//   consume BOOTSTRAP TOPIC GROUP CLIENT_ID COUNT                 prints values; read_committed; stops 1 s after COUNT
import { text } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { testKafka } from './kafkajs.js';

const [mode, bootstrap, topic, ...args] = process.argv.slice(2) as [string, string, string, ...string[]];

if (mode === 'produce') {
  const [clientId, how] = args as [string, string];
  const values = (await text(process.stdin)).split('\n').filter((v) => v !== '');
  const tx = how !== 'plain';
  const producer = testKafka(bootstrap, { clientId }).producer(
    tx ? { transactionalId: `${clientId}-${topic}`, idempotent: true, maxInFlightRequests: 1 } : {},
  );
  await producer.connect();
  const messages = values.map((value) => ({ value }));
  if (tx) {
    const transaction = await producer.transaction();
    await transaction.send({ topic, acks: -1, messages });
    await (how === 'tx-commit' ? transaction.commit() : transaction.abort());
  } else {
    await producer.send({ topic, acks: -1, messages });
  }
  await producer.disconnect();
  console.log(`produced ${values.length}`);
} else {
  const [group, clientId, count] = args as [string, string, string];
  const consumer = testKafka(bootstrap, { clientId }).consumer({ groupId: group, readUncommitted: false });
  const out: string[] = [];
  let stopAt = Infinity;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      out.push(message.value!.toString());
      if (out.length === Number(count)) stopAt = Date.now() + 1000;
    },
  });
  const deadline = Date.now() + 90_000;
  while (Date.now() < Math.min(deadline, stopAt)) await sleep(50);
  await consumer.disconnect();
  process.stdout.write(out.map((v) => `${v}\n`).join(''));
}
process.exit(0);
