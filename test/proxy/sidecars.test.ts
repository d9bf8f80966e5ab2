// Three brokers that advertise their own addresses, three sidecars. A client given one sidecar's address produces,
// consumes in a group and runs admin calls, and the operating system shows it never connected to a broker.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { startSidecars } from '../support/sidecars.js';
import { watchRemotePorts } from '../support/os-sockets.js';
import { kcatConsume, kcatProduce, runKcat } from '../support/kcat.js';
import { verifiableConsumer, verifiableProducer } from '../support/java-clients.js';
import { runJavaOk } from '../../src/local-kafka/java-tool.js';

const cluster = sharedCluster();
const sidecars = await startSidecars(cluster);
t.teardown(() => sidecars.stop());
const first = sidecars.bootstrap.split(',')[0]!;
const sidecarPorts = new Set(sidecars.addresses.map((a) => a.port));
const brokerPorts = new Set(cluster.nodes.flatMap((n) => [n.port, n.internalPort, n.controllerPort, n.saslPort ?? -1]));

/** Asserts the process only ever connected to sidecars, and to more than the one it was given. */
function onlySidecars(t: Test, ports: Set<number>, who: string): void {
  const toBrokers = [...ports].filter((p) => brokerPorts.has(p));
  const toSidecars = [...ports].filter((p) => sidecarPorts.has(p));
  t.same(toBrokers, [], `${who} never connected to a broker`);
  t.same([...ports].filter((p) => !sidecarPorts.has(p)), [], `${who} connected to nothing but sidecars`);
  t.ok(toSidecars.length >= 2, `${who} followed rewritten addresses to ${toSidecars.length} sidecars`);
}

t.test('kafkajs: create topic, idempotent produce, group consume, configs, describe cluster, delete', async (t) => {
  const topic = uniqueName('sidecar-kafkajs');
  const child = spawn(process.execPath, [...process.execArgv, 'test/support/kafkajs-workload.ts', first, topic, '2000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const watch = watchRemotePorts(child.pid!);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ports = watch.stop();
  t.equal(code, 0, 'the workload succeeded');
  const result = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
  // every record consumed; a group consumer may deliver some again after a rebalance (at-least-once)
  t.match(result, { produced: 2000, distinct: 2000, retention: '7200000', deleted: true });
  t.ok((result.consumed as number) >= 2000, `${result.consumed as number} deliveries of the 2000 records`);
  t.same((result.brokers as string[]).sort(), sidecars.addresses.map((a) => `127.0.0.1:${a.port}`).sort(), 'describeCluster shows the sidecars');
  onlySidecars(t, ports, 'kafkajs');
});

t.test('kcat: metadata, produce and consume', async (t) => {
  const topic = uniqueName('sidecar-kcat');
  const pids: number[] = [];
  const watches: ReturnType<typeof watchRemotePorts>[] = [];
  const track = (pid: number) => {
    pids.push(pid);
    watches.push(watchRemotePorts(pid, 20));
  };
  await runKcat(['-b', first, '-C', '-t', topic, '-e', '-q'], undefined, 30_000).catch(() => undefined); // auto-creates the topic
  const metadata = await runKcat(['-L', '-b', first], undefined, 30_000, track);
  for (const a of sidecars.addresses) t.match(metadata.stdout, `at 127.0.0.1:${a.port}`, `metadata lists sidecar ${a.port}`);
  for (const n of cluster.nodes) t.notMatch(metadata.stdout, `:${n.port} `, `and not broker ${n.id}`);
  const values = Array.from({ length: 1000 }, (_, i) => `k${i}`);
  await kcatProduce(first, topic, values, undefined, track);
  t.same((await kcatConsume(first, topic, undefined, track)).sort(), values.sort(), 'consumed what it produced');
  const ports = new Set(watches.flatMap((w) => [...w.stop()]));
  t.equal(pids.length, 3);
  t.same([...ports].filter((p) => brokerPorts.has(p)), [], 'kcat never connected to a broker');
  t.same([...ports].filter((p) => !sidecarPorts.has(p)), [], 'kcat connected to nothing but sidecars');
});

t.test('Java client: admin, VerifiableProducer and a VerifiableConsumer group', async (t) => {
  const topic = uniqueName('sidecar-java');
  const watches: ReturnType<typeof watchRemotePorts>[] = [];
  const onSpawn = (pid: number) => void watches.push(watchRemotePorts(pid, 20));
  await runJavaOk('org.apache.kafka.tools.TopicCommand',
    ['--bootstrap-server', first, '--create', '--topic', topic, '--partitions', '3', '--replication-factor', '3'],
    { classpath: cluster.classpath, onSpawn });
  const produced = await verifiableProducer(cluster.classpath, { bootstrap: first, topic, maxMessages: 3000, onSpawn });
  t.equal(produced.acked.length, 3000, 'all acknowledged');
  const consumed = await verifiableConsumer(cluster.classpath, { bootstrap: first, topic, groupId: `${topic}-g`, maxMessages: 3000, onSpawn });
  t.same(consumed.map((r) => r.value).sort(), produced.acked.map((a) => a.value).sort(), 'every acknowledged record consumed');
  await runJavaOk('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', first, '--delete', '--topic', topic], { classpath: cluster.classpath, onSpawn });
  const ports = new Set(watches.flatMap((w) => [...w.stop()]));
  t.same([...ports].filter((p) => brokerPorts.has(p)), [], 'the Java clients never connected to a broker');
  t.same([...ports].filter((p) => !sidecarPorts.has(p)), [], 'they connected to nothing but sidecars');
  t.ok([...ports].filter((p) => sidecarPorts.has(p)).length >= 2, 'and reached several sidecars');
});
