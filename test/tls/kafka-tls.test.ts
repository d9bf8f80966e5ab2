// TLS sidecars in front of the shared cluster's brokers, whose SSL and SASL_SSL listeners use certificates the test
// runner made (test/run.ts): the Java client (PKCS#12 keystore and truststore), kcat (librdkafka, PEM files) and kafkajs
// each produce a known set of records through TLS sidecars and read every one of them back, with the sidecars speaking
// TLS to the brokers' SSL listeners and, in the sidecar case, plaintext to their PLAINTEXT ones. The tenant is the
// client certificate's CN (mutual TLS, through ssl.principal.mapping.rules), or the SASL user over SASL_SSL (the
// sidecar's securityProtocol SASL_SSL: the certificate names nobody, as in Kafka). An expired and an untrusted client certificate are refused by the sidecar and
// counted in kqp_connections_rejected_total{reason}, while a trusted client keeps being served.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import type { KafkaConfig } from 'kafkajs';
import { configFromObject } from '../../src/config/load-config.js';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import { createLogger } from '../../src/observability/logger.js';
import { freePorts } from '../../src/local-kafka/ports.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';
import { SHARED_SASL_USERS, sharedCertificates, sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { testKafka } from '../support/kafkajs.js';
import { kcatConsume, kcatProduce, runKcat } from '../support/kcat.js';
import { verifiableConsumer, verifiableProducer } from '../support/java-clients.js';
import { javaSslProperties, kcatSslConfig, type KeyPair } from '../support/tls-certificates.js';

const cluster = sharedCluster();
const certs = sharedCertificates();
const [saslUser, saslPassword] = Object.entries(SHARED_SASL_USERS.plain!)[1]!; // carol: not a certificate's name
const RULES = 'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT';
const RECORDS = 300;
const admin = testKafka(cluster.bootstrap).admin();
await admin.connect();
t.teardown(() => admin.disconnect());

type Listener = 'port' | 'sslPort' | 'saslSslPort';

/** A TLS sidecar per broker (in this process), relaying to `listener`, over TLS unless it is the PLAINTEXT one. */
async function tlsSidecars(t: Test, listener: Listener, clientAuth: 'required' | 'requested') {
  const n = cluster.nodes.length;
  const ports = await freePorts(2 * n);
  const map = Object.fromEntries(cluster.nodes.map((node, i) => [String(node.id), `127.0.0.1:${ports[i]}`]));
  const proxies: ProxyServer[] = [];
  t.teardown(() => Promise.all(proxies.map((p) => p.stop())));
  for (const [i, node] of cluster.nodes.entries()) {
    const address = `${node.host}:${node[listener]}`;
    const config = configFromObject({
      listen: {
        address: `127.0.0.1:${ports[i]}`,
        tls: {
          keystoreCertificateChain: certs.server.cert, keystoreKey: certs.server.key, truststoreCertificates: certs.ca, clientAuth, principalMappingRules: RULES,
          securityProtocol: listener === 'saslSslPort' ? 'SASL_SSL' : 'SSL',
        },
      },
      upstream: listener === 'port' ? address : { address, tls: { truststoreCertificates: certs.ca } },
      metrics: `127.0.0.1:${ports[n + i]}`,
      advertise: { mode: 'map', map },
      logLevel: process.env.KQP_TEST_LOG ?? 'silent',
      tenants: { user: 'sasl' },
      // generous quotas: they only name the tenants, so that each is a label of its own
      quotas: ['alice', 'bob', saslUser].map((user) => ({ user, produceBytesPerSec: 100 * 1024 * 1024 })),
    });
    const proxy = new ProxyServer(config, { logger: createLogger(config.logLevel, process.stderr) });
    await proxy.start();
    proxies.push(proxy);
  }
  /** A metric's samples with these labels, summed over the sidecars. */
  const metric = async (name: string, ...labels: string[]) => {
    let sum = 0;
    for (const p of proxies) {
      for (const line of (await p.metrics.registry.getSingleMetricAsString(name)).split('\n')) {
        if (!line.startsWith('#') && labels.every((l) => line.includes(l))) sum += Number(line.split(' ').pop());
      }
    }
    return sum;
  };
  return { bootstrap: `127.0.0.1:${ports[0]}`, metric, produced: (tenant: string) => metric('kqp_tenant_bytes_total', `tenant="${tenant}"`, 'kind="produce"') };
}

const values = (prefix: string) => Array.from({ length: RECORDS }, (_, i) => `${prefix}-${i}-${'v'.repeat(200)}`);

async function newTopic(prefix: string): Promise<string> {
  const topic = uniqueName(prefix);
  await createTopicsAndWait(admin, [{ topic, numPartitions: 2, replicationFactor: 1 }]);
  t.teardown(() => admin.deleteTopics({ topics: [topic] }).catch(() => undefined));
  return topic;
}

const kafkajsSsl = (pair?: KeyPair): NonNullable<KafkaConfig['ssl']> => ({
  ca: [readFileSync(certs.ca)],
  ...(pair ? { cert: readFileSync(pair.cert), key: readFileSync(pair.key) } : {}),
});

const kcatSsl = (pair: KeyPair) => kcatSslConfig(certs, pair);

/** kafkajs produces `sent` and reads them back in a new group. */
async function kafkajsRoundTrip(bootstrap: string, topic: string, sent: string[], extra: Partial<KafkaConfig>): Promise<string[]> {
  const kafka = testKafka(bootstrap, extra);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: sent.map((value) => ({ value })) });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: uniqueName('tls-kafkajs') });
  const got: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => { got.push(message.value!.toString()); } });
    const deadline = Date.now() + 60_000;
    while (got.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  } finally {
    await consumer.disconnect();
  }
  return got;
}

