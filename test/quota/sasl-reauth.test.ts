// SASL re-authentication (KIP-368) through a sidecar, against a broker of its own with connections.max.reauth.ms: the
// Java producer logs in again on the same connection every few seconds (the proxy follows each exchange), stays its
// user's tenant, and loses no connection while its user's produce quota holds its requests back: a held request goes
// to the broker within the session it was sent in (a broker closes a connection whose session has expired when it
// reads any request but a SaslHandshake).
import t from 'tap';
import { KafkaCluster } from '../../src/local-kafka/kafka-cluster.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';
import { startSidecarProcesses } from '../support/proxy-process.js';
import { verifiableProducer } from '../support/java-clients.js';
import { testKafka } from '../support/kafkajs.js';

/** The broker's connections.max.reauth.ms: the producer re-authenticates at 85-95% of it. */
const SESSION_MS = 6000;
const MESSAGES = 2000;
const PER_SEC = 100;
const USER = 'alice';
const PASSWORD = 'alice-secret';

const cluster = await KafkaCluster.start({ nodes: 1, sasl: { plain: { [USER]: PASSWORD } }, brokerConfig: { 'connections.max.reauth.ms': SESSION_MS } });
t.teardown(async () => {
  if (!t.passing()) t.comment(cluster.logTails());
  await cluster.stop();
});
const info = cluster.info;
// 500 B/s: below what the producer sends (its batches of a second's records are held up to a second each)
const sidecars = await startSidecarProcesses(info.nodes, { quotas: [{ user: USER, produceBytesPerSec: 500 }] }, 'saslPort');
t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));
const sidecar = sidecars[0]!;

t.test(`a Java producer re-authenticating every ${SESSION_MS / 1000} s, throttled by its user's quota, through the sidecar`, async (t) => {
  const admin = testKafka(info.bootstrap).admin();
  await admin.connect();
  await createTopicsAndWait(admin, [{ topic: 'reauth', numPartitions: 1 }]);
  await admin.disconnect();
  const r = await verifiableProducer(info.classpath, {
    bootstrap: sidecar.bootstrap, topic: 'reauth', maxMessages: MESSAGES, throughput: PER_SEC, acks: -1, timeoutMs: 120_000,
    props: {
      'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanism': 'PLAIN', 'client.id': 'reauth-producer',
      'sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required username="${USER}" password="${PASSWORD}";`,
    },
  });
  t.equal(r.exitCode, 0, 'the producer ended normally');
  t.equal(r.errors, 0, `no send failed (a connection the broker closed for an expired session fails the records in flight): ${r.stderr.slice(-500)}`);
  t.equal(r.acked.length, MESSAGES, `every record acknowledged (${r.acked.length} of ${MESSAGES})`);
  const charged = await sidecar.metric(`kqp_tenant_bytes_total{tenant="${USER}",kind="produce"}`);
  const throttled = await sidecar.metric(`kqp_tenant_throttled_requests_total{tenant="${USER}"}`);
  t.ok(charged > 0 && (await sidecar.metric('kqp_tenant_bytes_total{tenant="ANONYMOUS"')) === 0, `charged to ${USER} (${charged} bytes), through every re-authentication, and to nobody else`);
  t.ok(throttled >= 5, `its requests were throttled (${throttled}): held and muted across the sessions' ends`);
});
