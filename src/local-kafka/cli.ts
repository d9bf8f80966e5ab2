// `npm run kafka -- jars [--version V]`: fetch the Kafka jars (the pinned version by default) and report the time taken.
// `npm run kafka -- start [--nodes 1|3] [--version V]`: run a local Kafka cluster until Ctrl-C.
import { parseArgs } from 'node:util';
import { ensureKafkaJars } from './kafka-jars.js';
import { KafkaCluster } from './kafka-cluster.js';
import { KNOWN_LINES } from './kafka-versions.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { nodes: { type: 'string', default: '1' }, version: { type: 'string' } },
});
const log = (line: string) => console.error(line);

switch (positionals[0]) {
  case 'jars': {
    const jars = await ensureKafkaJars(log, values.version ? { version: values.version } : {});
    console.log(JSON.stringify({ version: jars.version, libsDir: jars.libsDir, downloadMs: jars.downloadMs }));
    break;
  }
  case 'start': {
    const nodes = Number(values.nodes);
    if (nodes !== 1 && nodes !== 3) throw new Error('--nodes must be 1 or 3');
    const started = Date.now();
    const cluster = await KafkaCluster.start({ nodes, log, ...(values.version ? { version: values.version } : {}) });
    console.log(JSON.stringify({ version: cluster.info.kafkaVersion, bootstrap: cluster.bootstrap, startMs: Date.now() - started, pids: cluster.pids() }));
    log(`Kafka serving at ${cluster.bootstrap}; Ctrl-C stops it`);
    const stop = () => void cluster.stop().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    break;
  }
  default:
    console.error(`usage: npm run kafka -- jars [--version V] | start [--nodes 1|3] [--version V] (V: the pinned version or any of ${KNOWN_LINES})`);
    process.exit(2);
}