const sorted = (xs: string[]) => [...xs].sort();

for (const [listener, how] of [['sslPort', 'TLS to the brokers\' SSL listeners'], ['port', 'plaintext to the brokers\' PLAINTEXT listeners (the sidecar case)']] as const) {
  t.test(`mutual TLS, ${how}: each client's records round-trip, charged to its certificate's CN`, async (t) => {
    const sidecars = await tlsSidecars(t, listener, 'required');

    const javaTopic = await newTopic('tls-java');
    const javaProps = javaSslProperties(certs, certs.alice);
    const before = await sidecars.produced('alice');
    const produced = await verifiableProducer(cluster.classpath, { bootstrap: sidecars.bootstrap, topic: javaTopic, maxMessages: RECORDS, props: javaProps, timeoutMs: 120_000 });
    t.equal(produced.acked.length, RECORDS, `Java: ${RECORDS} records acknowledged (${produced.errors} errors)${produced.acked.length < RECORDS ? `\n${produced.stderr}` : ''}`);
    const consumed = await verifiableConsumer(cluster.classpath, { bootstrap: sidecars.bootstrap, topic: javaTopic, groupId: uniqueName('tls-java'), maxMessages: RECORDS, props: javaProps });
    t.same(sorted(consumed.map((r) => r.value)), sorted(produced.acked.map((r) => r.value)), 'Java: read back, every record once');
    const javaBytes = (await sidecars.produced('alice')) - before;
    t.ok(javaBytes >= RECORDS, `Java: ${javaBytes} produce bytes charged to alice (CN=Alice through the rule)`);

    const kcatTopic = await newTopic('tls-kcat');
    const kcatValues = values('kcat');
    const bobBefore = await sidecars.produced('bob');
    await kcatProduce(sidecars.bootstrap, kcatTopic, kcatValues, kcatSsl(certs.bob));
    t.same(sorted(await kcatConsume(sidecars.bootstrap, kcatTopic, kcatSsl(certs.bob))), sorted(kcatValues), 'kcat: read back, every record once');
    const kcatBytes = (await sidecars.produced('bob')) - bobBefore;
    t.ok(kcatBytes >= RECORDS * 200, `kcat: ${kcatBytes} produce bytes charged to bob (CN=Bob)`);

    const kafkajsTopic = await newTopic('tls-kafkajs');
    const kafkajsValues = values('kafkajs');
    const aliceBefore = await sidecars.produced('alice');
    t.same(sorted(await kafkajsRoundTrip(sidecars.bootstrap, kafkajsTopic, kafkajsValues, { ssl: kafkajsSsl(certs.alice) })), sorted(kafkajsValues), 'kafkajs: read back, every record once');
    const kafkajsBytes = (await sidecars.produced('alice')) - aliceBefore;
    t.ok(kafkajsBytes >= RECORDS * 200, `kafkajs: ${kafkajsBytes} produce bytes charged to alice`);
    t.equal(await sidecars.metric('kqp_connections_rejected_total'), 0, 'no connection was rejected');
  });
}

