// The local Kafka harness: jar download time cold (empty Maven repository and cache) and warm, start time of a
// 1-node and a 3-node cluster, and the resident memory of one broker.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKafkaJars } from '../src/local-kafka/kafka-jars.js';
import { KafkaCluster } from '../src/local-kafka/kafka-cluster.js';

function rssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function timeStart(nodes: 1 | 3): Promise<{ ms: number; rss: number }> {
  const started = Date.now();
  const cluster = await KafkaCluster.start({ nodes });
  const ms = Date.now() - started;
  const rss = rssMB(cluster.pids()[0]!);
  await cluster.stop();
  return { ms, rss };
}

export async function run(): Promise<Record<string, number>> {
  const scratch = mkdtempSync(join(tmpdir(), 'kqp-bench-jars-'));
  try {
    const cold = await ensureKafkaJars(console.error, { cacheDir: join(scratch, 'cache'), mavenRepo: join(scratch, 'm2') });
    const warmStarted = performance.now();
    await ensureKafkaJars(console.error, { cacheDir: join(scratch, 'cache'), mavenRepo: join(scratch, 'm2') });
    const warmMs = Math.round((performance.now() - warmStarted) * 10) / 10;
    await ensureKafkaJars(console.error); // the default cache, for the clusters below
    const one = await timeStart(1);
    const three = await timeStart(3);
    return {
      jarsColdMs: cold.downloadMs,
      jarsWarmMs: warmMs,
      start1NodeMs: one.ms,
      start3NodeMs: three.ms,
      brokerRssMB: Math.round(one.rss),
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
