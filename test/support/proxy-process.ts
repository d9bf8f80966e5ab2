// The proxy as a child process (its memory and CPU are its own), run from the sources with tsx (or, for benches, the
// build as deployed), configured by an object that is written out as its YAML file. Under tsx it runs with node's
// --expose-gc, so that /debug/heap reports memory after a full collection, optionally under a fixed heap
// (--max-old-space-size), and logs at info level to a file under .tap/proxy-logs/ that `npm test` prints the tail of
// when the test that started it fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import { freePorts } from '../../src/local-kafka/ports.js';
import { killWithOwner } from '../../src/local-kafka/owner-watchdog.js';
import type { NodeInfo } from '../../src/local-kafka/kafka-cluster.js';

/**
 * The fixed heap the memory tests give the proxy: the smallest old space in which the idle proxy (under tsx) starts
 * and serves is 20 MB (measured: with 16 MB it aborts during start-up, "JavaScript heap out of memory"; its heap in
 * use after a full collection is 17 MB), plus a 12 MB margin, which is 6× what a full 10,000-slot quota table's key
 * index adds (2.0 MB, test/quota/churn.serial.test.ts). A proxy that kept anything per tenant ever seen, per byte over
 * quota or per byte waiting would run out of it and die, which these tests would see.
 */
export const PROXY_HEAP_MB = 32;

/** Where proxy processes log: one file per proxy, named after the test file that started it. */
export const PROXY_LOG_DIR = '.tap/proxy-logs';

