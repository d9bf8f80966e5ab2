// Child processes for benchmarks (the compiled proxy, a plain Node pipe) and what /proc says about them.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForPort } from '../../src/local-kafka/ports.js';
import { killWithOwner } from '../../src/local-kafka/owner-watchdog.js';
import { DEPLOYED_NODE_ARGS } from '../../test/support/proxy-process.js';

/** Compiles the proxy (npm run build) so benchmarks measure what production runs. */
export function buildProxy(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}

export interface Child {
  process: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

/** Watches a spawned child (killed with its owner) until it listens on `port`; stop() is SIGTERM, then SIGKILL. */
export async function started(child: ChildProcess, port: number): Promise<Child> {
  killWithOwner(child.pid!);
  await waitForPort('127.0.0.1', port, 30_000, () => {
    if (child.exitCode !== null) throw new Error(`child exited with ${child.exitCode}`);
  });
  return {
    process: child,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await Promise.race([exited, sleep(15_000).then(() => child.kill('SIGKILL'))]);
    },
  };
}

/** Pins this process to one CPU (taskset), so a relay pinned to another does not compete with it. */
export function pinSelf(cpu: number): void {
  execFileSync('taskset', ['-pc', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

/** Pins a running process, every thread of it and those it starts later, to one CPU (taskset -a). */
export function pinProcess(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-pc', String(cpu), String(pid)], { stdio: 'ignore' });
}

/** Runs a node program, on one CPU when `cpu` is given. */
function spawnNode(args: string[], cpu?: number): ChildProcess {
  return cpu === undefined
    ? spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] })
    : spawn('taskset', ['-c', String(cpu), process.execPath, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Starts the compiled proxy (dist/cli.js) with the given YAML config text, with node's flags as the Dockerfile's ENTRYPOINT gives them. */
export async function startProxyProcess(yaml: string, port: number, cpu?: number): Promise<Child> {
  const dir = mkdtempSync(join(tmpdir(), 'kqp-bench-proxy-'));
  const file = join(dir, 'proxy.yaml');
  writeFileSync(file, yaml);
  return started(spawnNode([...DEPLOYED_NODE_ARGS, '--config', file], cpu), port);
}

/** Starts a plain Node TCP pipe (the baseline: no parsing at all) from port to upstream. */
export async function startPlainPipe(port: number, upstreamPort: number, cpu?: number): Promise<Child> {
  const script = `
    const net = require('node:net');
    net.createServer({ noDelay: true }, (c) => {
      const u = net.connect({ host: '127.0.0.1', port: ${upstreamPort} });
      u.setNoDelay(true);
      c.pipe(u).pipe(c);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
    }).listen(${port}, '127.0.0.1');`;
  return started(spawnNode(['-e', script], cpu), port);
}

/**
 * Starts a stand-in broker that answers every request at once with the same Produce v9 response (no topics; the
 * request's correlation id): what a relay adds to a round trip, without a broker's own variation in it.
 */
export async function startInstantBroker(port: number): Promise<Child> {
  const script = `
    const net = require('node:net');
    // size 11, correlation id, header tags, topics (none), throttle_time_ms 0, tags
    const RESPONSE = Buffer.from([0, 0, 0, 11, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    net.createServer({ noDelay: true }, (s) => {
      let pending = Buffer.alloc(0);
      s.on('data', (c) => {
        pending = pending.length > 0 ? Buffer.concat([pending, c]) : c;
        const out = [];
        while (pending.length >= 4 && pending.length >= pending.readInt32BE(0) + 4) {
          const r = Buffer.from(RESPONSE);
          pending.copy(r, 4, 8, 12);
          out.push(r);
          pending = pending.subarray(pending.readInt32BE(0) + 4);
        }
        if (out.length > 0) s.write(Buffer.concat(out));
      });
      s.on('error', () => s.destroy());
    }).listen(${port}, '127.0.0.1');`;
  return started(spawnNode(['-e', script]), port);
}

export function rssMB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** CPU seconds (user + system) a process has used. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}
