// The compatibility suite against a Kafka 3.9 broker (a 1-node cluster of its own), through a sidecar with address
// rewriting and produce and fetch quotas: kcat, the Java client (classic and consumer-protocol groups, transactions)
// and confluent-kafka-python (transactions) round-trip a known set of records and hold their quotas at the broker;
// Produce at every version the codec knows with acks=all and acks=0; and librdkafka forced onto the legacy protocol
// (no ApiVersions; Produce v0, v1 and v2, which Kafka 4 no longer has) produces every record through the sidecar.
// Serial: it measures rates.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaCluster } from '../../src/local-kafka/kafka-cluster.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';
import { testKafka } from '../support/kafkajs.js';
import { uniqueName } from '../support/shared-cluster.js';
import { runKcat } from '../support/kcat.js';
import { quotaChecks, roundTrip, startCompatSidecars, transactions, type ClientName } from '../support/compat-suite.js';
import { apiVersions, produceAt, range } from '../support/protocol-versions.js';
import * as ProduceRequest from '../../src/protocol/generated/produce-request.js';

const OLD_BROKER = '3.9.1';
const RECORDS = 300;
const CLIENTS: ClientName[] = ['kcat', 'java', 'confluent-kafka-python'];
const QUOTA_SECONDS = 12;
const QUOTA_TOLERANCE = 0.05;

const cluster = await KafkaCluster.start({ nodes: 1, version: OLD_BROKER, jmx: true, log: (l) => t.comment(l) });
t.teardown(() => cluster.stop());
const target = await startCompatSidecars(cluster.info);
t.teardown(() => Promise.all(target.sidecars.map((s) => s.stop())));
const sidecar = target.sidecars[0]!;
const admin = testKafka(cluster.bootstrap).admin();
await admin.connect();
t.teardown(() => admin.disconnect());

for (const client of CLIENTS) {
  t.test(`Kafka ${OLD_BROKER}, ${client}: ${RECORDS} records produced and read back through the sidecar`, async (t) => {
    const r = await roundTrip(target, client, RECORDS);
    t.ok(r.ok, r.detail);
  });
}

t.test(`Kafka ${OLD_BROKER}, java: read back in a consumer-protocol (KIP-848) group`, async (t) => {
  const r = await roundTrip(target, 'java', RECORDS, 'consumer');
  t.ok(r.ok, r.detail);
});

for (const client of ['java', 'confluent-kafka-python'] as const) {
  t.test(`Kafka ${OLD_BROKER}, ${client}: an aborted then a committed transaction; read_committed reads the committed only`, async (t) => {
    const r = await transactions(target, client, RECORDS);
    t.ok(r.ok, r.detail);
  });
}

async function newTopic(): Promise<string> {
  const topic = uniqueName('old-versions');
  await createTopicsAndWait(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }]);
  return topic;
}
const endOffset = async (topic: string) => Number((await admin.fetchTopicOffsets(topic))[0]!.offset);
async function waitForEnd(topic: string, n: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  while ((await endOffset(topic)) < n && Date.now() < deadline) await sleep(100);
  return endOffset(topic);
}

t.test(`Kafka ${OLD_BROKER}: Produce at every version the codec and the broker share, acks=all and acks=0`, async (t) => {
  const broker = range(await apiVersions(cluster.info.nodes[0]!.port), 0)!;
  const from = Math.max(ProduceRequest.MIN_VERSION, broker[0]);
  const to = Math.min(ProduceRequest.MAX_VERSION, broker[1]);
  const topic = await newTopic();
  let sent = 0;
  for (let v = from; v <= to; v++) {
    for (const acks of [-1, 0]) {
      const r = await produceAt(sidecar.port, topic, v, acks, 10);
      sent += 10;
      t.equal(r.errorCode, acks === 0 ? null : 0, `v${v} acks=${acks}: ${acks === 0 ? 'no response' : 'no error'}`);
      t.ok(r.answersAfter, `v${v} acks=${acks}: the next request on the connection is answered`);
    }
  }
  t.equal(await waitForEnd(topic, sent), sent, `the broker holds all ${sent} records of v${from}-v${to}`);
});

// librdkafka without ApiVersions takes its versions from broker.version.fallback: 0.8.2 → Produce v0, 0.9.0 → v1,
// 0.10.0 → v2 (the versions the codec no longer has, whose acks the proxy reads itself: acks is their first field)
for (const fallback of ['0.8.2', '0.9.0', '0.10.0']) {
  for (const acks of ['all', '0']) {
    t.test(`Kafka ${OLD_BROKER}: kcat with api.version.request=false, broker.version.fallback=${fallback}, acks=${acks}`, async (t) => {
      const topic = await newTopic();
      const values = Array.from({ length: 1000 }, (_, i) => `legacy-${i}`);
      const r = await runKcat(['-P', '-b', sidecar.bootstrap, '-t', topic, '-X', 'api.version.request=false', '-X', `broker.version.fallback=${fallback}`,
        '-X', `acks=${acks}`, '-X', 'message.timeout.ms=20000'], values.join('\n') + '\n', 60_000);
      t.equal(r.code, 0, `kcat exit code (${r.stderr.trim().split('\n').slice(-2).join(' | ')})`);
      t.equal(await waitForEnd(topic, values.length), values.length, 'the broker holds every record');
    });
  }
}

t.test(`Kafka ${OLD_BROKER}: the produce and fetch quotas hold at the broker (±${QUOTA_TOLERANCE * 100}%)`, async (t) => {
  for (const r of await quotaChecks(target, CLIENTS, { seconds: QUOTA_SECONDS, tolerance: QUOTA_TOLERANCE })) {
    t.ok(r.ok, `${r.client}, ${r.check}: ${r.detail}`);
  }
});
