// `npm test`: starts one 3-node Kafka cluster, runs tap with it (test files that need their own cluster start one),
// prints the brokers' log tails if anything failed, and always stops the cluster.
import { spawn } from 'node:child_process';
import { KafkaCluster } from '../src/local-kafka/kafka-cluster.js';
import { SHARED_CLUSTER_ENV, SHARED_SASL_USERS } from './support/shared-cluster.js';

const log = (line: string) => console.error(`[test-runner] ${line}`);
const started = Date.now();
const cluster = await KafkaCluster.start({ nodes: 3, sasl: SHARED_SASL_USERS, log });
log(`shared 3-node cluster serving at ${cluster.bootstrap} after ${((Date.now() - started) / 1000).toFixed(1)} s`);

const tap = spawn(process.execPath, ['node_modules/tap/dist/esm/run.mjs', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, [SHARED_CLUSTER_ENV]: JSON.stringify(cluster.info) },
});
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = true;
    tap.kill(signal);
  });
}
const code = await new Promise<number>((resolve) => tap.on('close', (c, s) => resolve(c ?? (s ? 1 : 0))));
if (code !== 0 || interrupted) console.error(cluster.logTails(30));
await cluster.stop();
log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s, tap exit code ${code}`);
process.exit(interrupted ? 130 : code);
