// The TLS sidecar against direct TLS to the broker, in one run (issue 14, point 7). A 1-node Kafka with an SSL
// listener (certificates made by openssl for the run); the sidecar terminates TLS (listen.tls) and relays to the
// broker's PLAINTEXT listener on loopback (the sidecar case), a second sidecar relays over TLS to the SSL listener
// (upstream.tls). Each comparison alternates the sides and takes medians (this machine is shared and noisy):
// - tlsThroughputRatio: Java ProducerPerformance (1 KB records, unthrottled, acks=1, SSL with a PKCS#12 truststore)
//   through the TLS sidecar ÷ direct to the broker's SSL listener; tlsUpstreamThroughputRatio: the same through the
//   sidecar that speaks TLS to the broker too;
// - tlsAddedP50Ms, tlsAddedP99Ms: Produce round trips (16 × 1 KB records each, one TLS connection) at a fixed rate of
//   half the direct maximum, through the TLS sidecar minus direct, each timed from its write, or one timer tick
//   after it was due when the sender fell behind (test/support/fixed-rate.ts); tlsDirectUnanswered,
//   tlsSidecarUnanswered: requests never answered (not in them);
// - tlsCpuSecondsPerGB: the TLS sidecar's CPU time (user + system) over its throughput runs ÷ the GB it relayed
//   (request and response bytes, its own kqp_request_bytes_total and kqp_response_bytes_total).
// The proxy runs compiled (dist/), as in production.
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaCluster } from '../src/local-kafka/kafka-cluster.js';
import { freePorts } from '../src/local-kafka/ports.js';
import { createTopicsAndWait } from '../src/local-kafka/topics.js';
import { producerPerformance } from '../test/support/java-clients.js';
import { fixedRateProduce } from '../test/support/fixed-rate.js';
import { javaSslProperties, makeCertificates } from '../test/support/tls-certificates.js';
import { buildProxy, cpuSeconds, startProxyProcess } from './support/processes.js';
import { median } from './support/stats.js';

const PERF_RECORDS = 100_000;
const ROUNDS = 5;
const LATENCY_ROUNDS = 3;
const BATCH_RECORDS = 16;
const LATENCY_SECONDS = 10;

const log = (line: string) => console.error(line);

