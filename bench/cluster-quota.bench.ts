// Cluster-scoped quotas (issue 16, point 6): a 3-node cluster of its own, a sidecar process per broker, coordination
// through a compacted topic; the workloads of test/quota/cluster-quota.serial.test.ts (cluster-quota-load.ts), with a
// cluster quota of 3 MB/s, measured by the brokers' own log bytes:
// - clusterErrorPct (5a): partitions led by all three brokers, the rate from 6 s to 18 s against 3 MB/s, signed;
// - skewErrorPct (5b): every partition led by one broker, the same;
// - convergenceMs (5c): the load moves from broker 1's partitions to broker 2's; from broker 2's sidecar's first
//   charge of the tenant until it holds 90% of the quota (sampled every 250 ms);
// - coordinationBytesPerSec: 1,000 distinct client ids (a cluster-scoped request quota per client id) send Metadata
//   requests through every sidecar for 20 s; what each sidecar published to the topic per second from 8 s on (mean
//   over the sidecars), with how many tenants were active in an interval (activeTenantsPerInterval: report entries
//   per second; the load generator may not reach every tenant every second on a busy machine), and that scaled to
//   every tenant active every interval by the bytes an entry measured (coordinationBytesPerSecAllActive). Also at
//   10,000 (*10k), with the sidecars' RSS.
// The sidecars run as deployed (the build, with the Dockerfile's node flags).
import { randomBytes } from 'node:crypto';
import { KafkaCluster } from '../src/local-kafka/kafka-cluster.js';
import { startSidecarProcesses } from '../test/support/proxy-process.js';
import { testKafka } from '../test/support/kafkajs.js';
import { MB, manyTenants, shiftLoad, steadyLoad, waitCoordinated, type ClusterQuotaRig } from '../test/quota/cluster-quota-load.js';
import { buildProxy } from './support/processes.js';

const QUOTA = 3 * MB;
const LOAD_SECONDS = 18;
const FROM_SECONDS = 6;
const log = (line: string) => console.error(line);
const errorPct = (rate: number) => Number(((rate / QUOTA - 1) * 100).toFixed(2));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function run(): Promise<Record<string, unknown>> {
  buildProxy();
  const cluster = await KafkaCluster.start({ nodes: 3, log });
  const work: (() => Promise<unknown>)[] = [];
  try {
    const { nodes, classpath } = cluster.info;
    const admin = testKafka(nodes.map((n) => `${n.host}:${n.port}`)).admin();
    await admin.connect();
    work.push(() => admin.disconnect());
    const tenants = { even: 'cluster-even', skew: 'cluster-skew', shift: 'cluster-shift' };
    const sidecars = await startSidecarProcesses(nodes, {
      quotaTable: { capacity: 12_000 },
      quotas: [
        ...Object.values(tenants).map((clientId) => ({ clientId, produceBytesPerSec: QUOTA, scope: 'cluster' })),
        { clientId: '<default>', requestsPerSec: 1_000_000, scope: 'cluster' },
      ],
      coordination: { topic: 'kqp-bench-coordination' },
    }, 'port', { compiled: true });
    work.push(() => Promise.all(sidecars.map((s) => s.stop())));
    const rig: ClusterQuotaRig = {
      nodes, sidecars, admin, classpath,
      name: (prefix) => `${prefix}-${randomBytes(4).toString('hex')}`,
      cleanup: () => undefined, // the cluster goes
    };
    await waitCoordinated(sidecars);
    const even = await steadyLoad(rig, tenants.even, nodes.map((n) => n.id), LOAD_SECONDS, FROM_SECONDS);
    log(`(a) ${(even.rate / MB).toFixed(3)} MB/s; shares ${even.shares.map((x) => x.toFixed(3)).join(', ')}; throttled ${even.throttled.map((x) => x.toFixed(2)).join(', ')}; ${even.modes}`);
    const skew = await steadyLoad(rig, tenants.skew, nodes.map(() => nodes[0]!.id), LOAD_SECONDS, FROM_SECONDS);
    log(`(b) ${(skew.rate / MB).toFixed(3)} MB/s; shares ${skew.shares.map((x) => x.toFixed(3)).join(', ')}; throttled ${skew.throttled.map((x) => x.toFixed(2)).join(', ')}; ${skew.modes}`);
    const shift = await shiftLoad(rig, tenants.shift, LOAD_SECONDS);
    log(`(c) convergenceMs ${shift.convergenceMs} (share ${shift.convergedShare?.toFixed(3)}); then ${(shift.rate / MB).toFixed(3)} MB/s at the new broker; shares ${shift.shares.map((x) => x.toFixed(3)).join(', ')}`);
    const figures: Record<string, unknown> = {
      clusterErrorPct: errorPct(even.rate),
      skewErrorPct: errorPct(skew.rate),
      convergenceMs: shift.convergenceMs,
      shiftErrorPct: errorPct(shift.rate),
    };
    for (const tenants of [1000, 10_000]) {
      const many = await manyTenants(rig, tenants, 20, 8);
      const bytesPerEntry = mean(many.bytesPerSec) / mean(many.entriesPerSec);
      log(`${tenants} tenants: ${many.requests} Metadata requests; published (bytes/s) ${many.bytesPerSec.map(Math.round).join(', ')}, ` +
        `entries/s ${many.entriesPerSec.map(Math.round).join(', ')} (${bytesPerEntry.toFixed(1)} bytes an entry); buckets tracked ${many.tracked.join(', ')}; ` +
        `last report's entries each second ${many.entries.map((e) => e.join(' ')).join(' | ')}; RSS (MB) before ${many.rssBeforeMB.join(', ')}, ` +
        `during ${many.rssMB.map((r) => r.join(' ')).join(' | ')}`);
      const suffix = tenants === 1000 ? '' : '10k';
      // measured: what the sidecars published while the load made this many tenants active each interval
      figures[`coordinationBytesPerSec${suffix}`] = Math.round(mean(many.bytesPerSec));
      figures[`activeTenantsPerInterval${suffix}`] = Math.round(mean(many.entriesPerSec));
      figures[`sidecarRssMBMax${suffix}`] = Math.max(...many.rssMB.flat());
      figures[`bucketsTracked${suffix}`] = Math.max(...many.tracked);
      // scaled: bytes an entry as measured, times every tenant active in every interval
      figures[`coordinationBytesPerSecAllActive${suffix}`] = Math.round(bytesPerEntry * tenants);
    }
    return figures;
  } finally {
    for (const w of work.reverse()) await w().catch(() => undefined);
    await cluster.stop();
  }
}
