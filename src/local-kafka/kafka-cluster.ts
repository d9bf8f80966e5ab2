// Starts and stops a real Apache Kafka cluster (KRaft, 1 or 3 combined broker+controller nodes) on loopback, of the
// pinned version or of another release line kafka-versions.ts knows.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureKafkaJars, KAFKA_VERSION, type KafkaJars } from './kafka-jars.js';
import { kafkaLine, type KafkaLine } from './kafka-versions.js';
import { runJavaOk } from './java-tool.js';
import { freePorts, holdPorts, waitForPort } from './ports.js';
import { checkServes } from './readiness.js';
import { clusterRoot } from './cluster-root.js';
import { killWithOwner } from './owner-watchdog.js';

export interface SaslUsers {
  /** user → password, accepted with SASL/PLAIN. */
  plain?: Record<string, string>;
  /** user → password, accepted with SASL/SCRAM-SHA-512 (credentials written at format time). */
  scramSha512?: Record<string, string>;
}

export type ListenerName = 'CLIENT' | 'SASL' | 'SSL' | 'SASL_SSL';

/**
 * An SSL listener on each broker (and a SASL_SSL one when `sasl` is set too), with PEM files the caller made: Kafka
 * reads them as `ssl.keystore.type=PEM` (key and chain in one file, written into the node's directory) and
 * `ssl.truststore.type=PEM`.
 */
export interface BrokerTls {
  /** The broker's certificate chain (PEM file): every broker uses the same; its names must be the advertised host. */
  certificate: string;
  /** Its private key (PEM file, PKCS#8, unencrypted). */
  key: string;
  /** CA certificates (PEM file) the broker trusts for client certificates. */
  ca: string;
  /** ssl.client.auth (default none). */
  clientAuth?: 'none' | 'requested' | 'required';
}

export interface ClusterOptions {
  nodes?: 1 | 3;
  /** The Kafka version (default: KAFKA_VERSION). */
  version?: string;
  /** Broker heap (-Xms = -Xmx), MB. */
  heapMb?: number;
  /** Adds a SASL_PLAINTEXT listener with these users. */
  sasl?: SaslUsers;
  /** Adds an SSL listener (and, with `sasl`, a SASL_SSL one) to each broker. */
  tls?: BrokerTls;
  /** Address a node advertises for a client listener, when it must differ from the one it binds. */
  advertise?: (nodeId: number, listener: ListenerName, bound: { host: string; port: number }) => { host: string; port: number } | undefined;
  /** Client listener ports to bind, by node id (otherwise free ports are picked). */
  clientPorts?: Record<number, number>;
  /** Extra broker properties for every node. */
  brokerConfig?: Record<string, string | number | boolean>;
  /** How long to wait for the cluster to serve, ms. */
  startTimeoutMs?: number;
  /** Open JMX (no authentication, loopback) on each broker, for reading the broker's own metrics. */
  jmx?: boolean;
  log?: (line: string) => void;
}

export interface NodeInfo {
  id: number;
  host: string;
  /** PLAINTEXT listener for clients (CLIENT). */
  port: number;
  /** SASL_PLAINTEXT listener (SASL), when enabled. */
  saslPort?: number;
  /** SSL listener (SSL), when enabled. */
  sslPort?: number;
  /** SASL_SSL listener (SASL_SSL), when both SASL and TLS are enabled. */
  saslSslPort?: number;
  /** PLAINTEXT listener between brokers (INTERNAL). */
  internalPort: number;
  controllerPort: number;
  /** JMX port, when enabled. */
  jmxPort?: number;
  logFile: string;
  dataDir: string;
}

/** Everything a test needs to use a running cluster; serialisable, so a runner can hand it to test processes. */
export interface ClusterInfo {
  /** The Kafka version the brokers run (classpath holds its jars, tools and clients included). */
  kafkaVersion: string;
  clusterId: string;
  baseDir: string;
  classpath: string;
  clientsJar: string;
  nodes: NodeInfo[];
  /** CLIENT listeners, host:port,... */
  bootstrap: string;
  /** SASL listeners, host:port,..., when enabled. */
  saslBootstrap?: string;
  sasl?: SaslUsers;
  /** SSL listeners, host:port,..., when enabled. */
  sslBootstrap?: string;
  /** SASL_SSL listeners, host:port,..., when both are enabled. */
  saslSslBootstrap?: string;
  tls?: BrokerTls;
}

