// `npm run compat [-- --versions 3.7.2,3.9.1 --clients kcat,java --seconds 12]`: the compatibility suite
// (test/support/compat-suite.ts) for every broker version × client family: a 1-node cluster of each version (one at a
// time), a sidecar in front of it, then per client a round trip, KIP-848's consumer protocol (Java), transactions
// (Java, kafkajs, confluent-kafka-python) and the produce and fetch quotas measured at the broker. Progress goes to
// stderr; at the end, a Markdown table (the README's compatibility table) and one JSON line with every result.
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { KafkaCluster } from '../src/local-kafka/kafka-cluster.js';
import { KAFKA_VERSION } from '../src/local-kafka/kafka-jars.js';
import { CLIENTS, quotaChecks, roundTrip, startCompatSidecars, transactions, TRANSACTIONAL, type CheckResult, type ClientName } from '../test/support/compat-suite.js';

const { values } = parseArgs({
  options: {
    versions: { type: 'string', default: `3.7.2,3.9.1,4.0.0,${KAFKA_VERSION}` },
    clients: { type: 'string', default: CLIENTS.join(',') },
    records: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '15' },
  },
});
const versions = values.versions.split(',');
const clients = values.clients.split(',') as ClientName[];
for (const c of clients) if (!CLIENTS.includes(c)) throw new Error(`unknown client ${c} (${CLIENTS.join(', ')})`);
const records = Number(values.records);
const QUOTA_TOLERANCE = 0.05;
const log = (line: string) => console.error(`[compat] ${line}`);
const started = Date.now();

const results: (CheckResult & { broker: string })[] = [];
for (const version of versions) {
  log(`Kafka ${version}: starting a 1-node cluster`);
  const cluster = await KafkaCluster.start({ nodes: 1, version, jmx: true, log });
  const target = await startCompatSidecars(cluster.info);
  const record = (r: CheckResult) => {
    results.push({ broker: version, ...r });
    log(`Kafka ${version}, ${r.client}, ${r.check}: ${r.ok ? 'ok' : 'FAILED'}: ${r.detail}`);
  };
  try {
    for (const client of clients) {
      record(await roundTrip(target, client, records));
      if (client === 'java') record(await roundTrip(target, client, records, 'consumer'));
      if (TRANSACTIONAL.includes(client)) record(await transactions(target, client, records));
    }
    for (const r of await quotaChecks(target, clients, { seconds: Number(values.seconds), tolerance: QUOTA_TOLERANCE })) record(r);
  } finally {
    await Promise.all(target.sidecars.map((s) => s.stop()));
    await cluster.stop();
  }
}

const short: Record<string, string> = {
  'round trip': 'round trip', 'consumer protocol': 'KIP-848 group', transactions: 'transactions', 'produce quota': 'produce quota', 'fetch quota': 'fetch quota',
};
const cell = (version: string, client: ClientName) => {
  const rs = results.filter((r) => r.broker === version && r.client === client);
  const failed = rs.filter((r) => !r.ok);
  const quota = rs.filter((r) => r.check.endsWith('quota')).map((r) => /([\d.]+)× the/.exec(r.detail)?.[1]).filter(Boolean);
  const passed = rs.filter((r) => r.ok && !r.check.endsWith('quota')).map((r) => short[r.check]);
  if (failed.length) return `FAILED: ${failed.map((r) => short[r.check]).join(', ')}`;
  return `ok: ${passed.join(', ')}; quota ${quota.join(' / ')}×`;
};
const tool = (cmd: string, args: string[]) => {
  try {
    // the first line that names a version ("Version 1.7.1 (JSON, ...)" for kcat), without what follows it in brackets
    return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n').find((l) => /\d\.\d/.test(l))?.replace(/ \(.*/, '').trim();
  } catch {
    return 'not found';
  }
};
const clientVersions = {
  kcat: tool('kcat', ['-V']),
  java: 'kafka-clients of the broker\'s own version',
  kafkajs: (await import('kafkajs/package.json', { with: { type: 'json' } })).default.version,
  'confluent-kafka-python': tool('/usr/bin/python3', ['-c', 'import confluent_kafka as c; print(c.version()[0], "librdkafka", c.libversion()[0])']),
  'kafka-python': tool('/usr/bin/python3', ['-c', 'import kafka; print(kafka.__version__)']),
};
const table = [
  `| broker | ${clients.join(' | ')} |`,
  `|---|${clients.map(() => '---').join('|')}|`,
  ...versions.map((v) => `| ${v} | ${clients.map((c) => cell(v, c)).join(' | ')} |`),
].join('\n');
const failures = results.filter((r) => !r.ok).length;
console.error(`\ncompatibility, ${new Date().toISOString().slice(0, 10)}, ${results.length} checks, ${failures} failed, in ${((Date.now() - started) / 1000).toFixed(0)} s`);
console.error(`clients: ${Object.entries(clientVersions).map(([k, v]) => `${k} ${v}`).join('; ')}`);
console.error(`quota: all clients at once, each its own tenant, ${Number(values.seconds)} s, rate at the broker ÷ quota (produce / fetch)\n`);
console.log(table);
console.log(JSON.stringify({ date: new Date().toISOString(), clientVersions, results: results.map(({ ports: _ports, ...r }) => r) }));
process.exit(failures ? 1 : 0);
