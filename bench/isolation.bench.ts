// Isolation: a quiet tenant producing at half its quota (fixed-rate Produce round trips, timed to the µs) keeps its
// p99 latency while a noisy tenant tries 10× its own quota through the same sidecar. Runs alternate "alone" and
// "with the noisy tenant" and pool each side's round trips, so slow drifts of this shared machine fall on both sides.
// For contrast, the same noisy tenant without a quota; and, as the floor no proxy can go under, a neighbour that
// sends exactly its quota by itself, in requests of the size kcat sends (librdkafka's batch.size, ~1 MB), unthrottled:
// the broker's own cost of the bytes the quota lets through. The sidecar runs as deployed (the build, with the
// Dockerfile's node flags): its own pauses are in the quiet tenant's p99. Round trips run from each request's write, or
// one timer tick after it was due when the sender fell behind (test/support/fixed-rate.ts); the quiet tenant's
// requests left unanswered are counted beside the p99s (quietUnanswered*), not in them.
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaCluster } from '../src/local-kafka/kafka-cluster.js';
import { startSidecarProcesses } from '../test/support/proxy-process.js';
import { fixedRateProduce } from '../test/support/fixed-rate.js';
import { percentile } from './support/stats.js';
import { push, type ClientKind } from '../test/support/load.js';
import { testKafka } from '../test/support/kafkajs.js';
import { createTopicsAndWait } from '../src/local-kafka/topics.js';
import { buildProxy } from './support/processes.js';

const MB = 1024 * 1024;
const QUOTA = 2 * MB; // each tenant's; the quiet one sends half of it, the noisy one tries 10× (it sends as fast as it can)
const QUIET_REQUESTS_PER_SEC = QUOTA / 2 / (16 * 1024);
const ROUNDS = 8;
const SECONDS = 12;
const NEIGHBOUR_RECORDS = 900; // 1 KB records per request of the at-quota neighbour: ~0.9 MB, as kcat's batches

export async function run(args: string[]): Promise<Record<string, number>> {
  const noisyKind = (args[0] ?? 'kcat') as ClientKind; // kcat ignores throttle_time_ms: only the proxy holds it back
  buildProxy();
  const cluster = await KafkaCluster.start({ nodes: 1, log: console.error });
  try {
    const admin = testKafka(cluster.bootstrap).admin();
    await admin.connect();
    await createTopicsAndWait(admin, ['quiet', 'noisy'].map((topic) => ({ topic, numPartitions: 1 })));
    await admin.disconnect();
    const [proxy] = await startSidecarProcesses(cluster.info.nodes, {
      quotas: [{ clientId: 'quiet', produceBytesPerSec: QUOTA }, { clientId: 'noisy', produceBytesPerSec: QUOTA }],
    }, 'port', { compiled: true });
    const quiet = () => fixedRateProduce(proxy!.port, 'quiet', { requestsPerSec: QUIET_REQUESTS_PER_SEC, seconds: SECONDS, clientId: 'quiet' });
    const withNoisy = async (clientId: string) => {
      const noisy = push(noisyKind, { classpath: cluster.info.classpath, bootstrap: proxy!.bootstrap, topic: 'noisy', clientId });
      await sleep(2000);
      const r = await quiet();
      await noisy.stop();
      return r;
    };
    const withAtQuota = async () => {
      const requestsPerSec = QUOTA / (NEIGHBOUR_RECORDS * 1024);
      const neighbour = fixedRateProduce(proxy!.port, 'noisy', { requestsPerSec, seconds: SECONDS + 2, records: NEIGHBOUR_RECORDS, clientId: 'at-quota' });
      await sleep(1000);
      const r = await quiet();
      await neighbour;
      return r;
    };
    await quiet(); // warm-up
    const alone: number[] = [];
    const noisy: number[] = [];
    const atQuota: number[] = [];
    const unthrottled: number[] = [];
    const unanswered = { alone: 0, noisy: 0, atQuota: 0, unthrottled: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const a = await quiet();
      const n = await withNoisy('noisy');
      const q = await withAtQuota();
      alone.push(...a.latencies);
      noisy.push(...n.latencies);
      atQuota.push(...q.latencies);
      unanswered.alone += a.unanswered;
      unanswered.noisy += n.unanswered;
      unanswered.atQuota += q.unanswered;
      console.error(`round ${i + 1}: alone p99 ${a.p99.toFixed(2)} ms, noisy at 10× its quota p99 ${n.p99.toFixed(2)} ms, ` +
        `neighbour at its quota unthrottled p99 ${q.p99.toFixed(2)} ms; unanswered ${a.unanswered} / ${n.unanswered} / ${q.unanswered}`);
    }
    const u = await withNoisy('unlimited'); // a client id no quota applies to
    unthrottled.push(...u.latencies);
    unanswered.unthrottled = u.unanswered;
    await proxy!.stop();
    const figures = {
      quietP99Ratio: Number((percentile(noisy, 99) / percentile(alone, 99)).toFixed(3)),
      quietP99AloneMs: Number(percentile(alone, 99).toFixed(3)),
      quietP99NoisyMs: Number(percentile(noisy, 99).toFixed(3)),
      quietP50AloneMs: Number(percentile(alone, 50).toFixed(3)),
      quietP50NoisyMs: Number(percentile(noisy, 50).toFixed(3)),
      quietP99AtQuotaNeighbourMs: Number(percentile(atQuota, 99).toFixed(3)),
      quietP99RatioToAtQuota: Number((percentile(noisy, 99) / percentile(atQuota, 99)).toFixed(3)),
      quietP99UnthrottledNoisyMs: Number(percentile(unthrottled, 99).toFixed(3)),
      quietUnansweredAlone: unanswered.alone,
      quietUnansweredNoisy: unanswered.noisy,
      quietUnansweredAtQuota: unanswered.atQuota,
      quietUnansweredUnthrottled: unanswered.unthrottled,
      samplesPerSide: alone.length,
    };
    return figures;
  } finally {
    await cluster.stop();
  }
}
