// Free loopback ports, and waiting for a port to accept connections.
import { createServer, connect, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Returns `count` distinct ports that were free a moment ago (held open together so none repeats), for a process
 * started next to listen on. They are drawn below the kernel's ephemeral range: a port the kernel hands out (listen on
 * 0) can be taken, between its release here and the process binding it, by any outgoing connection on the machine,
 * which a test run opening thousands of them did (EADDRINUSE). Where there is no room below that range, the kernel's.
 * A port drawn is noted for RESERVE_MS in a directory every process on the machine shares, and not drawn again by any
 * of them meanwhile: processes started in parallel (test files, their clusters and proxies) each bind theirs within
 * that time, and none is handed one another was handed a moment before.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  const [low, high] = belowEphemeral();
  try {
    while (servers.length < count) {
      let server: Server | undefined;
      for (let tries = 0; tries < 100 && !server && high > low; tries++) {
        const port = low + Math.floor(Math.random() * (high - low));
        if (reserved(port)) continue;
        server = await bound(port);
        if (server && !reserve(port)) server = await closed(server);
      }
      servers.push(server ?? (await bound(0))!);
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** Where drawn ports are noted (one empty file each, its time the draw's), and for how long a note holds. */
const RESERVED_DIR = join(tmpdir(), 'kqp-ports');
const RESERVE_MS = 120_000;

function reserved(port: number): boolean {
  try {
    return Date.now() - statSync(join(RESERVED_DIR, String(port))).mtimeMs < RESERVE_MS;
  } catch {
    return false;
  }
}

/**
 * Notes `port` as drawn now; false when another process drew it within RESERVE_MS. Where notes cannot be written (the
 * directory another user's, a read-only /tmp), the port is drawn without one.
 */
function reserve(port: number): boolean {
  const file = join(RESERVED_DIR, String(port));
  try {
    // shared by every user, as /tmp is (the mode given to mkdir is narrowed by the umask)
    if (mkdirSync(RESERVED_DIR, { recursive: true }) !== undefined) chmodSync(RESERVED_DIR, 0o1777);
    closeSync(openSync(file, 'wx', 0o666));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return true;
  }
  if (reserved(port)) return false;
  try {
    const now = new Date();
    utimesSync(file, now, now); // an old note: the port is this draw's now
  } catch {
    // another user's note: drawn without one
  }
  return true;
}

/**
 * Notes `ports` (drawn earlier) as drawn now: a process that closed them and will bind them again (a broker killed
 * and started again on its own ports) keeps them from other processes' draws for another RESERVE_MS.
 */
export function holdPorts(ports: readonly number[]): void {
  for (const port of ports) {
    const file = join(RESERVED_DIR, String(port));
    try {
      const now = new Date();
      utimesSync(file, now, now);
    } catch {
      reserve(port); // no note of it (drawn from the kernel's range, or notes cannot be written): one made now, if it can be
    }
  }
}

function closed(server: Server): Promise<undefined> {
  return new Promise((resolve) => server.close(() => resolve(undefined)));
}

/** The ports from which freePorts draws: the 16,384 below the ephemeral range (empty where it starts too low). */
function belowEphemeral(): [number, number] {
  let first = 32768;
  try {
    first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || first;
  } catch {
    // not Linux: the IANA range's start
    first = 49152;
  }
  return [Math.max(1024, first - 16_384), first];
}

/** A server listening on 127.0.0.1:port (0: any), or undefined when the port is taken. */
function bound(port: number): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err)));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function tryConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves once host:port accepts a TCP connection; `check` may throw to give up early. */
export async function waitForPort(host: string, port: number, timeoutMs: number, check?: () => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    check?.();
    if (await tryConnect(host, port)) return;
    await sleep(200);
  }
  throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
}
