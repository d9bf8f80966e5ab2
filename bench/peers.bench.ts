// The proxy beside its peer, Kroxylicious (Java, Netty; a passthrough virtual cluster, no filters), in one run, with
// Kafka direct and a plain Node socket pipe as the baselines, and the proxy with quotas on (a <default> client-id
// quota nobody reaches: the cost of enforcement itself). Every workload runs each side in turn, round after round
// (this machine's 2 cores are shared, so only ratios within a round mean much), each round starting one side later
// than the one before (a side's place in the round moved its figures as much as the relay did); figures are medians of the rounds,
// with [min, max] of the rounds in `spread`.
// (a) ProducerPerformance at full speed, 1 KB records: throughput ratio to direct;
// (b) fixed-rate Produce (16 × 1 KB, acks=1) at half the direct maximum: added p50 and p99 against direct; and the
//     same requests at 2,000/s against an instant stand-in broker (it answers at once, always alike), where what a
//     relay adds is not lost in the broker's own variation (GC pauses, log flushes): `instant`;
// (c) CPU seconds per GB relayed (1 MB frames into a sink, each relay pinned to one core) and RSS with 1,000 and 5,000
//     idle connections and with 100 busy ones, in relays started for it (RSS per idle connection from the last 4,000);
// (d) small requests (ApiVersions, Metadata for one topic, Produce 100 B acks=1): the most answered per second for one
//     client with 64 in flight and for 100 clients with 4 each (every side warmed up with the same load first), each
//     relay's CPU per request meanwhile, and the latency at half direct's one-client rate.
// Ours ÷ Kroxylicious: vsKroxyThroughput (higher is better), vsKroxyAddedP99, vsKroxyCpuPerGB, vsKroxyRssPerConn
// (lower is better), vsKroxySmallRequestsPerSec (higher is better), vsKroxySmallRequestCpu (lower is better).
// vsKroxyAddedP50, vsKroxyAddedP99 and vsKroxyRssPerConn are null unless both figures are > 0: an added latency or an
// RSS per connection can come out 0 or negative (a round that fell on a calmer moment of the broker than direct's, a
// garbage collection), and the ratio of two such figures means nothing (-89 ÷ -96 ms is not "7 % better"); compare
// proxyMinusKroxyP50Ms, proxyMinusKroxyP99Ms and the figures themselves instead. Latencies run from each request's
// write, or one timer tick after it was due when the sender fell behind (test/support/fixed-rate.ts); the requests a
// side left unanswered are reported beside them (latencyUnanswered, instant.unanswered, small.KIND.latency.unanswered), not in the percentiles.
import { Kafka, logLevel } from 'kafkajs';
import { KafkaCluster } from '../src/local-kafka/kafka-cluster.js';
import { freePorts } from '../src/local-kafka/ports.js';
import { createTopicsAndWait } from '../src/local-kafka/topics.js';
import { fixedRateProduce, fixedRateRequests } from '../test/support/fixed-rate.js';
import { buildProxy, cpuSeconds, pinSelf, startInstantBroker, startPlainPipe, startProxyProcess, type Child } from './support/processes.js';
import { Sink } from './support/sink.js';
import { kroxyliciousClasspath, startKroxylicious } from './support/kroxylicious/kroxylicious.js';
import {
  BATCH_RECORDS, inTurn, latencyRounds, proxyYaml, relayMemory, round3, roundRatios, streamFrames, throughputRounds, unansweredBySide,
} from './support/relay-workloads.js';
import { median, positiveRatio } from './support/stats.js';
import { maxRequestRate, SMALL_REQUESTS, smallRequestFrame } from './support/small-requests.js';

