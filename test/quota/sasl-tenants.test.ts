// SASL principals become tenants: PLAIN and SCRAM-SHA-512 users, authenticated end to end with the broker through
// the sidecars (the proxy does not terminate SASL), are charged as users; a failed authentication binds nothing.
import t from 'tap';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SASLOptions } from 'kafkajs';
import { SHARED_SASL_USERS, sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { startSidecarProcesses } from '../support/proxy-process.js';
import { testKafka } from '../support/kafkajs.js';
import { kcatProduce } from '../support/kcat.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const cluster = sharedCluster();
const [plainUser, plainPassword] = Object.entries(SHARED_SASL_USERS.plain!)[0]!;
const [scramUser, scramPassword] = Object.entries(SHARED_SASL_USERS.scramSha512!)[0]!;
const sidecars = await startSidecarProcesses(cluster.nodes, {
  tenants: { user: 'sasl' },
  quotas: [
    { user: plainUser, produceBytesPerSec: 50_000 },
    { user: scramUser, produceBytesPerSec: 50_000 },
    { user: 'ANONYMOUS', produceBytesPerSec: 50_000 },
  ],
}, 'saslPort');
t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));
const bootstrap = sidecars[0]!.bootstrap;
const admin = testKafka(cluster.bootstrap).admin();
await admin.connect();
t.teardown(() => admin.disconnect());

/** Produce bytes charged to a tenant, summed over the sidecars. */
async function charged(tenant: string): Promise<number> {
  const values = await Promise.all(sidecars.map((s) => s.metric(`kqp_tenant_bytes_total{tenant="${tenant}",kind="produce"}`)));
  return values.reduce((a, b) => a + b, 0);
}

async function throttled(tenant: string): Promise<number> {
  const values = await Promise.all(sidecars.map((s) => s.metric(`kqp_tenant_throttled_requests_total{tenant="${tenant}"}`)));
  return values.reduce((a, b) => a + b, 0);
}

/** A new topic, created straight at the brokers and led everywhere before it is used (no auto-creation races). */
async function newTopic(prefix: string): Promise<string> {
  const topic = uniqueName(prefix);
  await createTopicsAndWait(admin, [{ topic, numPartitions: 1 }]);
  return topic;
}

async function produceWithKafkajs(sasl: SASLOptions, bytes: number): Promise<void> {
  // retried: the first send may ask a broker that has not applied the new topic yet (a refused login is not retried)
  const kafka = testKafka(bootstrap, { sasl, retry: { retries: 5 } });
  const topic = await newTopic('sasl-tenant');
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (let sent = 0; sent < bytes; sent += 20_000) {
      await producer.send({ topic, acks: 1, messages: Array.from({ length: 20 }, () => ({ value: Buffer.alloc(1000, 1) })) });
    }
  } finally {
    await producer.disconnect();
  }
}

t.test('a PLAIN user (kafkajs and kcat) is charged and throttled as that user', async (t) => {
  const before = await charged(plainUser);
  await produceWithKafkajs({ mechanism: 'plain', username: plainUser, password: plainPassword }, 200_000);
  await kcatProduce(bootstrap, await newTopic('sasl-kcat'), Array.from({ length: 100 }, () => 'p'.repeat(1000)), {
    'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanisms': 'PLAIN', 'sasl.username': plainUser, 'sasl.password': plainPassword,
  });
  const bytes = (await charged(plainUser)) - before;
  t.ok(bytes >= 300_000, `${bytes} bytes charged to ${plainUser}`);
  t.ok((await throttled(plainUser)) > 0, `${plainUser} was throttled at 50 KB/s`);
  t.equal(await charged('ANONYMOUS'), 0, 'nothing was charged to ANONYMOUS');
});

t.test('a SCRAM-SHA-512 user (kafkajs) is charged as that user', async (t) => {
  const before = await charged(scramUser);
  await produceWithKafkajs({ mechanism: 'scram-sha-512', username: scramUser, password: scramPassword }, 200_000);
  t.ok((await charged(scramUser)) - before >= 200_000, `${scramUser} charged`);
  const q = await sidecars[0]!.quota(scramUser, 'kqp-test');
  t.match(q, { produce: { quota: { entity: `user=${scramUser}`, level: 3 } } }, '/quota shows the quota that matched');
});

t.test('a failed authentication binds nothing', async (t) => {
  const before = await charged(scramUser);
  await t.rejects(produceWithKafkajs({ mechanism: 'scram-sha-512', username: scramUser, password: 'wrong' }, 10_000), /authentication failed/i);
  await t.rejects(produceWithKafkajs({ mechanism: 'plain', username: scramUser, password: 'wrong' }, 10_000), /authentication failed/i);
  // kcat with a wrong password tries (and fails) several times
  const kcat = spawn('kcat', ['-P', '-b', bootstrap, '-t', 'x', '-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=PLAIN',
    '-X', `sasl.username=${scramUser}`, '-X', 'sasl.password=wrong'], { stdio: ['pipe', 'ignore', 'ignore'] });
  kcat.stdin.end('one\n');
  await sleep(3000);
  kcat.kill('SIGKILL');
  t.equal((await charged(scramUser)) - before, 0, `nothing was charged to ${scramUser}`);
});