/** Memory after a full garbage collection (GET /debug/heap), in bytes. */
export interface HeapStats {
  heapUsed: number;
  heapTotal: number;
  heapLimit: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

export interface ProxyProcess {
  port: number;
  metricsPort: number;
  pid: number;
  child: ChildProcess;
  bootstrap: string;
  /** The config file it runs with (rewrite it and send SIGHUP to reload). */
  configFile: string;
  logFile: string;
  rssMB(): number;
  /** Null while it runs; how it ended otherwise (a proxy that ran out of heap ends with SIGABRT). */
  exited(): string | null;
  heap(): Promise<HeapStats>;
  metrics(): Promise<string>;
  /** Sum of the samples of a metric whose line starts with `prefix` (name and, optionally, labels). */
  metric(prefix: string): Promise<number>;
  quota(user: string, clientId: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** How the image runs the proxy after `node` (the Dockerfile's ENTRYPOINT; test/docker/dockerfile.test.ts checks it). */
export const DEPLOYED_NODE_ARGS = ['--single-threaded-gc', 'dist/cli.js'];

export interface ProxyProcessOptions {
  /** Maps this node id to the proxy itself in advertised addresses. */
  advertiseSelf?: number;
  port?: number;
  /** Runs it with --max-old-space-size=heapMB. */
  heapMB?: number;
  /** listen.tls: the proxy listens with TLS. */
  listenTls?: Record<string, unknown>;
  /**
   * Runs the build (dist/cli.js; the caller builds it first) with the node flags of the Dockerfile's ENTRYPOINT, as
   * deployed, instead of the sources under tsx: for benches whose latency figures include the proxy's own pauses.
   * Without --expose-gc it serves no /debug/heap (heap() fails).
   */
  compiled?: boolean;
}

/**
 * Starts the proxy (src/cli.ts, or dist/cli.js when `compiled`) with `config` (listen and metrics are filled in; its
 * logLevel, info unless given, must let info through: the start is seen in the log); resolves once it has started.
 */
export async function startProxyProcess(config: Record<string, unknown>, o: ProxyProcessOptions = {}): Promise<ProxyProcess> {
  if (config.logLevel !== undefined && !['info', 'debug', 'trace'].includes(config.logLevel as string)) {
    throw new Error(`startProxyProcess: logLevel ${String(config.logLevel)} would hide the "proxy started" line it waits for`);
  }
  const [freePort, metricsPort] = await freePorts(2);
  const port = o.port ?? freePort;
  const dir = mkdtempSync(join(tmpdir(), 'kqp-proxy-'));
  const full = {
    listen: o.listenTls ? { address: `127.0.0.1:${port}`, tls: o.listenTls } : `127.0.0.1:${port}`,
    metrics: `127.0.0.1:${metricsPort}`,
    logLevel: 'info',
    ...(o.advertiseSelf !== undefined ? { advertise: { mode: 'map', map: { [String(o.advertiseSelf)]: `127.0.0.1:${port}` } } } : {}),
    ...config,
  };
  writeFileSync(join(dir, 'proxy.yaml'), stringify(full));
  mkdirSync(PROXY_LOG_DIR, { recursive: true });
  const logFile = join(PROXY_LOG_DIR, `${basename(process.argv[1] ?? 'proxy')}-${port}.log`);
  const log = createWriteStream(logFile);
  const heap = o.heapMB !== undefined ? [`--max-old-space-size=${o.heapMB}`] : [];
  const program = o.compiled ? [...heap, ...DEPLOYED_NODE_ARGS] : ['--expose-gc', ...heap, '--import', 'tsx', 'src/cli.ts'];
  const child = spawn(process.execPath, [...program, '--config', join(dir, 'proxy.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let exit: string | null = null;
  child.once('exit', (code, signal) => {
    exit = signal ? `killed by ${signal}` : `exit code ${code}`;
  });
  killWithOwner(child.pid!);
  // started: its "proxy started" line (logged once it listens and its metrics port serves), not merely something
  // accepting connections at its port
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => fail(new Error(`proxy not started within 60 s; its log: ${logFile}`)), 60_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      // the line may arrive in pieces: what came before is kept (its last 4 KB, more than any one line)
      seen += chunk.toString();
      if (!seen.includes('"msg":"proxy started"')) {
        seen = seen.slice(-4096);
        return;
      }
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      resolve();
    };
    const onExit = () => fail(new Error(`proxy exited (${exit}) before it started; its log: ${logFile}`));
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
  const base = `http://127.0.0.1:${metricsPort}`;
  const metrics = async () => (await fetch(`${base}/metrics`)).text();
  return {
    port: port!,
    metricsPort: metricsPort!,
    pid: child.pid!,
    child,
    bootstrap: `127.0.0.1:${port}`,
    configFile: join(dir, 'proxy.yaml'),
    logFile,
    rssMB: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
    exited: () => exit,
    heap: async () => (await (await fetch(`${base}/debug/heap`)).json()) as HeapStats,
    metrics,
    metric: async (prefix) =>
      (await metrics()).split('\n').filter((l) => l.startsWith(prefix)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0),
    quota: async (user, clientId) =>
      (await (await fetch(`${base}/quota?user=${encodeURIComponent(user)}&clientId=${encodeURIComponent(clientId)}`)).json()) as Record<string, unknown>,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      log.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One proxy process per broker (sidecars), each rewriting every broker's address to its sidecar, so that clients
 * never learn a broker's own address. `listener` picks the broker port they relay to (over TLS with `upstreamTls`; the
 * sidecars' own login there with `upstreamSasl`).
 */
export async function startSidecarProcesses(
  nodes: readonly NodeInfo[],
  config: Record<string, unknown>,
  listener: 'port' | 'saslPort' | 'sslPort' | 'saslSslPort' = 'port',
  o: Pick<ProxyProcessOptions, 'heapMB' | 'listenTls' | 'compiled'> & { upstreamTls?: Record<string, unknown>; upstreamSasl?: Record<string, unknown> } = {},
): Promise<ProxyProcess[]> {
  const ports = await freePorts(nodes.length);
  const map = Object.fromEntries(nodes.map((n, i) => [String(n.id), `127.0.0.1:${ports[i]}`]));
  return Promise.all(
    nodes.map((n, i) =>
      startProxyProcess({
        upstream: o.upstreamTls || o.upstreamSasl
          ? { address: `${n.host}:${n[listener]}`, ...(o.upstreamTls ? { tls: o.upstreamTls } : {}), ...(o.upstreamSasl ? { sasl: o.upstreamSasl } : {}) }
          : `${n.host}:${n[listener]}`,
        advertise: { mode: 'map', map }, ...config,
      }, { port: ports[i]!, ...o }),
    ),
  );
}

/** MB, for reports. */
export const mb = (bytes: number) => (bytes / 1048576).toFixed(1);
