// A consumer that stops reading while 1 GB waits for it on the broker: the proxy (a separate process in a fixed heap,
// PROXY_HEAP_MB) stops reading the broker instead of buffering, what it holds after a full collection stays bounded,
// and once the consumer reads again every byte arrives.
import t from 'tap';
import { testKafka } from '../support/kafkajs.js';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameSplitter, STREAM } from '../../src/protocol/frame-splitter.js';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { producerPerformance } from '../support/java-clients.js';
import { encodeRequest } from '../support/raw-client.js';
import { fetchRequest } from '../support/requests.js';
import { PROXY_HEAP_MB, mb, startProxyProcess } from '../support/proxy-process.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const PARTITIONS = 20;
const PER_PARTITION = 50 * 1024 * 1024;
/**
 * Buffers the proxy may hold after a full collection while 1 GB waits: the socket chunks and frame heads of one
 * connection (measured: 1.1 MB idle, 1.3 MB stalled). Buffering what the broker sends would hold up to 1 GB.
 */
const ARRAY_BUFFERS_MB = 8;
/** Heap growth after a full collection while stalled: one connection's state and compiled code (measured under 0.1 MB). */
const HEAP_GROWTH_MB = 4;

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

  const proxy = await startProxyProcess({ upstream: `${broker.host}:${broker.port}`, advertise: { mode: 'none' } }, { heapMB: PROXY_HEAP_MB });
  t.teardown(() => proxy.stop());
  const idle = await proxy.heap();

  // one fetch per partition, each for its whole 50 MB, pipelined; then do not read
  const socket = connect({ host: '127.0.0.1', port: proxy.port });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.pause();
  for (let p = 0; p < PARTITIONS; p++) {
    socket.write(encodeRequest(1, 12, p + 1, fetchRequest(topic, { partitions: [p], maxBytes: PER_PARTITION + 1024 * 1024, partitionMaxBytes: PER_PARTITION })));
  }
  let heapPeak = 0;
  let buffersPeak = 0;
  const samples: string[] = [];
  for (let i = 0; i < 10; i++) {
    await sleep(1000);
    const h = await proxy.heap();
    samples.push(`${mb(h.heapUsed)}+${mb(h.arrayBuffers)} (RSS ${Math.round(h.rss / 1048576)})`);
    heapPeak = Math.max(heapPeak, h.heapUsed);
    buffersPeak = Math.max(buffersPeak, h.arrayBuffers);
  }
  t.comment(`proxy heap + buffers after a full collection, idle ${mb(idle.heapUsed)}+${mb(idle.arrayBuffers)} MB; while stalled (every second): ${samples.join(' ')}`);
  t.equal(proxy.exited(), null, `the proxy lives through the stall in its ${PROXY_HEAP_MB} MB heap`);
  t.ok(buffersPeak < ARRAY_BUFFERS_MB * 1048576, `buffers held while 1 GB waits: ${mb(buffersPeak)} MB at most (bound ${ARRAY_BUFFERS_MB} MB)`);
  t.ok(heapPeak - idle.heapUsed < HEAP_GROWTH_MB * 1048576, `heap in use grew by ${mb(heapPeak - idle.heapUsed)} MB at most (bound ${HEAP_GROWTH_MB} MB)`);

  // the consumer reads again: every response arrives, whole
  let responses = 0;
  let bytes = 0;
  const splitter = new FrameSplitter(
    { onFrame: (size) => ((bytes += size), STREAM), onWhole: () => undefined, onBody: () => undefined, onEnd: () => void responses++ },
    1 << 30,
    64,
  );
  let received = 0;
  socket.on('data', (c: Buffer) => {
    received += c.length;
    splitter.push(c);
  });
  socket.resume();
  // how fast a loaded machine moves 1 GiB is its business: the wait ends after 30 s without a byte, or 5 minutes in all
  const resumed = performance.now();
  let progressAt = resumed;
  let seen = 0;
  while (responses < PARTITIONS && performance.now() - progressAt < 30_000 && performance.now() - resumed < 300_000) {
    await sleep(100);
    if (received > seen) [seen, progressAt] = [received, performance.now()];
  }
  const seconds = (performance.now() - resumed) / 1000;
  socket.destroy();
  t.equal(responses, PARTITIONS, `all 20 fetch responses arrived once the consumer read again (${(received / 1048576 / seconds).toFixed(0)} MB/s over ${seconds.toFixed(1)} s)`);
  t.ok(bytes > 0.95 * PARTITIONS * PER_PARTITION, `${(bytes / 1048576).toFixed(0)} MB delivered`);
});
