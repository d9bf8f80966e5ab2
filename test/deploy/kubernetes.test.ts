// The Kubernetes example (deploy/kubernetes/): its manifests parse; they run the image this repo's Dockerfile builds,
// on the ports it exposes and the ConfigMap's config listens on, and Kafka at the version the tests run; that config
// is valid; the broker is reachable only through the proxy, which advertises the pod's own name; the probes ask the
// metrics port for endpoints a proxy started with that config serves; the grace period outlasts the proxy's; the
// memory request covers the RSS the benches measured; and a ConfigMap update, laid out as the kubelet lays it out,
// is reloaded by the config's reload.watch, without a signal.
import t from 'tap';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { configFromObject, type ProxyConfig } from '../../src/config/load-config.js';
import { ConfigReloader } from '../../src/config/config-reloader.js';
import { KAFKA_VERSION } from '../../src/local-kafka/kafka-jars.js';
import { containerArgv, imageConfig, parseDockerfile } from '../docker/dockerfile-parser.js';
import { IMAGE_USERS } from '../docker/stage-runner.js';
import { FakeBroker, proxyBefore } from '../support/fake-broker.js';

interface Probe { httpGet?: { path: string; port: number | string } }
interface Container {
  name: string;
  lifecycle?: { preStop?: { exec?: { command?: string[] } } };
  image: string;
  env?: { name: string; value?: unknown }[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { runAsUser?: number; runAsNonRoot?: boolean };
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string } }[];
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: {
    clusterIP?: string;
    ports?: { name: string; port: number; targetPort: number | string }[];
    serviceName?: string;
    replicas?: number;
    template?: { spec: PodSpec };
  };
}

const DIR = 'deploy/kubernetes';
const documents = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).flatMap((file) =>
  parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => ({ file, doc })));
const manifests = documents.map(({ doc }) => doc.toJS() as Manifest);
const only = (kind: string): Manifest => {
  const found = manifests.filter((m) => m.kind === kind);
  if (found.length !== 1) throw new Error(`${DIR}: ${found.length} ${kind}s, expected one`);
  return found[0]!;
};
const [configMap, service, statefulSet] = [only('ConfigMap'), only('Service'), only('StatefulSet')];
const pod = statefulSet.spec!.template!.spec;

const dockerfile = readFileSync('Dockerfile', 'utf8');
const runtime = imageConfig(parseDockerfile(dockerfile).at(-1)!);
/** The tag the Dockerfile's header builds the image with (`docker build -t NAME .`). */
const builtName = /docker build -t (\S+) \./.exec(dockerfile)![1]!;
const argv = containerArgv(runtime);
const configPath = argv[argv.indexOf('--config') + 1]!;

const proxy = pod.containers.find((c) => c.image.split(':')[0] === builtName);
const broker = pod.containers.find((c) => c !== proxy);
if (!proxy || !broker) throw new Error(`${DIR}: expected a proxy container (image ${builtName}) and a broker container`);
const rawConfig = parseYaml(configMap.data?.[basename(configPath)] ?? '') as Record<string, unknown>;
const config = (): ProxyConfig => configFromObject(rawConfig);
const env = (c: Container, name: string): string => String(c.env?.find((e) => e.name === name)?.value);
/** A container port by number or by name, as Kubernetes resolves a probe's or a Service's port. */
const portOf = (c: Container, port: number | string): number | undefined =>
  typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort;

t.test('the manifests parse: a ConfigMap, a headless Service and a StatefulSet', async (t) => {
  for (const { file, doc } of documents) t.same(doc.errors.map((e) => e.message), [], `${file} parses`);
  for (const m of manifests) t.ok(m.apiVersion && m.kind && m.metadata?.name, `${m.kind} ${m.metadata?.name} has apiVersion, kind and name`);
  t.same(manifests.map((m) => m.kind).sort(), ['ConfigMap', 'Service', 'StatefulSet']);
  for (const c of pod.containers) {
    const notStrings = (c.env ?? []).filter((e) => typeof e.value !== 'string').map((e) => e.name);
    t.same(notStrings, [], `${c.name}: every env value is a string (the API server refuses numbers)`);
  }
});

