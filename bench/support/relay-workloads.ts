// Workloads shared by the benches that put relays side by side (passthrough, peers): each runs the same load against
// every side in turn, round after round, so that a drift of this shared machine hits every side alike.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { producerPerformance } from '../../test/support/java-clients.js';
import { encodeRequest } from '../../test/support/raw-client.js';
import { produceRequest } from '../../test/support/requests.js';
import { fixedRateProduce } from '../../test/support/fixed-rate.js';
import { rssMB } from './processes.js';
import type { Sink } from './sink.js';
import { median } from './stats.js';

export const round3 = (x: number): number => Number(x.toFixed(3));
/** The sides in the order round `i` runs them: with `rotate`, each round starts one side later (no side always follows the same one). */
export const inTurn = <T>(sides: readonly T[], i: number, rotate = false): T[] =>
  rotate ? [...sides.slice(i % sides.length), ...sides.slice(0, i % sides.length)] : [...sides];
const FRAME_PAYLOAD = 1024 * 1024;
/** Records per Produce request in the fixed-rate latency workload (1 KB each). */
export const BATCH_RECORDS = 16;

/** The proxy's config for a bench: no quotas, warnings only; `extra` is more YAML. */
export function proxyYaml(port: number, metricsPort: number, upstream: string, advertiseTo?: number, extra = ''): string {
  const advertise = advertiseTo ? `advertise: { mode: map, map: { "1": "127.0.0.1:${advertiseTo}" } }\n` : '';
  // connection limits far above what the memory workload opens (5,000 from one address, as fast as it can)
  const connections = 'connections: { maxPerIp: 10000, creationRatePerIp: 100000, creationBurstPerIp: 100000 }\n';
  return `listen: 127.0.0.1:${port}\nupstream: ${upstream}\nmetrics: 127.0.0.1:${metricsPort}\n${advertise}limits: { maxConnections: 10000 }\n${connections}logLevel: warn\n${extra}`;
}

export interface PerfRun {
  mbPerSec: number;
  recordsPerSec: number;
}

/**
 * Java ProducerPerformance at full speed (1 KB records, acks=1, linger 5 ms) through each side in turn, `rounds`
 * times, after one warm-up run on every side (not counted: a side's first run pays for its JIT and connections, and
 * the broker's page cache). Returns each side's runs, in round order.
 */
export async function throughputRounds(
  classpath: string, sides: readonly { name: string; bootstrap: string }[],
  o: { rounds: number; records: number; topic: string; log: (line: string) => void; rotate?: boolean },
): Promise<Record<string, PerfRun[]>> {
  const perf = (bootstrap: string) =>
    producerPerformance(classpath, { bootstrap, topic: o.topic, numRecords: o.records, recordSize: 1024, props: { acks: 1, 'linger.ms': 5 } });
  for (const s of sides) await perf(s.bootstrap); // warm-up
  const runs: Record<string, PerfRun[]> = Object.fromEntries(sides.map((s) => [s.name, []]));
  for (let i = 0; i < o.rounds; i++) {
    for (const s of inTurn(sides, i, o.rotate)) runs[s.name]!.push(await perf(s.bootstrap));
    o.log(`  ${sides.map((s) => `${s.name} ${runs[s.name]![i]!.mbPerSec} MB/s`).join(', ')}`);
  }
  return runs;
}

/** Each round's ratio of `runs` to the `base` run of the same round (drifts cancel within a round). */
export function roundRatios(runs: readonly number[], base: readonly number[]): number[] {
  return runs.map((r, i) => r / base[i]!);
}

export interface LatencyRounds {
  /** Per round, ms from each request's scheduled moment (bench/support/fixed-rate.ts). */
  p50: number[];
  p99: number[];
  /** Per round, requests never answered: failures, not in the percentiles. */
  unanswered: number[];
}

/**
 * Fixed-rate Produce round trips (BATCH_RECORDS × 1 KB, acks=1) through each side in turn, `rounds` times.
 * Returns each side's p50 and p99 per round, ms, and the requests it left unanswered.
 */
export async function latencyRounds(
  sides: readonly { name: string; port: number }[],
  o: { rounds: number; requestsPerSec: number; seconds: number; topic: string; log: (line: string) => void; rotate?: boolean },
): Promise<Record<string, LatencyRounds>> {
  const out: Record<string, LatencyRounds> = Object.fromEntries(sides.map((s) => [s.name, { p50: [], p99: [], unanswered: [] }]));
  for (let i = 0; i < o.rounds; i++) {
    for (const s of inTurn(sides, i, o.rotate)) {
      const r = await fixedRateProduce(s.port, o.topic, { requestsPerSec: o.requestsPerSec, seconds: o.seconds, records: BATCH_RECORDS });
      out[s.name]!.p50.push(r.p50);
      out[s.name]!.p99.push(r.p99);
      out[s.name]!.unanswered.push(r.unanswered);
      o.log(`  ${s.name}: p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms (${r.latencies.length} requests timed, ` +
        `${r.unanswered} of ${r.requests} unanswered; the sender ${r.maxSendLagMs.toFixed(1)} ms behind at worst)`);
    }
  }
  return out;
}

