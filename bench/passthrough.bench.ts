// The pass-through proxy against its baselines, measured in one run (each comparison alternates the two sides and
// takes medians, because this machine is shared and noisy):
// - throughputRatio: Java ProducerPerformance, 1 KB records, unthrottled, through the proxy ÷ direct to the broker;
// - addedP50Ms, addedP99Ms: Produce round trips (16 × 1 KB records each) at a fixed rate of half the direct maximum,
//   through the proxy minus direct;
// - the same two through a plain Node socket pipe (pipeThroughputRatio, pipeAddedP50Ms, pipeAddedP99Ms): what one
//   more hop costs on this machine whatever the relay, to tell the proxy's own cost from the hop's;
// - pipeRatio: 1 MB Kafka frames streamed through the proxy ÷ through a plain Node socket pipe;
// - cpuSecondsPerGB: the proxy's CPU time per GB it relayed in that stream;
// - rssIdle1000MB, rssBusy100MB: proxy RSS with 1,000 idle connections and with 100 busy ones.
// The proxy runs compiled (dist/), as in production.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaCluster } from '../src/local-kafka/kafka-cluster.js';
import { freePorts } from '../src/local-kafka/ports.js';
import { producerPerformance } from '../test/support/java-clients.js';
import { encodeRequest } from '../test/support/raw-client.js';
import { produceRequest } from '../test/support/requests.js';
import { fixedRateProduce, percentile } from '../test/support/fixed-rate.js';
import { buildProxy, cpuSeconds, pinSelf, rssMB, startPlainPipe, startProxyProcess } from './support/processes.js';
import { Sink } from './support/sink.js';
import { createTopicsAndWait } from '../src/local-kafka/topics.js';

const PERF_RECORDS = 300_000;
const THROUGHPUT_ROUNDS = 5;
const BATCH_RECORDS = 16;
const LATENCY_SECONDS = 10;
const PIPE_BYTES = 2 * 1024 ** 3;
const PIPE_RUNS = 5;
const FRAME_PAYLOAD = 1024 * 1024;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const log = (line: string) => console.error(line);

function proxyYaml(port: number, metricsPort: number, upstream: string, advertiseTo?: number): string {
  const advertise = advertiseTo ? `advertise: { mode: map, map: { "1": "127.0.0.1:${advertiseTo}" } }\n` : '';
  return `listen: 127.0.0.1:${port}\nupstream: ${upstream}\nmetrics: 127.0.0.1:${metricsPort}\n${advertise}limits: { maxConnections: 5000 }\nlogLevel: warn\n`;
}