/** The bytes a proxy relayed so far (requests and responses), from its /metrics. */
async function relayedBytes(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return text.split('\n').filter((l) => /^kqp_(request|response)_bytes_total\{/.test(l)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

export async function run(): Promise<Record<string, number>> {
  buildProxy();
  const certs = makeCertificates();
  const cluster = await KafkaCluster.start({
    nodes: 1, heapMb: 1024, log, tls: { certificate: certs.server.cert, key: certs.server.key, ca: certs.ca },
  }).catch((err: unknown) => {
    certs.cleanup();
    throw err;
  });
  const figures: Record<string, number> = {};
  const stops: (() => Promise<void>)[] = [];
  try {
    const node = cluster.info.nodes[0]!;
    const [port, metricsPort, upPort, upMetricsPort] = (await freePorts(4)) as [number, number, number, number];
    const listen = (p: number) => `listen:\n  address: 127.0.0.1:${p}\n  tls: { keystoreCertificateChain: ${certs.server.cert}, keystoreKey: ${certs.server.key} }\n`;
    const rest = (p: number, m: number) => `metrics: 127.0.0.1:${m}\nadvertise: { mode: map, map: { "1": "127.0.0.1:${p}" } }\nlimits: { maxConnections: 5000 }\nlogLevel: warn\n`;
    const sidecar = await startProxyProcess(`${listen(port)}upstream: 127.0.0.1:${node.port}\n${rest(port, metricsPort)}`, port);
    stops.push(() => sidecar.stop());
    const tlsUpstream = await startProxyProcess(
      `${listen(upPort)}upstream:\n  address: 127.0.0.1:${node.sslPort}\n  tls: { truststoreCertificates: ${certs.ca} }\n${rest(upPort, upMetricsPort)}`, upPort);
    stops.push(() => tlsUpstream.stop());
    const direct = `127.0.0.1:${node.sslPort}`;
    const admin = new Kafka({ brokers: [cluster.bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await createTopicsAndWait(admin, [{ topic: 'perf', numPartitions: 3 }, { topic: 'latency', numPartitions: 1 }]);
    await admin.disconnect();

    log('throughput: ProducerPerformance over TLS, direct, through the TLS sidecar and through the sidecar with upstream TLS, alternating');
    const ssl = javaSslProperties(certs);
    const perf = (bootstrap: string) =>
      producerPerformance(cluster.info.classpath, { bootstrap, topic: 'perf', numRecords: PERF_RECORDS, recordSize: 1024, props: { acks: 1, 'linger.ms': 5, ...ssl } });
    for (const bootstrap of [direct, `127.0.0.1:${port}`, `127.0.0.1:${upPort}`]) await perf(bootstrap); // warm-up, every side (JIT, page cache)
    const runs: Record<'direct' | 'sidecar' | 'upstream', { mbPerSec: number; recordsPerSec: number }[]> = { direct: [], sidecar: [], upstream: [] };
    let cpu = 0;
    let relayed = 0;
    for (let i = 0; i < ROUNDS; i++) {
      runs.direct.push(await perf(direct));
      const [cpuBefore, bytesBefore] = [cpuSeconds(sidecar.pid), await relayedBytes(metricsPort)];
      runs.sidecar.push(await perf(`127.0.0.1:${port}`));
      cpu += cpuSeconds(sidecar.pid) - cpuBefore;
      relayed += (await relayedBytes(metricsPort)) - bytesBefore;
      runs.upstream.push(await perf(`127.0.0.1:${upPort}`));
      log(`  direct ${runs.direct[i]!.mbPerSec} MB/s, TLS sidecar ${runs.sidecar[i]!.mbPerSec} MB/s, with upstream TLS ${runs.upstream[i]!.mbPerSec} MB/s`);
    }
    // each round's ratio against the direct run next to it, then the median over rounds
    const ratio = (side: { mbPerSec: number }[]) => Number(median(side.map((r, i) => r.mbPerSec / runs.direct[i]!.mbPerSec)).toFixed(3));
    figures.tlsDirectMBps = median(runs.direct.map((r) => r.mbPerSec));
    figures.tlsSidecarMBps = median(runs.sidecar.map((r) => r.mbPerSec));
    figures.tlsThroughputRatio = ratio(runs.sidecar);
    figures.tlsUpstreamThroughputRatio = ratio(runs.upstream);
    figures.tlsCpuSecondsPerGB = Number((cpu / (relayed / 1024 ** 3)).toFixed(3));
    figures.tlsRelayedGB = Number((relayed / 1024 ** 3).toFixed(2));

    const requestsPerSec = median(runs.direct.map((r) => r.recordsPerSec)) / 2 / BATCH_RECORDS;
    log(`latency: ${requestsPerSec.toFixed(0)} Produce requests/s (${BATCH_RECORDS} × 1 KB each) over TLS, half the direct maximum`);
    const tls = { ca: readFileSync(certs.ca) };
    const p50: Record<'direct' | 'sidecar', number[]> = { direct: [], sidecar: [] };
    const p99: Record<'direct' | 'sidecar', number[]> = { direct: [], sidecar: [] };
    const unanswered: Record<'direct' | 'sidecar', number> = { direct: 0, sidecar: 0 };
    for (let i = 0; i < LATENCY_ROUNDS; i++) {
      for (const [side, p] of [['direct', node.sslPort!], ['sidecar', port]] as const) {
        const r = await fixedRateProduce(p, 'latency', { requestsPerSec, seconds: LATENCY_SECONDS, records: BATCH_RECORDS, tls });
        p50[side].push(r.p50);
        p99[side].push(r.p99);
        unanswered[side] += r.unanswered;
        log(`  ${side}: p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms (${r.latencies.length} requests timed, ${r.unanswered} of ${r.requests} unanswered)`);
      }
    }
    figures.tlsDirectP50Ms = Number(median(p50.direct).toFixed(3));
    figures.tlsDirectP99Ms = Number(median(p99.direct).toFixed(3));
    figures.tlsAddedP50Ms = Number((median(p50.sidecar) - median(p50.direct)).toFixed(3));
    figures.tlsAddedP99Ms = Number((median(p99.sidecar) - median(p99.direct)).toFixed(3));
    figures.tlsDirectUnanswered = unanswered.direct;
    figures.tlsSidecarUnanswered = unanswered.sidecar;
  } finally {
    for (const stop of stops) await stop();
    await cluster.stop();
    certs.cleanup();
  }
  return figures;
}
