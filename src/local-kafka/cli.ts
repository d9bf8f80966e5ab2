// `npm run kafka -- jars`: fetch the pinned Kafka jars and report the time taken.
// `npm run kafka -- start [--nodes 1|3]`: run a local Kafka cluster until Ctrl-C.
import { parseArgs } from 'node:util';
import { ensureKafkaJars } from './kafka-jars.js';
import { KafkaCluster } from './kafka-cluster.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { nodes: { type: 'string', default: '1' } },
});
const log = (line: string) => console.error(line);

switch (positionals[0]) {
  case 'jars': {
    const jars = await ensureKafkaJars(log);
    console.log(JSON.stringify({ libsDir: jars.libsDir, downloadMs: jars.downloadMs }));
    break;
  }
  case 'start': {
    const nodes = Number(values.nodes);
    if (nodes !== 1 && nodes !== 3) throw new Error('--nodes must be 1 or 3');
    const started = Date.now();
    const cluster = await KafkaCluster.start({ nodes, log });
    console.log(JSON.stringify({ bootstrap: cluster.bootstrap, startMs: Date.now() - started, pids: cluster.pids() }));
    log(`Kafka serving at ${cluster.bootstrap}; Ctrl-C stops it`);
    const stop = () => void cluster.stop().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    break;
  }
  default:
    console.error('usage: npm run kafka -- jars | start [--nodes 1|3]');
    process.exit(2);
}
