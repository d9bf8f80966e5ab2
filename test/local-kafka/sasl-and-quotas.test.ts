// The shared cluster's SASL listener accepts PLAIN and SCRAM-SHA-512 users and refuses bad passwords; Kafka's own
// client quotas can be set on it.
import t from 'tap';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { setClientQuota } from '../../src/local-kafka/kafka-cluster.js';
import { SHARED_SASL_USERS, sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { kcatConsume, kcatProduce, runKcat } from '../support/kcat.js';
import { producerPerformance, verifiableProducer } from '../support/java-clients.js';

const cluster = sharedCluster();
const [plainUser, plainPassword] = Object.entries(SHARED_SASL_USERS.plain!)[0]!;
const [scramUser, scramPassword] = Object.entries(SHARED_SASL_USERS.scramSha512!)[0]!;

function kcatSasl(user: string, password: string): Record<string, string> {
  return { 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanisms': 'PLAIN', 'sasl.username': user, 'sasl.password': password };
}

async function kafkajsListTopics(sasl: SASLOptions): Promise<string[]> {
  const kafka = new Kafka({ brokers: cluster.saslBootstrap!.split(','), sasl, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
}

t.test('SASL/PLAIN: kcat and kafkajs authenticate; a wrong password is refused', async (t) => {
  const topic = uniqueName('sasl-plain');
  const values = Array.from({ length: 100 }, (_, i) => `${plainUser}-${i}`);
  await kcatProduce(cluster.saslBootstrap!, topic, values, kcatSasl(plainUser, plainPassword));
  t.same((await kcatConsume(cluster.saslBootstrap!, topic, kcatSasl(plainUser, plainPassword))).sort(), values.sort(), 'kcat');
  t.ok((await kafkajsListTopics({ mechanism: 'plain', username: plainUser, password: plainPassword })).includes(topic), 'kafkajs');

  // kcat exits as soon as every broker has refused it; -m (seconds) only bounds the wait on a slow machine
  const bad = await runKcat(['-L', '-b', cluster.saslBootstrap!, '-m', '30',
    ...Object.entries(kcatSasl(plainUser, 'wrong')).flatMap(([k, v]) => ['-X', `${k}=${v}`])]);
  t.not(bad.code, 0, 'kcat with a wrong password fails');
  t.match(bad.stderr, /Authentication failed/i, 'because authentication failed');
});

// kcat is not used for SCRAM: Debian's librdkafka (2.0) builds a SCRAM client-final nonce that Kafka 4.x rejects
// (fixed in librdkafka 2.6.1, confluentinc/librdkafka#4895).
t.test('SASL/SCRAM-SHA-512: the Java client and kafkajs authenticate; a wrong password is refused', async (t) => {
  const topic = uniqueName('sasl-scram');
  const jaas = `org.apache.kafka.common.security.scram.ScramLoginModule required username="${scramUser}" password="${scramPassword}";`;
  const produced = await verifiableProducer(cluster.classpath, {
    bootstrap: cluster.saslBootstrap!, topic, maxMessages: 100,
    props: { 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanism': 'SCRAM-SHA-512', 'sasl.jaas.config': jaas },
  });
  t.equal(produced.acked.length, 100, 'the Java producer authenticates and produces');
  t.ok((await kafkajsListTopics({ mechanism: 'scram-sha-512', username: scramUser, password: scramPassword })).includes(topic), 'kafkajs');
  await t.rejects(kafkajsListTopics({ mechanism: 'scram-sha-512', username: scramUser, password: 'wrong' }), /authentication failed/i);
});

t.test("Kafka's own producer quota, set through ConfigCommand, throttles a client id", async (t) => {
  const clientId = uniqueName('quota-client');
  const topic = uniqueName('quota');
  await setClientQuota(cluster, { clientId }, { producer_byte_rate: 128 * 1024 });
  // (a unique client id: a quota left behind by a failed removal touches nothing else)
  t.teardown(() => setClientQuota(cluster, { clientId }, { producer_byte_rate: null }).catch(() => undefined));
  // Kafka measures the rate over 11 one-second samples and counts a shorter span as 10 s at least, so a producer
  // faster than the quota is throttled once it has sent 10 to 11 s of quota: 1280 to 1408 KiB at 128 KiB/s. 3000 KiB
  // is over twice that, so even if a stall split the run in two, either half alone would be throttled; and the
  // producer need only outrun 128 KiB/s. Once throttled, the rest takes about 3000 / 128 - 10 = 13 s.
  const r = await producerPerformance(cluster.classpath, {
    bootstrap: cluster.bootstrap, topic, numRecords: 3000, recordSize: 1024, printMetrics: true, props: { 'client.id': clientId, acks: 1 },
  });
  t.equal(r.records, 3000);
  const throttleMax = r.metrics['producer-metrics:produce-throttle-time-max'] ?? 0;
  t.ok(throttleMax > 0, `the broker throttled the producer (max throttle ${throttleMax} ms, ${r.mbPerSec} MB/s)`);
});
