// Quota accuracy, the proxy's and Kafka's own side by side on the same workload in one run: a tenant with a 5 MB/s
// produce quota, then one with a 5 MB/s fetch quota, push (pull) as hard as they can for 30 s with the Java client
// and kcat; first through the sidecar with the proxy's quota, then straight to the broker with the same quota set as
// Kafka's own client quota (producer_byte_rate / consumer_byte_rate). The rate is the broker's own count (its log
// files for produce, BytesOutPerSec over JMX for fetch, both every 200 ms) from 5 s to 30 s. Each *ErrorPct is the
// largest deviation over the clients, signed; each *MaxWindow10sRatio the busiest 10-second window from the start of
// the load (Kafka's quota system test allows 1.05), over clients and produce and fetch; latency is the Java producer's
// own p99 while throttled. The sidecar runs as deployed (the build, with the Dockerfile's node flags). A figure whose
// samples are missing (fewer than 2 from 5 s to 30 s, or less than 10 s of them) is null, and said so on stderr:
// missing data must not read as a perfect result.
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaCluster, setClientQuota, type NodeInfo } from '../src/local-kafka/kafka-cluster.js';
import { startSidecarProcesses } from '../test/support/proxy-process.js';
import { sampler, slope, topicLogBytes, type Sample } from '../test/support/broker-bytes.js';
import { jmxSampler } from '../test/support/broker-metrics.js';
import { pull, push, type ClientKind } from '../test/support/load.js';
import { producerPerformance } from '../test/support/java-clients.js';
import { runKcat } from '../test/support/kcat.js';
import { testKafka } from '../test/support/kafkajs.js';
import { maxWindowRatio } from '../test/support/windows.js';
import { createTopicsAndWait } from '../src/local-kafka/topics.js';
import { buildProxy } from './support/processes.js';

const MB = 1024 * 1024;
const QUOTA = 5 * MB;
const SECONDS = 32;
const KINDS: ClientKind[] = ['java', 'kcat'];
/** Each run has client ids of its own, so every tenant starts new (not with what an earlier run left in its bucket). */
const USERS = [...KINDS, 'latency'];
const log = (line: string) => console.error(line);

interface Rates {
  /** Null when fewer than 2 samples fell between 5 s and 30 s (no slope). */
  errorPct: number | null;
  /** Null when the samples cover less than 10 s. */
  window: number | null;
}

/** The steady rate's error (5 s to 30 s) and the busiest 10-second window from the first sample on. */
function rates(samples: Sample[], what: string): Rates {
  const rate = slope(samples, 5, 30);
  const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null);
  const r: Rates = { errorPct: Number.isFinite(rate) ? errorPct(rate) : null, window: finiteOrNull(maxWindowRatio(samples, QUOTA, 10).ratio) };
  const span = samples.length ? `${samples.length} samples from ${samples[0]!.seconds.toFixed(1)} s to ${samples.at(-1)!.seconds.toFixed(1)} s` : 'no samples';
  if (r.errorPct === null) log(`*** ${what}: no rate from 5 s to 30 s (${span}): its error is null`);
  if (r.window === null) log(`*** ${what}: the samples cover less than 10 s (${span}): its 10-second window is null`);
  return r;
}
/** The value farthest from 0, signed; null when there is none or any is missing. */
const worst = (xs: (number | null)[]): number | null =>
  xs.length === 0 || xs.some((x) => x === null) ? null : (xs as number[]).reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a));
/** The largest, to 3 decimals; null when there is none or any is missing. */
const largest = (xs: (number | null)[]): number | null =>
  xs.length === 0 || xs.some((x) => x === null) ? null : Number(Math.max(...(xs as number[])).toFixed(3));
const errorPct = (rate: number) => Number(((rate / QUOTA - 1) * 100).toFixed(2));