const ROUNDS = 3;
const PERF_RECORDS = 100_000;
const LATENCY_ROUNDS = 5;
const LATENCY_SECONDS = 4;
const INSTANT_ROUNDS = 8;
const INSTANT_SECONDS = 3;
const INSTANT_PER_SEC = 2000;
const SMALL_ROUNDS = 5;
const SMALL_SECONDS = 2;
/** Each side's first seconds of a small-request load, not counted: Kroxylicious' JIT took several to reach its pace. */
const SMALL_WARM_UP_SECONDS = 2;
const SMALL_LATENCY_SECONDS = 2;
const STREAM_BYTES = 512 * 1024 ** 2;
const QUOTAS = 'quotas:\n  - clientId: <default>\n    produceBytesPerSec: 1073741824\n    fetchBytesPerSec: 1073741824\n    requestsPerSec: 1000000\n';
const SIDES = ['direct', 'pipe', 'proxy', 'quotas', 'kroxy'] as const;
type Side = (typeof SIDES)[number];
const RELAYS = ['pipe', 'proxy', 'quotas', 'kroxy'] as const;
const SMALL_MODES = { oneClient: { clients: 1, window: 64 }, clients100: { clients: 100, window: 4 } } as const;

const log = (line: string) => console.error(line);
type Figures = Record<string, number | null | Record<string, unknown>>;

/** Ours ÷ Kroxylicious' for figures that can be ≤ 0 (added latencies, RSS per connection): null unless both are > 0. */
const oursOverKroxy = (ours: number | null, theirs: number | null): number | null => {
  const r = positiveRatio(ours, theirs);
  return r === null ? null : round3(r);
};

/** Median of a per-round series, and its spread ([min, max]) recorded under `name`. */
function withSpread(spread: Record<string, [number, number]>, name: string, xs: readonly number[]): number {
  spread[name] = [round3(Math.min(...xs)), round3(Math.max(...xs))];
  return round3(median(xs));
}

/** `npm run bench -- peers [synthetic]`: with `synthetic`, only the parts with no Kafka (the instant broker and (c)). */
export async function run(args: string[]): Promise<Figures> {
  buildProxy();
  await kroxyliciousClasspath(log); // jars and launcher ready before anything is timed
  const figures: Figures = {};
  const spread: Record<string, [number, number]> = {};
  if (!args.includes('synthetic')) await againstKafka(figures, spread);
  await instantBroker(figures, spread);
  await synthetic(figures, spread);
  figures.spread = spread;
  return figures;
}