/** Each side's unanswered requests over all its rounds. */
export function unansweredBySide(lat: Record<string, LatencyRounds>): Record<string, number> {
  return Object.fromEntries(Object.entries(lat).map(([side, l]) => [side, l.unanswered.reduce((a, b) => a + b, 0)]));
}

/** A 1 MB acks=0 Produce frame, for streaming into a sink. */
export function bigFrame(): Buffer {
  return encodeRequest(0, 9, 1, produceRequest('pipe', 0, Buffer.alloc(FRAME_PAYLOAD, 7), 0));
}

/** Streams `bytes` of 1 MB acks=0 Produce frames to port; returns MB/s as seen by the sink. */
export async function streamFrames(port: number, sink: Sink, bytes: number): Promise<number> {
  const frame = bigFrame();
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

export async function openConnections(port: number, n: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    await new Promise((resolve) => s.once('connect', resolve));
    sockets.push(s);
  }
  return sockets;
}

/** Opens `n` connections to `port`, each writing `hello` if given, and waits until the sink holds `n` more than `before`. */
async function idleConnections(port: number, n: number, sink: Sink, before: number, hello?: Buffer): Promise<Socket[]> {
  const sockets = await openConnections(port, n);
  if (hello) for (const s of sockets) s.write(hello);
  for (let i = 0; i < 200 && sink.connections < before + n; i++) await sleep(50);
  await sleep(1000);
  return sockets;
}

const RSS_READINGS = 5;
const RSS_PAUSE_MS = 200;

/** The median of RSS_READINGS readings of a process's RSS (MB), RSS_PAUSE_MS apart: one reading can fall on either side of a garbage collection. */
async function settledRssMB(pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < RSS_READINGS; i++) {
    if (i > 0) await sleep(RSS_PAUSE_MS);
    readings.push(rssMB(pid));
  }
  return median(readings);
}

/**
 * A relay's RSS (MB) after start, with 1,000 idle connections (through to the sink), with 5,000 (each the median of
 * RSS_READINGS readings), and at its peak over 5 s with 100 connections streaming 1 MB frames at once; and the RSS each
 * idle connection adds (KB), from the last 4,000: the first thousand can land in memory the process already holds (a
 * heap's free pages, a JVM's committed heap), so that their figure is a garbage collection's noise. That is null when
 * it comes out ≤ 0 (memory given back between the readings; a single reading each gave -20 KB once): no figure rather
 * than a wrong one. `hello`: a frame each idle connection sends first (a relay that opens its upstream connection only
 * on the first request then holds both sockets, as one that opens it at once).
 */
export async function relayMemory(
  pid: number, port: number, sink: Sink, hello?: Buffer,
): Promise<{ rssStartMB: number; rssIdle1000MB: number; rssIdle5000MB: number; rssPerIdleConnKB: number | null; rssBusy100MB: number }> {
  const rssStartMB = await settledRssMB(pid);
  const before = sink.connections;
  const idle = await idleConnections(port, 1000, sink, before, hello);
  const rssIdle1000MB = await settledRssMB(pid);
  idle.push(...(await idleConnections(port, 4000, sink, before + 1000, hello)));
  const rssIdle5000MB = await settledRssMB(pid);
  for (const s of idle) s.destroy();
  await sleep(1000);
  const busy = await openConnections(port, 100);
  const frame = bigFrame();
  let running = true;
  const writers = busy.map(async (s) => {
    while (running && !s.destroyed) if (!s.write(frame)) await drainedOrClosed(s);
  });
  let peak = 0;
  for (let i = 0; i < 20; i++) {
    await sleep(250);
    peak = Math.max(peak, rssMB(pid));
  }
  running = false;
  for (const s of busy) s.destroy();
  await Promise.allSettled(writers);
  await sleep(500);
  const perConnKB = ((rssIdle5000MB - rssIdle1000MB) * 1024) / 4000;
  return { rssStartMB, rssIdle1000MB, rssIdle5000MB, rssPerIdleConnKB: perConnKB > 0 ? perConnKB : null, rssBusy100MB: peak };
}