t.test('the containers: the image this repo builds, as its user, and Kafka at the version the tests run', async (t) => {
  t.same(pod.containers.map((c) => c.image).sort(), [`apache/kafka:${KAFKA_VERSION}`, `${builtName}:latest`].sort());
  t.equal(proxy.securityContext?.runAsUser, IMAGE_USERS[runtime.user]?.uid, `the proxy runs as the image's user (${runtime.user})`);
  const mount = proxy.volumeMounts?.find((m) => m.mountPath === dirname(configPath));
  t.ok(mount, `the config is mounted where the image's CMD reads it (${configPath})`);
  t.notOk(mount?.subPath, 'as a directory: a subPath mount never sees a ConfigMap update');
  t.equal(pod.volumes?.find((v) => v.name === mount?.name)?.configMap?.name, configMap.metadata.name, 'from the ConfigMap');
});

t.test("the ConfigMap's config is valid and reloads by itself", async (t) => {
  t.doesNotThrow(config, 'configFromObject accepts it');
  t.equal(config().reload.watch, true, 'reload.watch');
});

t.test('ports: the proxy exposes what the image exposes and the config listens on; the broker only loopback', async (t) => {
  const c = config();
  const ports = (proxy.ports ?? []).map((p) => p.containerPort).sort();
  t.same(ports, [...runtime.exposed].sort(), "the proxy container's ports are the Dockerfile's EXPOSE");
  t.same(ports, [c.listen.port, c.metrics.port].sort(), "and the config's listen and metrics ports");
  t.same([c.listen.host, c.metrics.host], ['0.0.0.0', '0.0.0.0'], 'both bind every interface (clients, kubelet and Prometheus come from outside the pod)');
  for (const p of service.spec?.ports ?? []) {
    t.ok(ports.includes(portOf(proxy, p.targetPort) ?? -1), `Service port ${p.name} targets a proxy port`);
  }
  t.same(broker.ports ?? [], [], 'the broker container declares no port');
  const listeners = env(broker, 'KAFKA_LISTENERS').split(',').map((l) => new URL(l.replace(/^[A-Z_]+:/, 'kafka:')));
  t.ok(listeners.length > 0 && listeners.every((l) => l.hostname === '127.0.0.1'), `every broker listener binds loopback: ${env(broker, 'KAFKA_LISTENERS')}`);
  t.ok(listeners.some((l) => l.hostname === c.upstream.host && Number(l.port) === c.upstream.port), "the config's upstream is one of them");
});

t.test("the proxy advertises the pod's own name, through the headless Service", async (t) => {
  const c = config();
  t.equal(statefulSet.spec?.replicas, 1, 'one node: the broker settings are written for pod 0');
  const nodeId = env(broker, 'KAFKA_NODE_ID');
  t.match(env(broker, 'KAFKA_CONTROLLER_QUORUM_VOTERS'), new RegExp(`^${nodeId}@127\\.0\\.0\\.1:`), 'the node is its own controller, on loopback');
  t.equal(service.spec?.clusterIP, 'None', 'headless: each pod has a DNS name');
  t.equal(statefulSet.spec?.serviceName, service.metadata.name);
  if (c.advertise.mode !== 'pattern') return t.fail(`advertise.mode is ${c.advertise.mode}, expected pattern`);
  const [host, port] = c.advertise.pattern.replaceAll('{nodeId}', nodeId).split(':');
  t.match(host, new RegExp(`^${statefulSet.metadata.name}-0\\.${service.metadata.name}\\.[a-z0-9-]+\\.svc\\.`), `node ${nodeId} is advertised as pod 0's name`);
  const clientPort = service.spec?.ports?.find((p) => portOf(proxy, p.targetPort) === c.listen.port)?.port;
  t.equal(Number(port), clientPort, "at the Service's port for the proxy's listen port");
});

t.test('the probes ask the metrics port for /healthz and /readyz, which a proxy with this config serves', async (t) => {
  const metricsPort = config().metrics.port;
  const probes = { liveness: proxy.livenessProbe?.httpGet, readiness: proxy.readinessProbe?.httpGet };
  t.same([probes.liveness?.path, probes.readiness?.path], ['/healthz', '/readyz']);
  for (const [kind, probe] of Object.entries(probes)) t.equal(probe && portOf(proxy, probe.port), metricsPort, `the ${kind} probe asks the metrics port`);

  // the ConfigMap's config, on free loopback ports, in front of a broker that never answers
  const fake = new FakeBroker(() => undefined);
  const { proxy: running } = await proxyBefore(fake, rawConfig);
  t.teardown(async () => {
    await running.stop();
    await fake.close();
  });
  const { host, port } = running.metricsAddress();
  const status = async (path: string) => (await fetch(`http://${host}:${port}${path}`)).status;
  t.equal(await status(probes.liveness!.path), 200, 'the liveness path answers 200');
  t.ok([200, 503].includes(await status(probes.readiness!.path)), 'the readiness path answers 200 or 503 (not 404)');
});