t.test('SASL_SSL: the SASL user wins over the certificate\'s name (kafkajs and kcat, a certificate of CN=Alice)', async (t) => {
  const sidecars = await tlsSidecars(t, 'saslSslPort', 'requested');
  const topic = await newTopic('tls-sasl');
  const sent = values('sasl');
  const [aliceBefore, carolBefore] = [await sidecars.produced('alice'), await sidecars.produced(saslUser)];
  const sasl = { mechanism: 'plain' as const, username: saslUser, password: saslPassword };
  t.same(sorted(await kafkajsRoundTrip(sidecars.bootstrap, topic, sent, { ssl: kafkajsSsl(certs.alice), sasl })), sorted(sent), 'kafkajs over SASL_SSL: read back, every record once');
  const kcatTopic = await newTopic('tls-sasl-kcat');
  const kcatConfig = { ...kcatSsl(certs.alice), 'security.protocol': 'sasl_ssl', 'sasl.mechanisms': 'PLAIN', 'sasl.username': saslUser, 'sasl.password': saslPassword };
  await kcatProduce(sidecars.bootstrap, kcatTopic, sent, kcatConfig);
  t.same(sorted(await kcatConsume(sidecars.bootstrap, kcatTopic, kcatConfig)), sorted(sent), 'kcat over SASL_SSL: read back, every record once');
  const carol = (await sidecars.produced(saslUser)) - carolBefore;
  t.ok(carol >= 2 * RECORDS * 200, `${carol} produce bytes charged to ${saslUser}, the SASL user`);
  t.equal((await sidecars.produced('alice')) - aliceBefore, 0, 'none to alice, the certificate\'s name');
});

t.test('an expired and an untrusted client certificate are refused and counted; a trusted client is still served', async (t) => {
  const sidecars = await tlsSidecars(t, 'sslPort', 'required');
  const rejected = (reason: string) => sidecars.metric('kqp_connections_rejected_total', `reason="${reason}"`);
  for (const [pair, reason] of [[certs.expired, 'tls_client_certificate_expired'], [certs.stranger, 'tls_client_certificate_untrusted']] as const) {
    const kafka = testKafka(sidecars.bootstrap, { ssl: kafkajsSsl(pair), retry: { retries: 0 }, connectionTimeout: 5_000 });
    const producer = kafka.producer();
    await t.rejects(producer.connect(), `kafkajs with ${pair.cert.split('/').pop()} cannot connect`);
    await producer.disconnect().catch(() => undefined);
    const kcat = await runKcat(['-L', '-b', sidecars.bootstrap, '-m', '3', ...Object.entries(kcatSsl(pair)).flatMap(([k, v]) => ['-X', `${k}=${v}`])], undefined, 30_000);
    t.not(kcat.code, 0, `kcat -L with it fails (exit ${kcat.code})`);
    t.ok((await rejected(reason)) >= 2, `kqp_connections_rejected_total{reason="${reason}"} ${await rejected(reason)}`);
  }
  const topic = await newTopic('tls-after');
  const sent = values('after').slice(0, 20);
  await kcatProduce(sidecars.bootstrap, topic, sent, kcatSsl(certs.alice));
  t.same(sorted(await kcatConsume(sidecars.bootstrap, topic, kcatSsl(certs.alice))), sorted(sent), 'alice is served meanwhile');
});
