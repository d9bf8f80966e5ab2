// Child process for the harness tests: starts a 1-node cluster whose CLIENT listener binds 127.0.0.1:<argv[2]> and
// advertises 127.0.0.1:<argv[3]>, prints its info as one JSON line, then waits to be killed.
import { KafkaCluster } from '../../src/local-kafka/kafka-cluster.js';

const [boundPort, advertisedPort] = process.argv.slice(2).map(Number);
const cluster = await KafkaCluster.start({
  nodes: 1,
  clientPorts: { 1: boundPort! },
  advertise: (_id, listener, bound) => (listener === 'CLIENT' ? { host: bound.host, port: advertisedPort! } : undefined),
});
console.log(JSON.stringify({ info: cluster.info, pids: cluster.pids() }));
setInterval(() => undefined, 60_000);
