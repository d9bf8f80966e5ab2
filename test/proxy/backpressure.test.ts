// A consumer that stops reading while 1 GB waits for it on the broker: the proxy (a separate process, so its RSS is
// its own) stops reading the broker instead of buffering, its RSS stays under the bound, and once the consumer reads
// again every byte arrives.
import t from 'tap';
import { testKafka } from '../support/kafkajs.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from '../../src/local-kafka/ports.js';
import { FrameSplitter, STREAM } from '../../src/protocol/frame-splitter.js';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { producerPerformance } from '../support/java-clients.js';
import { encodeRequest } from '../support/raw-client.js';
import { fetchRequest } from '../support/requests.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const PARTITIONS = 20;
const PER_PARTITION = 50 * 1024 * 1024;
/** The stated bound: the proxy's RSS while 1 GB waits (it runs under tsx, whose compiler alone takes ~120 MB). */
const RSS_BOUND_MB = 200;

function rssMB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

const cluster = sharedCluster();
const broker = cluster.nodes[0]!;

t.test('a stalled consumer with 1 GB waiting does not grow the proxy', async (t) => {
  const topic = uniqueName('stall');
  const kafka = testKafka(`${broker.host}:${broker.port}`);
  const admin = kafka.admin();
  await admin.connect();
  // every partition on broker 1, so one sidecar connection serves them all
  await createTopicsAndWait(admin, [{ topic, replicaAssignment: Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, replicas: [broker.id] })) }]);
  t.teardown(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });
  const records = (PARTITIONS * PER_PARTITION) / 1024;
  const filled = await producerPerformance(cluster.classpath, {
    bootstrap: `${broker.host}:${broker.port}`, topic, numRecords: records, recordSize: 1024,
    props: { acks: 1, 'linger.ms': 20, 'batch.size': 524288, 'buffer.memory': 67108864, 'partitioner.class': 'org.apache.kafka.clients.producer.RoundRobinPartitioner' },
  });
  t.equal(filled.records, records, `1 GiB written (${filled.mbPerSec} MB/s)`);

  const dir = mkdtempSync(join(tmpdir(), 'kqp-stall-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [port, metricsPort] = await freePorts(2);
  writeFileSync(join(dir, 'proxy.yaml'), `listen: 127.0.0.1:${port}\nupstream: ${broker.host}:${broker.port}\nmetrics: 127.0.0.1:${metricsPort}\nlogLevel: warn\n`);
  const proxy = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--config', join(dir, 'proxy.yaml')], { stdio: 'inherit' });
  t.teardown(() => void proxy.kill('SIGTERM'));
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => undefined))?.status === 200) break;
    await sleep(200);
  }
  const idleRss = rssMB(proxy.pid!);

  // one fetch per partition, each for its whole 50 MB, pipelined; then do not read
  const socket = connect({ host: '127.0.0.1', port: port! });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.pause();
  for (let p = 0; p < PARTITIONS; p++) {
    socket.write(encodeRequest(1, 12, p + 1, fetchRequest(topic, { partitions: [p], maxBytes: PER_PARTITION + 1024 * 1024, partitionMaxBytes: PER_PARTITION })));
  }
  let peak = 0;
  const samples: number[] = [];
  for (let i = 0; i < 20; i++) {
    await sleep(500);
    const rss = rssMB(proxy.pid!);
    samples.push(Math.round(rss));
    peak = Math.max(peak, rss);
  }
  t.comment(`proxy RSS idle ${idleRss.toFixed(0)} MB; while stalled (every 0.5 s): ${samples.join(' ')} MB`);
  t.ok(peak < RSS_BOUND_MB, `peak RSS ${peak.toFixed(0)} MB stays under ${RSS_BOUND_MB} MB while 1 GB waits`);
  t.ok(peak - idleRss < 50, `it grew by ${(peak - idleRss).toFixed(0)} MB at most`);

  // the consumer reads again: every response arrives, whole
  let responses = 0;
  let bytes = 0;
  const splitter = new FrameSplitter(
    { onFrame: (size) => ((bytes += size), STREAM), onWhole: () => undefined, onBody: () => undefined, onEnd: () => void responses++ },
    1 << 30,
    64,
  );
  socket.on('data', (c: Buffer) => splitter.push(c));
  socket.resume();
  for (let i = 0; i < 600 && responses < PARTITIONS; i++) await sleep(100);
  socket.destroy();
  t.equal(responses, PARTITIONS, 'all 20 fetch responses arrived once the consumer read again');
  t.ok(bytes > 0.95 * PARTITIONS * PER_PARTITION, `${(bytes / 1048576).toFixed(0)} MB delivered`);
});