t.test("the pod's grace period outlasts the proxy's shutdown grace, and the broker serves the proxy's drain", async (t) => {
  const graceSeconds = pod.terminationGracePeriodSeconds ?? 30; // Kubernetes' default
  const drainMs = config().limits.shutdownGraceMs;
  t.ok(graceSeconds * 1000 > drainMs, `${graceSeconds} s > limits.shutdownGraceMs ${drainMs} ms`);
  // the kubelet sends SIGTERM to both containers at once: the broker's preStop holds its shutdown while the proxy drains
  const broker = pod.containers.find((c) => c.name !== proxy.name)!;
  const [cmd, seconds] = broker.lifecycle?.preStop?.exec?.command ?? [];
  t.equal(cmd, 'sleep', `the broker container (${broker.name}) sleeps in its preStop`);
  t.ok(Number(seconds) * 1000 >= drainMs + 2000, `${seconds} s: the proxy's drain (${drainMs} ms) and its clients' ends (2 s)`);
  t.ok(graceSeconds - Number(seconds) >= 10, `and leaves the broker's controlled shutdown ${graceSeconds - Number(seconds)} s of the grace period`);
});

t.test("the proxy's memory request covers the largest RSS bench/RESULTS.md reports", async (t) => {
  const rssMiB = [...readFileSync('bench/RESULTS.md', 'utf8').matchAll(/"rss\w*MB":(\d+(?:\.\d+)?)/g)].map((m) => Number(m[1]));
  t.ok(rssMiB.length > 0, `${rssMiB.length} RSS figures (largest ${Math.max(...rssMiB)} MiB)`);
  const mebibytes = (q: string | undefined) => {
    const m = /^(\d+)(Mi|Gi)$/.exec(q ?? '');
    return m ? Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1) : NaN;
  };
  const { requests, limits } = proxy.resources ?? {};
  t.ok(mebibytes(requests?.memory) >= Math.max(...rssMiB), `memory request ${requests?.memory}`);
  t.ok(mebibytes(limits?.memory) > mebibytes(requests?.memory), `memory limit ${limits?.memory} above the request`);
  t.ok(requests?.cpu, `cpu request ${requests?.cpu}`);
});

t.test('a ConfigMap update, laid out as the kubelet lays it out, is reloaded by the watch', async (t) => {
  // The kubelet's volume: proxy.yaml -> ..data/proxy.yaml, ..data -> a timestamped directory. An update writes a new
  // directory, points ..data_tmp at it, renames ..data_tmp over ..data and removes the old directory.
  const dir = mkdtempSync(join(tmpdir(), 'kqp-configmap-'));
  const name = basename(configPath);
  const write = (version: string, raw: Record<string, unknown>) => {
    mkdirSync(join(dir, version));
    writeFileSync(join(dir, version, name), stringify(raw));
  };
  const quiet = { ...rawConfig, logLevel: 'silent' }; // the reload would apply the file's level to the test's output
  write('..v1', quiet);
  symlinkSync('..v1', join(dir, '..data'));
  symlinkSync(`..data/${name}`, join(dir, name));

  const fake = new FakeBroker(() => undefined);
  const { proxy: running } = await proxyBefore(fake, quiet);
  const reloader = new ConfigReloader(join(dir, name), running);
  reloader.start();
  t.teardown(async () => {
    reloader.stop();
    await running.stop();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const updated = { ...quiet, quotas: [{ clientId: '<default>', produceBytesPerSec: 4096 }] };
  write('..v2', updated);
  symlinkSync('..v2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  rmSync(join(dir, '..v1'), { recursive: true });
  const swapped = Date.now();

  // waited for as long as test/config/config-reloader.test.ts's FOLLOW_MS (it measured 2,161 ms at load average ~20)
  const expected = configFromObject(updated).quotas;
  while (Date.now() - swapped < 10_000 && JSON.stringify(running.config.quotas) !== JSON.stringify(expected)) await sleep(50);
  const ms = Date.now() - swapped;
  t.same(running.config.quotas, expected, `the updated ConfigMap's quotas are in force ${ms} ms after the kubelet's swap, without a signal`);
});
