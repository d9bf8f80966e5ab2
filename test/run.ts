// `npm test`: runs the files that need no Kafka, all at once, then starts one 3-node Kafka cluster and runs tap with it
// (test files that need their own cluster start one), and always stops the cluster. If anything failed it prints the
// brokers' log tails, then the failure report (proxy log tails, then every failed assertion), so that the last lines
// of the output say what failed.
// `npm run test:unit` (--unit): only the files that need no Kafka (no cluster is started), for the edit loop.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KafkaCluster } from '../src/local-kafka/kafka-cluster.js';
import { SHARED_CERTIFICATES_ENV, SHARED_CLUSTER_ENV, SHARED_SASL_USERS } from './support/shared-cluster.js';
import { makeCertificates } from './support/tls-certificates.js';
import { failureReport, RESULTS_DIR } from './failure-report.js';
import { PROXY_LOG_DIR } from './support/proxy-process.js';
import { transpile } from './transpile.js';
import { killRunning, runFiles } from './unit-runner.js';

const TAP = 'node_modules/tap/dist/esm/run.mjs';
const JS_DIR = '.tap/js';
const log = (line: string) => console.error(`[test-runner] ${line}`);
const started = Date.now();
const unitOnly = process.argv.includes('--unit');
/** The edit loop's fuzz run is a fifth of npm test's million (unless KQP_FUZZ_ITERATIONS says otherwise). */
const UNIT_FUZZ_ITERATIONS = 200_000;
const files = process.argv.slice(2).filter((a) => a !== '--unit');
// what an earlier run left would be reported as this run's
rmSync(RESULTS_DIR, { recursive: true, force: true });
rmSync(PROXY_LOG_DIR, { recursive: true, force: true });

/** A file that uses the shared cluster or starts Kafka itself (directly or through the demo); the others are unit tests. */
const needsKafka = (file: string) => /shared-cluster\.js|kafka-cluster\.js|demo\/demo\.[jt]s/.test(readFileSync(file, 'utf8'));
const all = readdirSync('test', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.test.ts')).map((f) => `test/${f}`).sort();

let interrupted = false;
let current: ChildProcess | undefined;
// tap and its test processes run in a process group of their own, so an interrupt reaches all of them, and ones
// that do not stop within 10 s are killed.
const signalTap = (signal: NodeJS.Signals) => {
  killRunning(signal);
  if (current?.pid !== undefined && current.exitCode === null) {
    try {
      process.kill(-current.pid, signal);
    } catch {
      // already gone
    }
  }
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = true;
    signalTap(signal);
    setTimeout(() => signalTap('SIGKILL'), 10_000).unref();
  });
}

function runTap(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  current = spawn(process.execPath, [TAP, ...args], { stdio: 'inherit', detached: true, env });
  return new Promise<number>((resolve) => current!.on('close', (c, s) => resolve(c ?? (s ? 1 : 0))));
}

// npm ci restores tap's default build (all its plugins, TypeScript's with ts-node among them; package.json turns most
// off): tap would rebuild it in its first run, but that run's test processes would still load the default plugins and
// take 2.5 times as long (measured: 236 s against 90 s for the files that need no Kafka). So tap is built first
// whenever the plugins it was built with (`tap versions`) are not the configured ones (`tap plugin list`).
const tapOutput = async (args: string[]) => (await promisify(execFile)(process.execPath, [TAP, ...args])).stdout;
const [configured, versions] = await Promise.all([tapOutput(['plugin', 'list']), tapOutput(['versions'])]);
const built = versions.split('plugins:\n')[1]?.match(/^ +"?[^"\s:]+/gm)?.map((p) => p.trim().replace('"', '')) ?? [];
const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((p) => b.includes(p));
if (!sameSet(configured.split('\n').filter(Boolean), built)) {
  log(`building tap with its configured plugins (it was built with ${built.length})`);
  if ((await runTap(['build'], process.env)) !== 0) throw new Error('tap build failed');
}
const serial = (f: string) => f.endsWith('.serial.test.ts');
const unitEnv = { KQP_FUZZ_ITERATIONS: String(UNIT_FUZZ_ITERATIONS), ...process.env };
let code = 0;
// The files that need no Kafka spend most of their time waiting on timers (throttles, holds), so they all run at
// once, before the cluster starts, as JavaScript (test/transpile.ts) and without tap's runner (test/unit-runner.ts).
if (!files.length) {
  await transpile(JS_DIR);
  const unit = all.filter((f) => !needsKafka(f) && !serial(f)).map((f) => join(JS_DIR, f.replace(/\.ts$/, '.js')));
  code = (await runFiles(unit, unitOnly ? unitEnv : process.env, log)) ? 1 : 0;
}

// the brokers' SSL and SASL_SSL listeners (test/tls/) use certificates made here, removed when the run ends
const certificates = unitOnly || interrupted ? undefined : makeCertificates();
process.on('exit', () => certificates?.cleanup());
const cluster = certificates && await KafkaCluster.start({
  nodes: 3, sasl: SHARED_SASL_USERS, jmx: true, log,
  tls: { certificate: certificates.server.cert, key: certificates.server.key, ca: certificates.ca },
});
if (cluster) log(`shared 3-node cluster serving at ${cluster.bootstrap} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
const env = cluster
  ? { ...process.env, [SHARED_CLUSTER_ENV]: JSON.stringify(cluster.info), [SHARED_CERTIFICATES_ENV]: JSON.stringify(certificates) }
  : unitEnv;

// Files given on the command line run as given. Otherwise the ones that use Kafka run two at a time, then those named
// *.serial.test.ts (rates, latencies) one at a time, so that no other test competes with them for the two cores, the
// admin storm last.
if (files.length) {
  code = await runTap(files, env);
} else if (cluster) {
  if (!interrupted) code = Math.max(code, await runTap(all.filter((f) => needsKafka(f) && !serial(f)), env));
  // the admin storm runs last, in a tap run of its own (tap orders the files it is given): it leaves the brokers
  // deleting thousands of partitions for minutes after it, which a rate test after it measured (a CI run's Java
  // producer got 0.90 of its 1 MB/s quota, then 1.06 of it in one window)
  const storm = (f: string) => f.includes('admin-storm');
  for (const batch of [all.filter((f) => serial(f) && !storm(f)), all.filter((f) => serial(f) && storm(f))]) {
    if (!interrupted && batch.length) code = Math.max(code, await runTap(['--jobs=1', ...batch], env));
  }
}
const failed = code !== 0 || interrupted;
if (failed && cluster) console.error(cluster.logTails(30));
await cluster?.stop();
if (failed) console.error(failureReport());
log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s, exit code ${code}`);
process.exit(interrupted ? 130 : code);