/** Streams `bytes` of 1 MB acks=0 Produce frames to port; returns MB/s as seen by the sink. */
async function streamFrames(port: number, sink: Sink, bytes: number): Promise<number> {
  const frame = encodeRequest(0, 9, 1, produceRequest('pipe', 0, Buffer.alloc(FRAME_PAYLOAD, 7), 0));
  const socket: Socket = connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  const target = sink.bytes + bytes;
  const start = performance.now();
  for (let written = 0; written < bytes; written += frame.length) {
    if (!socket.write(frame)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  while (sink.bytes < target - frame.length) await sleep(2);
  const seconds = (performance.now() - start) / 1000;
  socket.destroy();
  return bytes / 1048576 / seconds;
}

function drainedOrClosed(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}

async function openConnections(port: number, n: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    await new Promise((resolve) => s.once('connect', resolve));
    sockets.push(s);
  }
  return sockets;
}

/** `npm run bench -- passthrough [synthetic]`: with `synthetic`, only the pipe and memory parts (no Kafka). */
export async function run(args: string[]): Promise<Record<string, number>> {
  buildProxy();
  const figures: Record<string, number> = {};
  if (!args.includes('synthetic')) await againstKafka(figures);
  await synthetic(figures);
  return figures;
}

async function againstKafka(figures: Record<string, number>): Promise<void> {
  // Direct and the proxy use the broker's INTERNAL listener (it advertises itself); the plain pipe relays to the CLIENT
  // listener, which advertises the pipe, so a client bootstrapped through the pipe stays on it.
  const [proxyPort, metricsPort, pipePort, clientPort] = await freePorts(4);
  const pipe = await startPlainPipe(pipePort!, clientPort!);
  const cluster = await KafkaCluster.start({
    nodes: 1, heapMb: 1024, log, clientPorts: { 1: clientPort! },
    advertise: (_id, listener) => (listener === 'CLIENT' ? { host: '127.0.0.1', port: pipePort! } : undefined),
  }).catch(async (err: unknown) => {
    await pipe.stop();
    throw err;
  });
  try {
    const node = cluster.info.nodes[0]!;
    const direct = `${node.host}:${node.internalPort}`;
    const proxy = await startProxyProcess(proxyYaml(proxyPort!, metricsPort!, direct, proxyPort!), proxyPort!);
    const viaProxy = `127.0.0.1:${proxyPort}`;
    const viaPipe = `127.0.0.1:${pipePort}`;
    const admin = new Kafka({ brokers: [direct], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await createTopicsAndWait(admin, [{ topic: 'perf', numPartitions: 3 }, { topic: 'latency', numPartitions: 1 }]);
    await admin.disconnect();

    log('throughput: ProducerPerformance, direct, through the proxy and through a plain pipe, alternating');
    const perf = (bootstrap: string) =>
      producerPerformance(cluster.info.classpath, { bootstrap, topic: 'perf', numRecords: PERF_RECORDS, recordSize: 1024, props: { acks: 1, 'linger.ms': 5 } });
    await perf(direct); // warm-up (JIT, page cache)
    const directRuns: { mbPerSec: number; recordsPerSec: number }[] = [];
    const proxyRuns: { mbPerSec: number }[] = [];
    const pipeRuns: { mbPerSec: number }[] = [];
    for (let i = 0; i < THROUGHPUT_ROUNDS; i++) {
      directRuns.push(await perf(direct));
      proxyRuns.push(await perf(viaProxy));
      pipeRuns.push(await perf(viaPipe));
      log(`  direct ${directRuns[i]!.mbPerSec} MB/s, proxy ${proxyRuns[i]!.mbPerSec} MB/s, plain pipe ${pipeRuns[i]!.mbPerSec} MB/s`);
    }
    // each round's ratio against the direct run next to it, then the median over rounds: drifts of this shared machine
    // (a whole run 30 % slower) cancel within a round
    const ratio = (runs: { mbPerSec: number }[]) => Number(median(runs.map((r, i) => r.mbPerSec / directRuns[i]!.mbPerSec)).toFixed(3));
    figures.directMBps = median(directRuns.map((r) => r.mbPerSec));
    figures.proxyMBps = median(proxyRuns.map((r) => r.mbPerSec));
    figures.throughputRatio = ratio(proxyRuns);
    figures.pipeThroughputRatio = ratio(pipeRuns);
    const requestsPerSec = median(directRuns.map((r) => r.recordsPerSec)) / 2 / BATCH_RECORDS;
    log(`latency: ${requestsPerSec.toFixed(0)} Produce requests/s (${BATCH_RECORDS} × 1 KB each), half the direct maximum`);
    const p50: Record<'direct' | 'proxy' | 'pipe', number[]> = { direct: [], proxy: [], pipe: [] };
    const p99: Record<'direct' | 'proxy' | 'pipe', number[]> = { direct: [], proxy: [], pipe: [] };
    for (let i = 0; i < 3; i++) {
      for (const [side, port] of [['direct', node.internalPort], ['proxy', proxyPort!], ['pipe', pipePort!]] as const) {
        const l = (await fixedRateProduce(port, 'latency', { requestsPerSec, seconds: LATENCY_SECONDS, records: BATCH_RECORDS })).latencies;
        p50[side].push(percentile(l, 50));
        p99[side].push(percentile(l, 99));
        log(`  ${side}: p50 ${percentile(l, 50).toFixed(3)} ms, p99 ${percentile(l, 99).toFixed(3)} ms (${l.length} requests)`);
      }
    }
    figures.directP50Ms = Number(median(p50.direct).toFixed(3));
    figures.directP99Ms = Number(median(p99.direct).toFixed(3));
    figures.addedP50Ms = Number((median(p50.proxy) - median(p50.direct)).toFixed(3));
    figures.addedP99Ms = Number((median(p99.proxy) - median(p99.direct)).toFixed(3));
    figures.pipeAddedP50Ms = Number((median(p50.pipe) - median(p50.direct)).toFixed(3));
    figures.pipeAddedP99Ms = Number((median(p99.pipe) - median(p99.direct)).toFixed(3));
    await proxy.stop();
  } finally {
    await pipe.stop();
    await cluster.stop();
  }
}

async function synthetic(figures: Record<string, number>): Promise<void> {
  log('pipe: 1 MB frames through the proxy and through a plain Node pipe, alternating');
  const sink = new Sink();
  const sinkPort = await sink.listen();
  const [proxyPort, metricsPort, pipePort] = await freePorts(3);
  // the sender and the sink (this process) on CPU 0, the relay being measured on CPU 1
  pinSelf(0);
  const proxy = await startProxyProcess(proxyYaml(proxyPort!, metricsPort!, `127.0.0.1:${sinkPort}`), proxyPort!, 1);
  const pipe = await startPlainPipe(pipePort!, sinkPort, 1);
  try {
    await streamFrames(proxyPort!, sink, 256 * 1024 * 1024); // warm-up
    await streamFrames(pipePort!, sink, 256 * 1024 * 1024);
    const viaProxy: number[] = [];
    const viaPipe: number[] = [];
    let cpu = 0;
    let pipeCpu = 0;
    for (let i = 0; i < PIPE_RUNS; i++) {
      const pipeBefore = cpuSeconds(pipe.pid);
      viaPipe.push(await streamFrames(pipePort!, sink, PIPE_BYTES));
      pipeCpu += cpuSeconds(pipe.pid) - pipeBefore;
      const before = cpuSeconds(proxy.pid);
      viaProxy.push(await streamFrames(proxyPort!, sink, PIPE_BYTES));
      cpu += cpuSeconds(proxy.pid) - before;
      log(`  pipe ${viaPipe[i]!.toFixed(0)} MB/s, proxy ${viaProxy[i]!.toFixed(0)} MB/s`);
    }
    figures.pipeMBps = Math.round(median(viaPipe));
    figures.proxyPipeMBps = Math.round(median(viaProxy));
    figures.pipeRatio = Number((median(viaProxy) / median(viaPipe)).toFixed(3));
    figures.cpuSecondsPerGB = Number((cpu / ((PIPE_RUNS * PIPE_BYTES) / 1024 ** 3)).toFixed(3));
    figures.pipeCpuSecondsPerGB = Number((pipeCpu / ((PIPE_RUNS * PIPE_BYTES) / 1024 ** 3)).toFixed(3));

    log('memory: 1,000 idle connections, then 100 busy ones');
    figures.rssStartMB = Math.round(rssMB(proxy.pid));
    const idle = await openConnections(proxyPort!, 1000);
    for (let i = 0; i < 100 && sink.connections < 1000; i++) await sleep(50);
    await sleep(1000);
    figures.rssIdle1000MB = Math.round(rssMB(proxy.pid));
    for (const s of idle) s.destroy();
    await sleep(1000);
    const busy = await openConnections(proxyPort!, 100);
    const frame = encodeRequest(0, 9, 1, produceRequest('pipe', 0, Buffer.alloc(FRAME_PAYLOAD, 7), 0));
    let running = true;
    const writers = busy.map(async (s) => {
      while (running && !s.destroyed) if (!s.write(frame)) await drainedOrClosed(s);
    });
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await sleep(250);
      peak = Math.max(peak, rssMB(proxy.pid));
    }
    running = false;
    for (const s of busy) s.destroy();
    await Promise.allSettled(writers);
    figures.rssBusy100MB = Math.round(peak);
  } finally {
    await proxy.stop();
    await pipe.stop();
    await sink.close();
  }
}