const HOST = '127.0.0.1';

/** Broker logging for Kafka 4 (log4j2). */
const LOG4J2 = `status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafkaRequest.name = kafka.request.logger
logger.kafkaRequest.level = WARN
logger.stateChange.name = state.change.logger
logger.stateChange.level = WARN
`;

/** The same for Kafka 3 (log4j 1 properties, read by reload4j). */
const LOG4J1 = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
`;

/** A random Kafka Uuid in its string form (URL-safe base64, 22 chars, not starting with '-'). */
function randomKafkaUuid(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Returns the last `lines` lines of a node's log file. */
export function logTail(node: NodeInfo, lines = 60): string {
  let text: string;
  try {
    text = readFileSync(node.logFile, 'utf8');
  } catch {
    return `(no log at ${node.logFile})`;
  }
  return text.split('\n').slice(-lines - 1).join('\n');
}

/** Log tails of every node, headed by the node id. */
export function clusterLogTails(info: ClusterInfo, lines = 40): string {
  return info.nodes.map((n) => `--- broker ${n.id} log tail (${n.logFile}) ---\n${logTail(n, lines)}`).join('\n');
}

export type QuotaEntity = { user?: string | 'default'; clientId?: string | 'default' };

/**
 * Sets (or, with null, removes) Kafka's own client quotas, e.g. { producer_byte_rate: 1048576 }, through Kafka's ConfigCommand.
 * `'default'` selects the default entity (Kafka's <default>).
 */
export async function setClientQuota(
  info: ClusterInfo,
  entity: QuotaEntity,
  quotas: Record<string, number | null>,
): Promise<void> {
  const args = ['--bootstrap-server', info.bootstrap, '--alter'];
  for (const [type, name] of [['users', entity.user], ['clients', entity.clientId]] as const) {
    if (name === undefined) continue;
    args.push('--entity-type', type);
    if (name === 'default') args.push('--entity-default');
    else args.push('--entity-name', name);
  }
  const add = Object.entries(quotas).filter(([, v]) => v !== null);
  const del = Object.entries(quotas).filter(([, v]) => v === null);
  if (add.length) args.push('--add-config', add.map(([k, v]) => `${k}=${v}`).join(','));
  if (del.length) args.push('--delete-config', del.map(([k]) => k).join(','));
  await runJavaOk(kafkaLine(info.kafkaVersion).configCommand, args, { classpath: info.classpath, timeoutMs: 60_000 });
}

interface RunningNode {
  info: NodeInfo;
  configFile: string;
  log4jFile: string;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
}

/** A cluster this process owns: it started the JVMs and must stop them. */
export class KafkaCluster {
  readonly info: ClusterInfo;
  private readonly nodes: RunningNode[];
  private readonly heapMb: number;
  private readonly line: KafkaLine;
  private readonly log: (line: string) => void;
  private readonly onExit = (): void => this.killAllNow();
  private stopped = false;

  private constructor(info: ClusterInfo, nodes: RunningNode[], heapMb: number, log: (line: string) => void) {
    this.info = info;
    this.nodes = nodes;
    this.heapMb = heapMb;
    this.line = kafkaLine(info.kafkaVersion);
    this.log = log;
    process.on('exit', this.onExit);
  }

  get bootstrap(): string {
    return this.info.bootstrap;
  }

  /** Starts a cluster and resolves once a client has created a topic and produced to it. */
  static async start(opts: ClusterOptions = {}): Promise<KafkaCluster> {
    const count = opts.nodes ?? 1;
    const log = opts.log ?? (() => undefined);
    const version = opts.version ?? KAFKA_VERSION;
    const line = kafkaLine(version);
    const jars: KafkaJars = await ensureKafkaJars(log, { version });
    const baseDir = join(clusterRoot(), `kqp-kafka-${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(baseDir, { recursive: true });
    const clusterId = randomKafkaUuid();
    // ports per node: client, internal, controller, then the optional ones in this order
    const optional = [opts.sasl, opts.tls, opts.sasl && opts.tls, opts.jmx].map(Boolean);
    const perNode = 3 + optional.filter(Boolean).length;
    const ports = await freePorts(count * perNode);
    const infos: NodeInfo[] = [];
    for (let i = 0; i < count; i++) {
      const id = i + 1;
      const p = ports.slice(i * perNode, (i + 1) * perNode);
      const extra = p.slice(3);
      const [saslPort, sslPort, saslSslPort, jmxPort] = optional.map((on) => (on ? extra.shift() : undefined));
      const dir = join(baseDir, `node-${id}`);
      mkdirSync(dir, { recursive: true });
      infos.push({
        id,
        host: HOST,
        port: opts.clientPorts?.[id] ?? p[0]!,
        internalPort: p[1]!,
        controllerPort: p[2]!,
        ...(saslPort !== undefined ? { saslPort } : {}),
        ...(sslPort !== undefined ? { sslPort } : {}),
        ...(saslSslPort !== undefined ? { saslSslPort } : {}),
        ...(jmxPort !== undefined ? { jmxPort } : {}),
        logFile: join(dir, 'broker.log'),
        dataDir: join(dir, 'data'),
      });
    }
    const info: ClusterInfo = {
      kafkaVersion: version,
      clusterId,
      baseDir,
      classpath: jars.classpath,
      clientsJar: jars.clientsJar,
      nodes: infos,
      bootstrap: infos.map((n) => `${HOST}:${n.port}`).join(','),
      ...(opts.sasl
        ? { saslBootstrap: infos.map((n) => `${HOST}:${n.saslPort}`).join(','), sasl: opts.sasl }
        : {}),
      ...(opts.tls ? { sslBootstrap: infos.map((n) => `${HOST}:${n.sslPort}`).join(','), tls: opts.tls } : {}),
      ...(opts.tls && opts.sasl ? { saslSslBootstrap: infos.map((n) => `${HOST}:${n.saslSslPort}`).join(',') } : {}),
    };
    const nodes = infos.map((n) => {
      const dir = join(baseDir, `node-${n.id}`);
      const configFile = join(dir, 'server.properties');
      const log4jFile = join(dir, line.log4j === 2 ? 'log4j2.properties' : 'log4j.properties');
      if (opts.tls) writeFileSync(join(dir, 'keystore.pem'), readFileSync(opts.tls.key, 'utf8') + readFileSync(opts.tls.certificate, 'utf8'));
      writeFileSync(configFile, serverProperties(n, infos, opts, line, join(dir, 'keystore.pem')));
      writeFileSync(log4jFile, line.log4j === 2 ? LOG4J2 : LOG4J1);
      return { info: n, configFile, log4jFile, child: undefined, exited: undefined } as RunningNode;
    });

    const cluster = new KafkaCluster(info, nodes, opts.heapMb ?? 384, log);
    try {
      await Promise.all(nodes.map((n) => cluster.format(n, opts.sasl)));
      for (const n of nodes) cluster.launch(n);
      await cluster.waitServing(opts.startTimeoutMs ?? 120_000);
    } catch (err) {
      const tails = clusterLogTails(info);
      await cluster.stop();
      throw new Error(`Kafka cluster did not start: ${(err as Error).message}\n${tails}`);
    }
    return cluster;
  }

  /** Process ids of the running broker JVMs. */
  pids(): number[] {
    return this.nodes.flatMap((n) => (alive(n) && n.child!.pid !== undefined ? [n.child!.pid] : []));
  }

  node(id: number): NodeInfo {
    const n = this.nodes.find((x) => x.info.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n.info;
  }

  logTails(lines = 40): string {
    return clusterLogTails(this.info, lines);
  }

  /** Sends a signal to one node's JVM and waits until it has exited (its ports held for a restart meanwhile). */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.nodes.find((x) => x.info.id === id);
    if (!n?.child) return;
    n.child.kill(signal);
    await n.exited;
    holdPorts(portsOf(n.info));
  }

  /** Starts a node that was killed again, with the same ports and data, and waits for its client port. */
  async restart(id: number): Promise<void> {
    const n = this.nodes.find((x) => x.info.id === id);
    if (!n) throw new Error(`no node ${id}`);
    if (alive(n)) throw new Error(`node ${id} is running`);
    holdPorts(portsOf(n.info));
    this.launch(n);
    await waitForPort(HOST, n.info.port, 60_000);
  }

  /** Stops every JVM: SIGTERM (controlled shutdown), then SIGKILL after graceMs. Removes the data unless keepFiles. */
  async stop(opts: { graceMs?: number; keepFiles?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const grace = opts.graceMs ?? 15_000;
    await Promise.all(
      this.nodes.map(async (n) => {
        if (!alive(n)) return;
        n.child!.kill('SIGTERM');
        const timer = setTimeout(() => n.child?.kill('SIGKILL'), grace);
        await n.exited;
        clearTimeout(timer);
      }),
    );
    process.removeListener('exit', this.onExit);
    if (!opts.keepFiles && !process.env.KQP_KEEP_KAFKA_FILES) rmSync(this.info.baseDir, { recursive: true, force: true });
  }

  private killAllNow(): void {
    for (const n of this.nodes) if (alive(n)) n.child!.kill('SIGKILL');
  }

  private async format(n: RunningNode, sasl: SaslUsers | undefined): Promise<void> {
    const args = ['format', '-t', this.info.clusterId, '-c', n.configFile, '--ignore-formatted'];
    for (const [user, password] of Object.entries(sasl?.scramSha512 ?? {})) {
      args.push('--add-scram', `SCRAM-SHA-512=[name=${user},password=${password}]`);
    }
    await runJavaOk('kafka.tools.StorageTool', args, { classpath: this.info.classpath, timeoutMs: 60_000, heapMb: 128 });
  }

  private launch(n: RunningNode): void {
    const fd = openSync(n.info.logFile, 'a');
    const child = spawn(
      'java',
      [
        `-Xms${this.heapMb}m`,
        `-Xmx${this.heapMb}m`,
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-XX:+ExitOnOutOfMemoryError',
        '-Djava.awt.headless=true',
        this.line.log4j === 2 ? `-Dlog4j2.configurationFile=${n.log4jFile}` : `-Dlog4j.configuration=file:${n.log4jFile}`,
        ...(n.info.jmxPort !== undefined
          ? [
              '-Dcom.sun.management.jmxremote',
              '-Dcom.sun.management.jmxremote.authenticate=false',
              '-Dcom.sun.management.jmxremote.ssl=false',
              `-Dcom.sun.management.jmxremote.port=${n.info.jmxPort}`,
              `-Dcom.sun.management.jmxremote.rmi.port=${n.info.jmxPort}`,
              '-Djava.rmi.server.hostname=127.0.0.1',
              '-Dcom.sun.management.jmxremote.host=127.0.0.1',
            ]
          : []),
        '-cp',
        this.info.classpath,
        'kafka.Kafka',
        n.configFile,
      ],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    n.child = child;
    n.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    if (child.pid !== undefined) killWithOwner(child.pid);
    this.log(`Kafka ${this.info.kafkaVersion} broker ${n.info.id} started, pid ${child.pid}, client port ${n.info.port}, log ${n.info.logFile}`);
  }

  private async waitServing(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const n of this.nodes) {
      await waitForPort(HOST, n.info.port, deadline - Date.now(), () => {
        if (!alive(n)) throw new Error(`broker ${n.info.id} exited with ${n.child?.exitCode ?? n.child?.signalCode}`);
      });
    }
    let lastError: unknown;
    while (Date.now() < deadline) {
      for (const n of this.nodes) {
        if (!alive(n)) throw new Error(`broker ${n.info.id} exited with ${n.child?.exitCode ?? n.child?.signalCode}`);
      }
      try {
        await checkServes(this.info.bootstrap, Math.min(3, this.nodes.length));
        return;
      } catch (err) {
        lastError = err;
        await sleep(500);
      }
    }
    throw new Error(`not serving after ${timeoutMs} ms: ${(lastError as Error | undefined)?.message}`);
  }
}

