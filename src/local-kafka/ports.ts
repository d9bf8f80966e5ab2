// Free loopback ports, and waiting for a port to accept connections.
import { createServer, connect, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';

/**
 * Returns `count` distinct ports that were free a moment ago (held open together so none repeats), for a process
 * started next to listen on. They are drawn below the kernel's ephemeral range: a port the kernel hands out (listen on
 * 0) can be taken, between its release here and the process binding it, by any outgoing connection on the machine,
 * which a test run opening thousands of them did (EADDRINUSE). Where there is no room below that range, the kernel's.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  const [low, high] = belowEphemeral();
  try {
    while (servers.length < count) {
      let server: Server | undefined;
      for (let tries = 0; tries < 100 && !server && high > low; tries++) server = await bound(low + Math.floor(Math.random() * (high - low)));
      servers.push(server ?? (await bound(0))!);
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
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