export async function run(): Promise<Record<string, number | null>> {
  buildProxy();
  const cluster = await KafkaCluster.start({ nodes: 1, jmx: true, log });
  try {
    const node: NodeInfo = cluster.info.nodes[0]!;
    const direct = `${node.host}:${node.port}`;
    const cp = cluster.info.classpath;
    const admin = testKafka(direct).admin();
    await admin.connect();
    const [sidecar] = await startSidecarProcesses(cluster.info.nodes, {
      quotas: USERS.flatMap((u) => [{ clientId: `proxy-produce-${u}`, produceBytesPerSec: QUOTA }, { clientId: `proxy-fetch-${u}`, fetchBytesPerSec: QUOTA }]),
    }, 'port', { compiled: true });
    for (const u of USERS) {
      await setClientQuota(cluster.info, { clientId: `kafka-produce-${u}` }, { producer_byte_rate: QUOTA });
      await setClientQuota(cluster.info, { clientId: `kafka-fetch-${u}` }, { consumer_byte_rate: QUOTA });
    }

    const produceRate = async (kind: ClientKind, bootstrap: string, clientId: string) => {
      const topic = `p-${clientId}-${kind}`;
      await createTopicsAndWait(admin, [{ topic, numPartitions: 1 }]);
      const s = sampler(() => topicLogBytes(node, topic), 200);
      const l = push(kind, { classpath: cp, bootstrap, topic, clientId });
      await sleep(SECONDS * 1000);
      await l.stop();
      return rates(await s.stop(), `${clientId} (${kind})`);
    };
    const source = 'fetch-source';
    await createTopicsAndWait(admin, [{ topic: source, numPartitions: 1 }]);
    await producerPerformance(cp, { bootstrap: direct, topic: source, numRecords: 400 * 1024, recordSize: 1024, props: { acks: 1, 'linger.ms': 20, 'batch.size': 262144 } });
    await runKcat(['-C', '-b', direct, '-t', source, '-o', 'beginning', '-c', '1', '-e', '-q']);
    const fetchRate = async (kind: ClientKind, bootstrap: string, clientId: string) => {
      const s = jmxSampler(cp, node, `kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,topic=${source}`, 'Count', 200);
      await sleep(2000); // readings before the load starts
      const l = pull(kind, { classpath: cp, bootstrap, topic: source, group: `${clientId}-${kind}-${Date.now()}`, clientId });
      await sleep(SECONDS * 1000);
      await l.stop();
      return rates((await s.stop()) as Sample[], `${clientId} (${kind})`);
    };

    const results: Record<string, (number | null)[]> = { proxyProduce: [], kafkaProduce: [], proxyFetch: [], kafkaFetch: [], proxyWindow: [], kafkaWindow: [] };
    const record = (name: 'proxyProduce' | 'kafkaProduce' | 'proxyFetch' | 'kafkaFetch', r: Rates) => {
      results[name]!.push(r.errorPct);
      results[name.startsWith('proxy') ? 'proxyWindow' : 'kafkaWindow']!.push(r.window);
      return `${r.errorPct ?? 'null'}% (10-s window ${r.window === null ? 'null' : `${r.window.toFixed(3)}×`})`;
    };
    for (const kind of KINDS) {
      log(`${kind}: produce error proxy ${record('proxyProduce', await produceRate(kind, sidecar!.bootstrap, `proxy-produce-${kind}`))}, ` +
        `Kafka ${record('kafkaProduce', await produceRate(kind, direct, `kafka-produce-${kind}`))}; ` +
        `fetch error proxy ${record('proxyFetch', await fetchRate(kind, sidecar!.bootstrap, `proxy-fetch-${kind}`))}, ` +
        `Kafka ${record('kafkaFetch', await fetchRate(kind, direct, `kafka-fetch-${kind}`))}`);
    }

    // latency while throttled: the same Java producer, 60 MB at as fast as it can, through each system's quota
    const latency = async (bootstrap: string, clientId: string) => {
      const topic = `lat-${clientId}`;
      await createTopicsAndWait(admin, [{ topic, numPartitions: 1 }]);
      return producerPerformance(cp, { bootstrap, topic, numRecords: 60 * 1024, recordSize: 1024, props: { 'client.id': clientId, acks: 1 } });
    };
    const proxyLatency = await latency(sidecar!.bootstrap, 'proxy-produce-latency');
    const kafkaLatency = await latency(direct, 'kafka-produce-latency');
    await sidecar!.stop();
    await admin.disconnect();
    return {
      produceErrorPct: worst(results.proxyProduce!),
      fetchErrorPct: worst(results.proxyFetch!),
      kafkaProduceErrorPct: worst(results.kafkaProduce!),
      kafkaFetchErrorPct: worst(results.kafkaFetch!),
      maxWindow10sRatio: largest(results.proxyWindow!),
      kafkaMaxWindow10sRatio: largest(results.kafkaWindow!),
      proxyThrottledP50Ms: proxyLatency.p50Ms,
      proxyThrottledP99Ms: proxyLatency.p99Ms,
      kafkaThrottledP50Ms: kafkaLatency.p50Ms,
      kafkaThrottledP99Ms: kafkaLatency.p99Ms,
    };
  } finally {
    await cluster.stop();
  }
}