async function againstKafka(figures: Figures, spread: Record<string, [number, number]>): Promise<void> {
  // Direct, the proxies and Kroxylicious use the broker's INTERNAL listener (it advertises itself; each relay rewrites
  // it to its own address); the plain pipe relays to the CLIENT listener, which advertises the pipe.
  const [proxyPort, metricsPort, quotasPort, quotasMetricsPort, pipePort, clientPort] = await freePorts(6);
  const children: Child[] = [];
  const pipe = await startPlainPipe(pipePort!, clientPort!);
  children.push(pipe);
  let cluster: KafkaCluster | undefined;
  try {
    cluster = await KafkaCluster.start({
      nodes: 1, heapMb: 512, log, clientPorts: { 1: clientPort! },
      advertise: (_id, listener) => (listener === 'CLIENT' ? { host: '127.0.0.1', port: pipePort! } : undefined),
    });
    const node = cluster.info.nodes[0]!;
    const direct = `${node.host}:${node.internalPort}`;
    const proxy = await startProxyProcess(proxyYaml(proxyPort!, metricsPort!, direct, proxyPort!), proxyPort!);
    children.push(proxy);
    const quotas = await startProxyProcess(proxyYaml(quotasPort!, quotasMetricsPort!, direct, quotasPort!, QUOTAS), quotasPort!);
    children.push(quotas);
    const kroxy = await startKroxylicious({ upstream: direct, nodeId: node.id, log });
    children.push(kroxy);
    const ports: Record<Side, number> = { direct: node.internalPort, pipe: pipePort!, proxy: proxyPort!, quotas: quotasPort!, kroxy: kroxy.port };
    const admin = new Kafka({ brokers: [direct], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await createTopicsAndWait(admin, [{ topic: 'perf', numPartitions: 3 }, { topic: 'latency', numPartitions: 1 }, { topic: 'small', numPartitions: 1 }]);
    await admin.disconnect();

    log('(a) throughput: ProducerPerformance, 1 KB records, every side in turn');
    const runs = await throughputRounds(cluster.info.classpath, SIDES.map((name) => ({ name, bootstrap: `127.0.0.1:${ports[name]}` })),
      { rounds: ROUNDS, records: PERF_RECORDS, topic: 'perf', log, rotate: true });
    const mbps = (side: Side) => runs[side]!.map((r) => r.mbPerSec);
    figures.directMBps = median(mbps('direct'));
    for (const side of RELAYS) figures[`${side}ThroughputRatio`] = withSpread(spread, `${side}ThroughputRatio`, roundRatios(mbps(side), mbps('direct')));
    figures.vsKroxyThroughput = withSpread(spread, 'vsKroxyThroughput', roundRatios(mbps('proxy'), mbps('kroxy')));
    figures.quotasVsProxyThroughput = withSpread(spread, 'quotasVsProxyThroughput', roundRatios(mbps('quotas'), mbps('proxy')));

    const requestsPerSec = median(runs.direct!.map((r) => r.recordsPerSec)) / 2 / BATCH_RECORDS;
    log(`(b) latency: ${requestsPerSec.toFixed(0)} Produce requests/s (${BATCH_RECORDS} × 1 KB each), half the direct maximum`);
    const lat = await latencyRounds(SIDES.map((name) => ({ name, port: ports[name] })),
      { rounds: LATENCY_ROUNDS, requestsPerSec, seconds: LATENCY_SECONDS, topic: 'latency', log, rotate: true });
    figures.directP50Ms = round3(median(lat.direct!.p50));
    figures.directP99Ms = round3(median(lat.direct!.p99));
    const added = (side: Side, p: 'p50' | 'p99') => lat[side]![p].map((x, i) => x - lat.direct![p][i]!);
    for (const side of RELAYS) {
      figures[`${side}AddedP50Ms`] = withSpread(spread, `${side}AddedP50Ms`, added(side, 'p50'));
      figures[`${side}AddedP99Ms`] = withSpread(spread, `${side}AddedP99Ms`, added(side, 'p99'));
    }
    figures.vsKroxyAddedP99 = oursOverKroxy(figures.proxyAddedP99Ms as number, figures.kroxyAddedP99Ms as number);
    figures.vsKroxyAddedP50 = oursOverKroxy(figures.proxyAddedP50Ms as number, figures.kroxyAddedP50Ms as number);
    figures.latencyUnanswered = unansweredBySide(lat);
    // each round's difference, ours - Kroxylicious' (the rounds' broker moves both alike)
    const minusKroxy = (p: 'p50' | 'p99') => lat.proxy![p].map((x, i) => x - lat.kroxy![p][i]!);
    figures.proxyMinusKroxyP50Ms = withSpread(spread, 'proxyMinusKroxyP50Ms', minusKroxy('p50'));
    figures.proxyMinusKroxyP99Ms = withSpread(spread, 'proxyMinusKroxyP99Ms', minusKroxy('p99'));
    figures.quotasCostP99Ms = round3((figures.quotasAddedP99Ms as number) - (figures.proxyAddedP99Ms as number));

    log('(d) small requests: the most answered per second, every side in turn');
    const small: Record<string, Record<string, unknown>> = {};
    const vsKroxy: number[] = [];
    const vsPipe: number[] = [];
    const vsKroxyCpu: number[] = [];
    const pids: Partial<Record<Side, number>> = { pipe: pipe.pid, proxy: proxy.pid, quotas: quotas.pid, kroxy: kroxy.pid };
    for (const kind of SMALL_REQUESTS) {
      const frame = smallRequestFrame(kind, 'small');
      small[kind] = {};
      for (const [mode, load] of Object.entries(SMALL_MODES)) {
        for (const side of SIDES) await maxRequestRate(ports[side], frame, { ...load, seconds: SMALL_WARM_UP_SECONDS });
        const rates: Record<Side, number[]> = { direct: [], pipe: [], proxy: [], quotas: [], kroxy: [] };
        const cpu: Record<Side, number[]> = { direct: [], pipe: [], proxy: [], quotas: [], kroxy: [] };
        for (let i = 0; i < SMALL_ROUNDS; i++) {
          for (const side of inTurn(SIDES, i, true)) {
            const r = await maxRequestRate(ports[side], frame, { ...load, seconds: SMALL_SECONDS, pid: pids[side] });
            rates[side].push(r.perSec);
            if (r.cpuUsPerRequest !== undefined) cpu[side].push(r.cpuUsPerRequest);
          }
          log(`  ${kind} ${mode}: ${SIDES.map((s) => `${s} ${rates[s][i]!.toFixed(0)}/s${s === 'direct' ? '' : ` ${cpu[s][i]!.toFixed(1)} µs`}`).join(', ')}`);
        }
        const entry: Record<string, number> = { directPerSec: Math.round(median(rates.direct)) };
        for (const side of RELAYS) {
          entry[side] = withSpread(spread, `${kind}.${mode}.${side}`, roundRatios(rates[side], rates.direct));
          entry[`${side}CpuUsPerRequest`] = round3(median(cpu[side]));
        }
        entry.vsKroxy = withSpread(spread, `${kind}.${mode}.vsKroxy`, roundRatios(rates.proxy, rates.kroxy));
        entry.vsPipe = withSpread(spread, `${kind}.${mode}.vsPipe`, roundRatios(rates.proxy, rates.pipe));
        entry.vsKroxyCpu = withSpread(spread, `${kind}.${mode}.vsKroxyCpu`, roundRatios(cpu.proxy, cpu.kroxy));
        entry.quotasVsProxy = round3(median(roundRatios(rates.quotas, rates.proxy)));
        vsKroxy.push(entry.vsKroxy);
        vsPipe.push(entry.vsPipe);
        vsKroxyCpu.push(entry.vsKroxyCpu);
        small[kind][mode] = entry;
      }
      const halfRate = (small[kind].oneClient as Record<string, number>).directPerSec! / 2;
      log(`  ${kind} latency at ${halfRate.toFixed(0)}/s (half direct's one-client maximum)`);
      const p: Record<Side, { p50: number[]; p99: number[]; unanswered: number }> =
        Object.fromEntries(SIDES.map((s) => [s, { p50: [], p99: [], unanswered: 0 }])) as never;
      for (let i = 0; i < SMALL_ROUNDS; i++) {
        for (const side of inTurn(SIDES, i, true)) {
          const r = await fixedRateRequests(ports[side], frame, { requestsPerSec: halfRate, seconds: SMALL_LATENCY_SECONDS });
          p[side].p50.push(r.p50);
          p[side].p99.push(r.p99);
          p[side].unanswered += r.unanswered;
        }
        log(`    ${SIDES.map((s) => `${s} p50 ${p[s].p50[i]!.toFixed(3)} p99 ${p[s].p99[i]!.toFixed(3)} ms`).join(', ')}; ` +
          `unanswered so far: ${SIDES.map((s) => `${s} ${p[s].unanswered}`).join(', ')}`);
      }
      const latency: Record<string, unknown> = { atPerSec: Math.round(halfRate), directP50Ms: round3(median(p.direct.p50)), directP99Ms: round3(median(p.direct.p99)) };
      for (const side of RELAYS) {
        latency[`${side}AddedP50Ms`] = round3(median(p[side].p50.map((x, i) => x - p.direct.p50[i]!)));
        latency[`${side}AddedP99Ms`] = round3(median(p[side].p99.map((x, i) => x - p.direct.p99[i]!)));
      }
      latency.unanswered = Object.fromEntries(SIDES.map((s) => [s, p[s].unanswered]));
      small[kind].latency = latency;
    }
    figures.small = small;
    figures.vsKroxySmallRequestsPerSec = round3(median(vsKroxy));
    figures.minVsKroxySmallRequestsPerSec = round3(Math.min(...vsKroxy));
    figures.smallRequestsVsPipe = round3(median(vsPipe));
    figures.minSmallRequestsVsPipe = round3(Math.min(...vsPipe));
    figures.vsKroxySmallRequestCpu = round3(median(vsKroxyCpu));
    figures.maxVsKroxySmallRequestCpu = round3(Math.max(...vsKroxyCpu));
  } finally {
    for (const c of children.reverse()) await c.stop();
    await cluster?.stop();
  }
}

/**
 * (b) against an instant stand-in broker: fixed-rate Produce (16 × 1 KB) through every side in turn, INSTANT_ROUNDS
 * rounds; each side's added p50 and p99 (its round's figure minus direct's), ours ÷ Kroxylicious', and the cost of
 * quotas (with quotas minus without).
 */
async function instantBroker(figures: Figures, spread: Record<string, [number, number]>): Promise<void> {
  log(`(b) latency against an instant broker: ${INSTANT_PER_SEC} Produce requests/s (${BATCH_RECORDS} × 1 KB each), every side in turn`);
  const [brokerPort, proxyPort, metricsPort, quotasPort, quotasMetricsPort, pipePort] = await freePorts(6);
  const upstream = `127.0.0.1:${brokerPort}`;
  const children: Child[] = [];
  try {
    children.push(await startInstantBroker(brokerPort!));
    children.push(await startPlainPipe(pipePort!, brokerPort!));
    children.push(await startProxyProcess(proxyYaml(proxyPort!, metricsPort!, upstream), proxyPort!));
    children.push(await startProxyProcess(proxyYaml(quotasPort!, quotasMetricsPort!, upstream, undefined, QUOTAS), quotasPort!));
    const kroxy = await startKroxylicious({ upstream, nodeId: 1, log });
    children.push(kroxy);
    const ports: Record<Side, number> = { direct: brokerPort!, pipe: pipePort!, proxy: proxyPort!, quotas: quotasPort!, kroxy: kroxy.port };
    for (const side of SIDES) await fixedRateProduce(ports[side], 'instant', { requestsPerSec: INSTANT_PER_SEC, seconds: 1, records: BATCH_RECORDS }); // warm-up (JIT)
    const lat = await latencyRounds(SIDES.map((name) => ({ name, port: ports[name] })),
      { rounds: INSTANT_ROUNDS, requestsPerSec: INSTANT_PER_SEC, seconds: INSTANT_SECONDS, topic: 'instant', log, rotate: true });
    const instant: Record<string, number | null | Record<string, number>> = { directP50Ms: round3(median(lat.direct!.p50)), directP99Ms: round3(median(lat.direct!.p99)) };
    const added = (side: Side, p: 'p50' | 'p99') => lat[side]![p].map((x, i) => x - lat.direct![p][i]!);
    for (const side of RELAYS) {
      instant[`${side}AddedP50Ms`] = withSpread(spread, `instant.${side}AddedP50Ms`, added(side, 'p50'));
      instant[`${side}AddedP99Ms`] = withSpread(spread, `instant.${side}AddedP99Ms`, added(side, 'p99'));
    }
    const n = (key: string) => instant[key] as number;
    instant.vsKroxyAddedP50 = oursOverKroxy(n('proxyAddedP50Ms'), n('kroxyAddedP50Ms'));
    instant.vsKroxyAddedP99 = oursOverKroxy(n('proxyAddedP99Ms'), n('kroxyAddedP99Ms'));
    instant.quotasCostP50Ms = round3(n('quotasAddedP50Ms') - n('proxyAddedP50Ms'));
    instant.quotasCostP99Ms = round3(n('quotasAddedP99Ms') - n('proxyAddedP99Ms'));
    instant.unanswered = unansweredBySide(lat);
    figures.instant = instant;
  } finally {
    for (const c of children.reverse()) await c.stop();
  }
}

async function synthetic(figures: Figures, spread: Record<string, [number, number]>): Promise<void> {
  log('(c) CPU: 1 MB frames into a sink through each relay (pinned to CPU 1; sender and sink on CPU 0), in turn');
  const sink = new Sink();
  const sinkPort = await sink.listen();
  const upstream = `127.0.0.1:${sinkPort}`;
  const [proxyPort, metricsPort, quotasPort, quotasMetricsPort, pipePort] = await freePorts(5);
  pinSelf(0);
  const relays: Partial<Record<Side, Child & { port: number }>> = {};
  try {
    relays.pipe = { ...(await startPlainPipe(pipePort!, sinkPort, 1)), port: pipePort! };
    relays.proxy = { ...(await startProxyProcess(proxyYaml(proxyPort!, metricsPort!, upstream), proxyPort!, 1)), port: proxyPort! };
    relays.quotas = { ...(await startProxyProcess(proxyYaml(quotasPort!, quotasMetricsPort!, upstream, undefined, QUOTAS), quotasPort!, 1)), port: quotasPort! };
    relays.kroxy = await startKroxylicious({ upstream, nodeId: 1, cpu: 1, log });
    for (const side of RELAYS) await streamFrames(relays[side]!.port, sink, 256 * 1024 * 1024); // warm-up (JIT)
    const cpu: Record<string, number[]> = Object.fromEntries(RELAYS.map((s) => [s, []]));
    const mbps: Record<string, number[]> = Object.fromEntries(RELAYS.map((s) => [s, []]));
    for (let i = 0; i < ROUNDS; i++) {
      for (const side of inTurn(RELAYS, i, true)) {
        const r = relays[side]!;
        const before = cpuSeconds(r.pid);
        mbps[side]!.push(await streamFrames(r.port, sink, STREAM_BYTES));
        cpu[side]!.push((cpuSeconds(r.pid) - before) / (STREAM_BYTES / 1024 ** 3));
      }
      log(`  ${RELAYS.map((s) => `${s} ${mbps[s]![i]!.toFixed(0)} MB/s ${cpu[s]![i]!.toFixed(2)} s/GB`).join(', ')}`);
    }
    for (const side of RELAYS) {
      figures[`${side}CpuSecondsPerGB`] = withSpread(spread, `${side}CpuSecondsPerGB`, cpu[side]!);
      figures[`${side}StreamMBps`] = Math.round(median(mbps[side]!));
    }
    figures.vsKroxyCpuPerGB = withSpread(spread, 'vsKroxyCpuPerGB', roundRatios(cpu.proxy!, cpu.kroxy!));

    log('(c) memory, in relays started for it: 1,000 then 5,000 idle connections (one ApiVersions each, unanswered), then 100 busy ones');
    for (const r of Object.values(relays)) await r.stop();
    const [memProxyPort, memMetricsPort] = await freePorts(2);
    relays.proxy = { ...(await startProxyProcess(proxyYaml(memProxyPort!, memMetricsPort!, upstream), memProxyPort!, 1)), port: memProxyPort! };
    relays.kroxy = await startKroxylicious({ upstream, nodeId: 1, cpu: 1, log });
    const hello = smallRequestFrame('apiVersions', 'small');
    const perConn: Record<string, number | null> = {};
    for (const side of ['proxy', 'kroxy'] as const) {
      const m = await relayMemory(relays[side]!.pid, relays[side]!.port, sink, hello);
      figures[`${side}RssStartMB`] = Math.round(m.rssStartMB);
      figures[`${side}RssIdle1000MB`] = Math.round(m.rssIdle1000MB);
      figures[`${side}RssIdle5000MB`] = Math.round(m.rssIdle5000MB);
      figures[`${side}RssBusy100MB`] = Math.round(m.rssBusy100MB);
      perConn[side] = m.rssPerIdleConnKB;
      figures[`${side}RssPerIdleConnKB`] = m.rssPerIdleConnKB === null ? null : round3(m.rssPerIdleConnKB);
      log(`  ${side}: ${m.rssStartMB.toFixed(0)} MB at start, ${m.rssIdle1000MB.toFixed(0)} MB with 1,000 idle, ${m.rssIdle5000MB.toFixed(0)} MB with 5,000, ${m.rssBusy100MB.toFixed(0)} MB with 100 busy` +
        (m.rssPerIdleConnKB === null ? ' (RSS per idle connection ≤ 0: not reported)' : ''));
    }
    figures.vsKroxyRssPerConn = oursOverKroxy(perConn.proxy!, perConn.kroxy!);
  } finally {
    for (const r of Object.values(relays)) await r.stop();
    await sink.close();
  }
}