/** Every port a node listens on. */
function portsOf(n: NodeInfo): number[] {
  return [n.port, n.saslPort, n.sslPort, n.saslSslPort, n.internalPort, n.controllerPort, n.jmxPort].filter((p): p is number => p !== undefined);
}

function alive(n: RunningNode): boolean {
  return n.child !== undefined && n.child.exitCode === null && n.child.signalCode === null;
}

function serverProperties(n: NodeInfo, all: NodeInfo[], opts: ClusterOptions, line: KafkaLine, keystore: string): string {
  const count = all.length;
  const bound = (port: number) => ({ host: HOST, port });
  const adv = (listener: ListenerName, port: number) => {
    const a = opts.advertise?.(n.id, listener, bound(port)) ?? bound(port);
    return `${listener}://${a.host}:${a.port}`;
  };
  const listeners = [`INTERNAL://${HOST}:${n.internalPort}`, `CLIENT://${HOST}:${n.port}`, `CONTROLLER://${HOST}:${n.controllerPort}`];
  const advertised = [`INTERNAL://${HOST}:${n.internalPort}`, adv('CLIENT', n.port)];
  const protocols = ['INTERNAL:PLAINTEXT', 'CLIENT:PLAINTEXT', 'CONTROLLER:PLAINTEXT'];
  if (n.saslPort !== undefined) {
    listeners.push(`SASL://${HOST}:${n.saslPort}`);
    advertised.push(adv('SASL', n.saslPort));
    protocols.push('SASL:SASL_PLAINTEXT');
  }
  for (const [name, port] of [['SSL', n.sslPort], ['SASL_SSL', n.saslSslPort]] as const) {
    if (port === undefined) continue;
    listeners.push(`${name}://${HOST}:${port}`);
    advertised.push(adv(name, port));
    protocols.push(`${name}:${name}`);
  }
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': n.id,
    'controller.quorum.voters': all.map((x) => `${x.id}@${HOST}:${x.controllerPort}`).join(','),
    listeners: listeners.join(','),
    'advertised.listeners': advertised.join(','),
    'listener.security.protocol.map': protocols.join(','),
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'INTERNAL',
    'log.dirs': n.dataDir,
    'num.network.threads': 2,
    'num.io.threads': 4,
    'background.threads': 2,
    'num.recovery.threads.per.data.dir': 1,
    'num.partitions': 1,
    'offsets.topic.num.partitions': 10,
    'offsets.topic.replication.factor': Math.min(3, count),
    'transaction.state.log.num.partitions': 10,
    'transaction.state.log.replication.factor': Math.min(3, count),
    'transaction.state.log.min.isr': Math.min(2, count),
    'group.initial.rebalance.delay.ms': 0,
    'log.cleaner.threads': 1,
    'log.cleaner.dedupe.buffer.size': 8 * 1024 * 1024,
    ...line.brokerConfig,
  };
  if (line.shareGroups) {
    props['share.coordinator.state.topic.num.partitions'] = 5;
    props['share.coordinator.state.topic.replication.factor'] = Math.min(3, count);
    props['share.coordinator.state.topic.min.isr'] = Math.min(2, count);
  }
  if (opts.sasl) {
    props['sasl.enabled.mechanisms'] = 'PLAIN,SCRAM-SHA-512';
    const plainUsers = Object.entries(opts.sasl.plain ?? {})
      .map(([u, p]) => `user_${u}="${p}"`)
      .join(' ');
    for (const listener of n.saslSslPort !== undefined ? ['sasl', 'sasl_ssl'] : ['sasl']) {
      props[`listener.name.${listener}.plain.sasl.jaas.config`] = `org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`;
      props[`listener.name.${listener}.scram-sha-512.sasl.jaas.config`] = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
    }
  }
  if (opts.tls) {
    props['ssl.keystore.type'] = 'PEM';
    props['ssl.keystore.location'] = keystore;
    props['ssl.truststore.type'] = 'PEM';
    props['ssl.truststore.location'] = opts.tls.ca;
    props['ssl.client.auth'] = opts.tls.clientAuth ?? 'none';
  }
  Object.assign(props, opts.brokerConfig ?? {});
  return Object.entries(props)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')
    .concat('\n');
}
