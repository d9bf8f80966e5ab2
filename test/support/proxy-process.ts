// The proxy as a child process (its RSS and CPU are its own), run from the sources with tsx, configured by an object
// that is written out as its YAML file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePorts, waitForPort } from '../../src/local-kafka/ports.js';
import { killWithOwner } from '../../src/local-kafka/owner-watchdog.js';
import type { NodeInfo } from '../../src/local-kafka/kafka-cluster.js';

export interface ProxyProcess {
  port: number;
  metricsPort: number;
  pid: number;
  child: ChildProcess;
  bootstrap: string;
  rssMB(): number;
  metrics(): Promise<string>;
  /** Sum of the samples of a metric whose line starts with `prefix` (name and, optionally, labels). */
  metric(prefix: string): Promise<number>;
  quota(user: string, clientId: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Starts `src/cli.ts` with `config` (listen and metrics are filled in); `advertiseSelf` maps `nodeId` to it. */
export async function startProxyProcess(
  config: Record<string, unknown>,
  o: { advertiseSelf?: number; port?: number } = {},
): Promise<ProxyProcess> {
  const [freePort, metricsPort] = await freePorts(2);
  const port = o.port ?? freePort;
  const dir = mkdtempSync(join(tmpdir(), 'kqp-proxy-'));
  const full = {
    listen: `127.0.0.1:${port}`,
    metrics: `127.0.0.1:${metricsPort}`,
    logLevel: 'warn',
    ...(o.advertiseSelf !== undefined ? { advertise: { mode: 'map', map: { [String(o.advertiseSelf)]: `127.0.0.1:${port}` } } } : {}),
    ...config,
  };
  writeFileSync(join(dir, 'proxy.yaml'), stringify(full));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--config', join(dir, 'proxy.yaml')], { stdio: ['ignore', 'inherit', 'inherit'] });
  killWithOwner(child.pid!);
  await waitForPort('127.0.0.1', port!, 30_000, () => {
    if (child.exitCode !== null) throw new Error(`proxy exited with ${child.exitCode}`);
  });
  const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return {
    port: port!,
    metricsPort: metricsPort!,
    pid: child.pid!,
    child,
    bootstrap: `127.0.0.1:${port}`,
    rssMB: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
    metrics,
    metric: async (prefix) =>
      (await metrics()).split('\n').filter((l) => l.startsWith(prefix)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0),
    quota: async (user, clientId) =>
      (await (await fetch(`http://127.0.0.1:${metricsPort}/quota?user=${encodeURIComponent(user)}&clientId=${encodeURIComponent(clientId)}`)).json()) as Record<string, unknown>,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One proxy process per broker (sidecars), each rewriting every broker's address to its sidecar, so that clients
 * never learn a broker's own address. `listener` picks the broker port they relay to.
 */
export async function startSidecarProcesses(
  nodes: readonly NodeInfo[],
  config: Record<string, unknown>,
  listener: 'port' | 'saslPort' = 'port',
): Promise<ProxyProcess[]> {
  const ports = await freePorts(nodes.length);
  const map = Object.fromEntries(nodes.map((n, i) => [String(n.id), `127.0.0.1:${ports[i]}`]));
  return Promise.all(
    nodes.map((n, i) => startProxyProcess({ upstream: `${n.host}:${n[listener]}`, advertise: { mode: 'map', map }, ...config }, { port: ports[i]! })),
  );
}
