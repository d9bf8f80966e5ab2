// SASL logins that need a broker set up for them, through a sidecar, against a broker of its own:
// - re-authentication (KIP-368, connections.max.reauth.ms): the Java producer logs in again on the same connection
//   every few seconds (the proxy follows each exchange), stays its user's tenant, and loses no connection while its
//   user's produce quota holds its requests back: a held request goes to the broker within the session it was sent in
//   (a broker closes a connection whose session has expired when it reads any request but a SaslHandshake);
// - OAUTHBEARER (the broker's unsecured JWS validator, Kafka's default): the login's user is its token's sub claim.
import t from 'tap';
import { KafkaCluster } from '../../src/local-kafka/kafka-cluster.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';
import { startSidecarProcesses } from '../support/proxy-process.js';
import { verifiableProducer } from '../support/java-clients.js';
import { testKafka } from '../support/kafkajs.js';

/**
 * The broker's connections.max.reauth.ms: the producer re-authenticates at 85-95% of it. What the sidecar holds goes
 * to the broker 5% of it (600 ms) before the session's end: the margin a loaded machine's timers and broker have
 * (with 6 s, 300 ms). 30 s of records: two re-authentications or more.
 */
const SESSION_MS = 12_000;
const MESSAGES = 3000;
const PER_SEC = 100;
const USER = 'alice';
const PASSWORD = 'alice-secret';

/** The sub claim of the OAUTHBEARER client's unsecured token. */
const OAUTH_USER = 'erin';

const cluster = await KafkaCluster.start({
  nodes: 1, sasl: { plain: { [USER]: PASSWORD } },
  brokerConfig: {
    'connections.max.reauth.ms': SESSION_MS,
    'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-512,OAUTHBEARER',
    'listener.name.sasl.oauthbearer.sasl.jaas.config': 'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";',
  },
});
t.teardown(async () => {
  if (!t.passing()) t.comment(cluster.logTails());
  await cluster.stop();
});
const info = cluster.info;
// 500 B/s: below what the producer sends (its batches of a second's records are held up to a second each)
const sidecars = await startSidecarProcesses(info.nodes, { quotas: [{ user: USER, produceBytesPerSec: 500 }, { user: OAUTH_USER, produceBytesPerSec: 1e9 }] }, 'saslPort');
t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));
const sidecar = sidecars[0]!;

const admin = testKafka(info.bootstrap).admin();
await admin.connect();
await createTopicsAndWait(admin, [{ topic: 'sasl-logins', numPartitions: 1 }]);
await admin.disconnect();

t.test(`a Java producer re-authenticating every ${SESSION_MS / 1000} s, throttled by its user's quota, through the sidecar`, async (t) => {
  const r = await verifiableProducer(info.classpath, {
    bootstrap: sidecar.bootstrap, topic: 'sasl-logins', maxMessages: MESSAGES, throughput: PER_SEC, acks: -1, timeoutMs: 120_000,
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

t.test("an OAUTHBEARER login: the Java producer's records are charged to its token's sub", async (t) => {
  const r = await verifiableProducer(info.classpath, {
    bootstrap: sidecar.bootstrap, topic: 'sasl-logins', maxMessages: 200, throughput: -1, acks: -1, timeoutMs: 60_000,
    props: {
      'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanism': 'OAUTHBEARER', 'client.id': 'oauth-producer',
      'sasl.jaas.config': `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="${OAUTH_USER}";`,
    },
  });
  t.equal(r.acked.length, 200, `every record acknowledged (${r.acked.length} of 200): ${r.stderr.slice(-500)}`);
  const charged = await sidecar.metric(`kqp_tenant_bytes_total{tenant="${OAUTH_USER}",kind="produce"}`);
  t.ok(charged > 200, `charged to ${OAUTH_USER} (${charged} bytes)`);
  t.equal(await sidecar.metric('kqp_tenant_bytes_total{tenant="ANONYMOUS"'), 0, 'nothing to ANONYMOUS');
});
