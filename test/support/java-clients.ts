// The Java client's perf and verifiable tools (from kafka-tools), run as child processes, with their output parsed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runJava, runJavaOk, spawnJava } from '../../src/local-kafka/java-tool.js';

const TOOLS = 'org.apache.kafka.tools';

let propertiesDir: string | undefined;

/** Writes client properties to a temp file (removed when this process exits) for the tools' --*.config options. */
export function propertiesFile(props: Record<string, string | number>): string {
  if (!propertiesDir) {
    const dir = mkdtempSync(join(tmpdir(), 'kqp-client-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    propertiesDir = dir;
  }
  const file = join(propertiesDir, `${randomBytes(6).toString('hex')}.properties`);
  writeFileSync(file, Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  return file;
}

export interface ProducerPerfResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** The producer's metrics (group:name → value, summed over tags), with printMetrics. */
  metrics: Record<string, number>;
}

const PRODUCER_PERF_LINE =
  /^(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.?$/;

export function parseProducerPerf(stdout: string): ProducerPerfResult {
  const line = stdout.trim().split('\n').reverse().find((l) => PRODUCER_PERF_LINE.test(l.trim()));
  if (!line) throw new Error(`no ProducerPerformance summary in:\n${stdout.slice(-2000)}`);
  const m = PRODUCER_PERF_LINE.exec(line.trim())!;
  const n = m.slice(1).map(Number);
  return {
    records: n[0]!, recordsPerSec: n[1]!, mbPerSec: n[2]!, avgLatencyMs: n[3]!, maxLatencyMs: n[4]!,
    p50Ms: n[5]!, p95Ms: n[6]!, p99Ms: n[7]!, p999Ms: n[8]!,
    metrics: parseMetrics(stdout),
  };
}

const METRIC_LINE = /^([\w-]+):([\w-]+):\{[^}]*\}\s*:\s*(\S+)$/;

/** Parses the tools' --print-metrics table ("group:name:{tags} : value"). */
export function parseMetrics(stdout: string): Record<string, number> {
  const metrics: Record<string, number> = {};
  for (const line of stdout.split('\n')) {
    const m = METRIC_LINE.exec(line.trim());
    if (!m) continue;
    const value = Number(m[3]);
    if (Number.isFinite(value)) metrics[`${m[1]}:${m[2]}`] = (metrics[`${m[1]}:${m[2]}`] ?? 0) + value;
  }
  return metrics;
}

export interface ProducerPerfOptions {
  bootstrap: string;
  topic: string;
  numRecords: number;
  recordSize: number;
  /** Records/s; -1 for as fast as possible. */
  throughput?: number;
  props?: Record<string, string | number>;
  timeoutMs?: number;
  printMetrics?: boolean;
  heapMb?: number;
}

export async function producerPerformance(classpath: string, o: ProducerPerfOptions): Promise<ProducerPerfResult> {
  const props = Object.entries({ 'bootstrap.servers': o.bootstrap, ...o.props }).map(([k, v]) => `${k}=${v}`);
  const args = ['--topic', o.topic, '--num-records', String(o.numRecords), '--record-size', String(o.recordSize),
    '--throughput', String(o.throughput ?? -1), '--command-property', ...props];
  if (o.printMetrics) args.push('--print-metrics');
  const r = await runJavaOk(`${TOOLS}.ProducerPerformance`, args, { classpath, timeoutMs: o.timeoutMs ?? 300_000, heapMb: o.heapMb ?? 512 });
  return parseProducerPerf(r.stdout);
}

export interface ConsumerPerfResult {
  mbConsumed: number;
  mbPerSec: number;
  records: number;
  recordsPerSec: number;
  rebalanceMs: number;
  fetchMs: number;
}

export function parseConsumerPerf(stdout: string): ConsumerPerfResult {
  const lines = stdout.trim().split('\n').map((l) => l.trim());
  const h = lines.findIndex((l) => l.startsWith('start.time'));
  if (h < 0 || !lines[h + 1]) throw new Error(`no ConsumerPerformance summary in:\n${stdout.slice(-2000)}`);
  const names = lines[h]!.split(',').map((s) => s.trim());
  const values = lines[h + 1]!.split(',').map((s) => s.trim());
  const get = (name: string) => Number(values[names.indexOf(name)]);
  return {
    mbConsumed: get('data.consumed.in.MB'),
    mbPerSec: get('MB.sec'),
    records: get('data.consumed.in.nMsg'),
    recordsPerSec: get('nMsg.sec'),
    rebalanceMs: get('rebalance.time.ms'),
    fetchMs: get('fetch.time.ms'),
  };
}

export async function consumerPerformance(
  classpath: string,
  o: { bootstrap: string; topic: string; numRecords: number; group?: string; timeoutMs?: number; props?: Record<string, string | number> },
): Promise<ConsumerPerfResult> {
  const args = ['--bootstrap-server', o.bootstrap, '--topic', o.topic, '--num-records', String(o.numRecords),
    '--timeout', String(o.timeoutMs ?? 60_000), '--group', o.group ?? `perf-${randomBytes(4).toString('hex')}`];
  if (o.props) args.push('--command-config', propertiesFile(o.props));
  const r = await runJavaOk(`${TOOLS}.ConsumerPerformance`, args, { classpath, timeoutMs: (o.timeoutMs ?? 60_000) + 60_000 });
  return parseConsumerPerf(r.stdout);
}

export interface Acked {
  value: string;
  partition: number;
  offset: number;
}

export interface VerifiableProducerResult {
  acked: Acked[];
  errors: number;
  /** The first few distinct send errors, "Exception: message". */
  errorMessages: string[];
  exitCode: number | null;
  /** The tail of its stderr, for failure messages. */
  stderr: string;
}

export interface VerifiableProducerOptions {
  bootstrap: string;
  topic: string;
  maxMessages: number;
  /** Messages/s; -1 for as fast as possible. */
  throughput?: number;
  acks?: -1 | 0 | 1;
  valuePrefix?: number;
  props?: Record<string, string | number>;
  /** Called after each acknowledged message with the running count. */
  onAck?: (count: number) => void;
  timeoutMs?: number;
  onSpawn?: (pid: number) => void;
}

/** Runs VerifiableProducer; its values are the message sequence numbers ("0", "1", ... or "prefix.N"). */
export async function verifiableProducer(classpath: string, o: VerifiableProducerOptions): Promise<VerifiableProducerResult> {
  const args = ['--bootstrap-server', o.bootstrap, '--topic', o.topic, '--max-messages', String(o.maxMessages),
    '--throughput', String(o.throughput ?? -1), '--acks', String(o.acks ?? -1)];
  if (o.valuePrefix !== undefined) args.push('--value-prefix', String(o.valuePrefix));
  if (o.props) args.push('--producer.config', propertiesFile(o.props));
  const acked: Acked[] = [];
  let errors = 0;
  const errorMessages = new Set<string>();
  const r = await runJava(`${TOOLS}.VerifiableProducer`, args, {
    classpath,
    timeoutMs: o.timeoutMs ?? 300_000,
    ...(o.onSpawn ? { onSpawn: o.onSpawn } : {}),
    onLine: (line) => {
      if (!line.startsWith('{')) return;
      const e = JSON.parse(line) as { name: string; value?: string; partition?: number; offset?: number; exception?: string; message?: string };
      if (e.name === 'producer_send_success') {
        acked.push({ value: e.value!, partition: e.partition!, offset: e.offset! });
        o.onAck?.(acked.length);
      } else if (e.name === 'producer_send_error') {
        errors++;
        if (errorMessages.size < 5) errorMessages.add(`${e.exception}: ${e.message}`);
      }
    },
  });
  return { acked, errors, errorMessages: [...errorMessages], exitCode: r.code, stderr: r.stderr.slice(-4000) };
}

export interface ConsumedRecord {
  value: string;
  partition: number;
  offset: number;
}

/** Runs VerifiableConsumer in a group until it has consumed `maxMessages` records; returns every record it saw. */
export async function verifiableConsumer(
  classpath: string,
  o: {
    bootstrap: string; topic: string; groupId: string; maxMessages: number; props?: Record<string, string | number>; timeoutMs?: number;
    onSpawn?: (pid: number) => void;
  },
): Promise<ConsumedRecord[]> {
  const args = ['--bootstrap-server', o.bootstrap, '--topic', o.topic, '--group-id', o.groupId,
    '--max-messages', String(o.maxMessages), '--reset-policy', 'earliest', '--verbose'];
  if (o.props) args.push('--consumer.config', propertiesFile(o.props));
  const records: ConsumedRecord[] = [];
  const child = spawnJava(`${TOOLS}.VerifiableConsumer`, args, { classpath, ...(o.onSpawn ? { onSpawn: o.onSpawn } : {}) });
  let pending = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-8000); });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line) as { name: string; value?: string; partition?: number; offset?: number };
      if (e.name === 'record_data') records.push({ value: e.value!, partition: e.partition!, offset: e.offset! });
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  if (records.length < o.maxMessages) {
    throw new Error(`VerifiableConsumer got ${records.length} of ${o.maxMessages} records (exit ${code})\n${stderr}`);
  }
  return records;
}

