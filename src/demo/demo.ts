// `npm run demo [-- --seconds N]`: a local Kafka, the proxy in front of it with config/demo.yaml, a quiet tenant that
// produces at half its quota and a noisy one that pushes as hard as it can; every second, a table per tenant of what
// the broker received (read from its log files), the quota, and the throttle the proxy gave. Ctrl-C (or the end of
// --seconds) stops the clients, the proxy and Kafka, whose files go with it; the topics keep at most 256 MB each.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaCluster } from '../local-kafka/kafka-cluster.js';
import { freePorts } from '../local-kafka/ports.js';
import { configFromObject } from '../config/load-config.js';
import { ProxyServer } from '../proxy/proxy-server.js';
import { createLogger } from '../observability/logger.js';
import { createTopicsAndWait } from '../local-kafka/topics.js';
import { PRODUCE } from '../quota/quota-kinds.js';

const { values } = parseArgs({ options: { seconds: { type: 'string' } } });
const seconds = values.seconds === undefined ? Infinity : Number(values.seconds);
const MB = 1024 * 1024;
const TENANTS = ['quiet', 'noisy'] as const;

/**
 * What the broker has written to a topic's log files since it was created: the segments there now, and those its
 * retention deleted (their size when last seen: a segment is full, and no longer written, long before it goes).
 */
function logBytesCounter(dataDir: string, topic: string): () => number {
  const seen = new Map<string, number>();
  let deleted = 0;
  return () => {
    const now = new Map<string, number>();
    for (const dir of readdirSync(dataDir).filter((d) => d.startsWith(`${topic}-`))) {
      for (const f of readdirSync(join(dataDir, dir)).filter((x) => x.endsWith('.log'))) {
        const file = join(dataDir, dir, f);
        try {
          now.set(file, statSync(file).size);
        } catch {
          // deleted between the listing and the stat: counted below from its last size
        }
      }
    }
    for (const [file, size] of seen) if (!now.has(file)) deleted += size;
    seen.clear();
    let total = deleted;
    for (const [file, size] of now) {
      seen.set(file, size);
      total += size;
    }
    return total;
  };
}

console.error('starting a local Kafka (1 node; its jars are fetched from Maven Central the first time) ...');
const cluster = await KafkaCluster.start({ nodes: 1, log: (line) => console.error(line) });
const node = cluster.info.nodes[0]!;
const [port, metricsPort] = await freePorts(2);
const sample = parseYaml(readFileSync(new URL('../../config/demo.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;
const config = configFromObject({
  ...sample,
  listen: `127.0.0.1:${port}`,
  upstream: `${node.host}:${node.port}`,
  metrics: `127.0.0.1:${metricsPort}`,
  advertise: { mode: 'map', map: { [String(node.id)]: `127.0.0.1:${port}` } },
});
const proxy = new ProxyServer(config, { logger: createLogger(config.logLevel, process.stderr) });
await proxy.start();
const bootstrap = `127.0.0.1:${port}`;
console.error(`proxy on ${bootstrap} (metrics on http://127.0.0.1:${metricsPort}/metrics), Kafka on ${node.host}:${node.port}`);

const admin = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
await admin.connect();
// the noisy tenant writes 1.5 MB/s or so: retention keeps the broker's files (in memory, /dev/shm) to 256 MB a topic
const retention = [{ name: 'retention.bytes', value: String(256 * MB) }, { name: 'segment.bytes', value: String(16 * MB) }];
await createTopicsAndWait(admin, TENANTS.map((t) => ({ topic: `demo-${t}`, numPartitions: 1, configEntries: retention })));
await admin.disconnect();

let running = true;
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => (running = false));
const value = Buffer.alloc(1024, 0x78);
async function produce(tenant: string, bytesPerSec: number): Promise<void> {
  const producer = new Kafka({ clientId: `${tenant}.app-1`, brokers: [bootstrap], logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  const messages = Array.from({ length: 32 }, () => ({ value }));
  const started = Date.now();
  let sent = 0;
  const loop = async () => {
    while (running) {
      if (Number.isFinite(bytesPerSec)) {
        const ahead = sent - ((Date.now() - started) / 1000) * bytesPerSec;
        if (ahead > 0) await new Promise((r) => setTimeout(r, (ahead / bytesPerSec) * 1000));
      }
      sent += 32 * 1024;
      await producer.send({ topic: `demo-${tenant}`, acks: 1, messages });
    }
  };
  await Promise.all(Number.isFinite(bytesPerSec) ? [loop()] : [loop(), loop(), loop(), loop()]);
  await producer.disconnect();
}
const producers = [produce('quiet', 0.5 * MB), produce('noisy', Infinity)];

const metric = async (name: string, tenant: string) => {
  const text = await proxy.metrics.registry.getSingleMetricAsString(name);
  const line = text.split('\n').find((l) => l.includes(`tenant="${tenant}"`));
  return line ? Number(line.split(' ').pop()) : 0;
};
const logBytes = new Map(TENANTS.map((t) => [t, logBytesCounter(node.dataDir, `demo-${t}`)]));
const last = new Map<string, { bytes: number; throttle: number }>();
for (const t of TENANTS) last.set(t, { bytes: logBytes.get(t)!(), throttle: 0 });
let lastAt = performance.now();
const quotaOf = (t: string) => config.quotas.find((q) => q.clientId === t)?.rates[PRODUCE]?.rate ?? 0;
console.log(`${'time'.padEnd(6)}${'tenant'.padEnd(8)}${'broker got'.padStart(13)}${'quota'.padStart(13)}${'throttled'.padStart(12)}`);
const started = Date.now();
// a row per tenant each second on a fixed grid; the rates are per second of the interval actually measured
for (let tick = 1; running && (Date.now() - started) / 1000 < seconds; tick++) {
  await new Promise((r) => setTimeout(r, Math.max(0, started + tick * 1000 - Date.now())));
  if (!running) break;
  const now = performance.now();
  const interval = (now - lastAt) / 1000;
  lastAt = now;
  for (const t of TENANTS) {
    const bytes = logBytes.get(t)!();
    const throttle = await metric('kqp_tenant_throttle_seconds_total', t);
    const prev = last.get(t)!;
    last.set(t, { bytes, throttle });
    console.log(`${`${tick}s`.padEnd(6)}${t.padEnd(8)}${`${((bytes - prev.bytes) / MB / interval).toFixed(2)} MB/s`.padStart(13)}` +
      `${`${(quotaOf(t) / MB).toFixed(2)} MB/s`.padStart(13)}${`${(((throttle - prev.throttle) * 1000) / interval) | 0} ms/s`.padStart(12)}`);
  }
}
running = false;
console.error('stopping ...');
// a Ctrl-C reaches Kafka too (the terminal signals the whole process group): sends still in flight may wait on a
// broker that is going, so the producers get 3 s
await Promise.race([Promise.allSettled(producers), new Promise((r) => setTimeout(r, 3000))]);
await proxy.stop();
await cluster.stop();
process.exit(0);
