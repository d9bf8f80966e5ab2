// A tenant at 100× its quota with large batches for 60 s, the proxy in a fixed heap (PROXY_HEAP_MB): it survives the
// run, what it holds after a full collection ends near where it started, and at no moment has the broker received more
// than the quota's rate times the time elapsed, plus the burst, plus the one request that put the tenant in debt (it is
// forwarded whole; the tenant is then not read until the debt is paid).
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { testKafka } from '../support/kafkajs.js';
import { PROXY_HEAP_MB, mb, startSidecarProcesses } from '../support/proxy-process.js';
import { sampler, topicLogBytes } from '../support/broker-bytes.js';
import { push } from '../support/load.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const RATE = 256 * 1024; // unthrottled, this producer sends 25-45 MB/s here: 100× and more
const BURST = RATE;
const MAX_REQUEST = 1024 * 1024 + 4096; // max.request.size and a request's own overhead
const SECONDS = 60;
/**
 * How much more the proxy may hold after a full collection at the end than at the start: a connection's state, its
 * head buffers and V8's compiled code for the paths the load took (measured: 0.6 MB more heap, 0.1 MB more buffers).
 * Holding the tenant's requests while it is throttled would hold MBs a second (it sends 25-45 MB/s) and end the proxy
 * in its heap within seconds.
 */
const HEAP_GROWTH_MB = 4;
/** Buffers alive after a full collection at any point: one frame head and a socket chunk or two (measured 1.1-1.2 MB). */
const ARRAY_BUFFERS_MB = 8;

const cluster = sharedCluster();
const node = cluster.nodes[0]!;

t.test('a tenant at 100× its quota for 60 s', async (t) => {
  const admin = testKafka(`${node.host}:${node.port}`).admin();
  await admin.connect();
  const topic = uniqueName('overload');
  await createTopicsAndWait(admin, [{ topic, replicaAssignment: [{ partition: 0, replicas: [node.id] }] }]);
  t.teardown(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined); // cleanup: a slow broker's timeout must not fail the file
    await admin.disconnect();
  });
  const sidecars = await startSidecarProcesses(cluster.nodes, { quotas: [{ clientId: 'hog', produceBytesPerSec: RATE, produceBurstBytes: BURST }] }, 'port', {
    heapMB: PROXY_HEAP_MB,
  });
  t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));
  const proxy = sidecars[0]!;
  const heapStart = await proxy.heap();

  const base = topicLogBytes(node, topic);
  const bytes = sampler(() => topicLogBytes(node, topic) - base, 250);
  const heap = sampler(async () => {
    const h = await proxy.heap();
    return h.heapUsed + h.arrayBuffers;
  }, 5000);
  const rss = sampler(() => proxy.rssMB(), 1000);
  const hog = push('java', {
    classpath: cluster.classpath, bootstrap: proxy.bootstrap, topic, clientId: 'hog',
    extra: { 'batch.size': '1048576', 'linger.ms': '100', 'max.request.size': '1048576', 'buffer.memory': '67108864' },
  });
  await sleep(SECONDS * 1000);
  await hog.stop();
  const samples = await bytes.stop();
  const rssSamples = (await rss.stop()).map((s) => s.value);
  const heapSamples = (await heap.stop()).map((s) => s.value);
  const heapEnd = await proxy.heap();

  const excess = samples.map((s) => s.value - (BURST + RATE * s.seconds + MAX_REQUEST));
  const worst = Math.max(...excess);
  t.ok(worst <= 0, `at every one of ${samples.length} samples the broker had received no more than burst + rate × t + one request (closest: ${(-worst / 1024).toFixed(0)} KB under)`);
  // the average from the first sample with bytes on (the Java client's start-up is not the proxy's doing), the bytes
  // before it left out (the first second's burst and request in debt, about 1 MB, over however long the rest lasted
  // was up to 1.07x in CI); at least 0.8x shows the tenant is not throttled beyond its quota
  const last = samples.at(-1)!;
  const first = samples.find((s) => s.value > 0)!;
  const average = (last.value - first.value) / (last.seconds - first.seconds);
  t.ok(average <= RATE * 1.1 && average >= RATE * 0.8, `on average ${(average / 1024).toFixed(0)} KB/s for a ${RATE / 1024} KB/s quota`);
  t.comment(`proxy heap + buffers after a full collection (MB, every 5 s): ${heapSamples.map(mb).join(' ')}; RSS (MB, every second, for the record): ${rssSamples.map(Math.round).join(' ')}`);
  t.equal(proxy.exited(), null, `the proxy ran the whole overload in its ${PROXY_HEAP_MB} MB heap`);
  t.ok(heapEnd.heapUsed - heapStart.heapUsed < HEAP_GROWTH_MB * 1048576,
    `heap in use after a full collection ends near where it started: ${mb(heapStart.heapUsed)} → ${mb(heapEnd.heapUsed)} MB (bound +${HEAP_GROWTH_MB} MB)`);
  const buffers = Math.max(heapStart.arrayBuffers, heapEnd.arrayBuffers);
  t.ok(buffers < ARRAY_BUFFERS_MB * 1048576, `buffers alive after a collection: ${mb(heapStart.arrayBuffers)} → ${mb(heapEnd.arrayBuffers)} MB (bound ${ARRAY_BUFFERS_MB} MB)`);
});