/**
 * A share consumer (KIP-932: kafka-console-share-consumer) in group `group`, which first starts at the earliest offset
 * (its share.auto.offset.reset, a group config, set straight to `adminBootstrap`). Resolves with the records it printed
 * (lines of `recordBytes`) once it has `maxMessages` or is killed at `timeoutMs`.
 */
export async function shareConsumer(
  classpath: string,
  o: { adminBootstrap: string; bootstrap: string; topic: string; group: string; clientId: string; maxMessages: number; recordBytes: number; timeoutMs: number; onSpawn?: (pid: number) => void },
): Promise<{ records: number; code: number | null; stderr: string }> {
  await runJavaOk(`${TOOLS}.ConfigCommand`, ['--bootstrap-server', o.adminBootstrap, '--alter', '--entity-type', 'groups',
    '--entity-name', o.group, '--add-config', 'share.auto.offset.reset=earliest'], { classpath, timeoutMs: 60_000 });
  let records = 0;
  const r = await runJava(`${TOOLS}.consumer.ConsoleShareConsumer`, ['--bootstrap-server', o.bootstrap, '--topic', o.topic,
    '--group', o.group, '--consumer-property', `client.id=${o.clientId}`, '--max-messages', String(o.maxMessages)], {
    classpath, timeoutMs: o.timeoutMs, onLine: (line) => void (line.length === o.recordBytes && records++), ...(o.onSpawn ? { onSpawn: o.onSpawn } : {}),
  });
  return { records, code: r.code, stderr: r.stderr.slice(-4000) };
}
