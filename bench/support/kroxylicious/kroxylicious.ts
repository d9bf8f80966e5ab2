// Kroxylicious, the peer the proxy is compared with (npm run bench -- peers): its runtime jars resolved by Maven into
// the cache beside the Kafka jars, KroxyliciousPeer.java compiled against them, one JVM per peer, stopped by pid.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot, cachedMavenJars } from '../../../src/local-kafka/kafka-jars.js';
import { spawnJava } from '../../../src/local-kafka/java-tool.js';
import { freePorts, waitForPort } from '../../../src/local-kafka/ports.js';
import { started, type Child } from '../processes.js';

export const KROXYLICIOUS_VERSION = '0.12.0';
const LAUNCHER = fileURLToPath(new URL('KroxyliciousPeer.java', import.meta.url));

/** Resolves the jars (once) and compiles the launcher (when it changed); returns the java -cp value. */
export async function kroxyliciousClasspath(log: (line: string) => void = () => undefined): Promise<string> {
  const home = join(cacheRoot(), `kroxylicious-${KROXYLICIOUS_VERSION}`);
  const { libsDir } = await cachedMavenJars(home, [
    ['io.kroxylicious', 'kroxylicious-runtime', KROXYLICIOUS_VERSION],
    ['org.slf4j', 'slf4j-simple', '2.0.17'], // its warnings and errors reach stderr
  ], `Kroxylicious ${KROXYLICIOUS_VERSION}`, log);
  const classes = join(home, 'classes');
  const compiled = join(classes, 'KroxyliciousPeer.class');
  if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(LAUNCHER).mtimeMs) {
    mkdirSync(classes, { recursive: true });
    execFileSync('javac', ['-d', classes, '-cp', join(libsDir, '*'), LAUNCHER], { stdio: 'inherit' });
  }
  return `${classes}:${join(libsDir, '*')}`;
}

/** A free port whose next port is free too (Kroxylicious serves node N at bootstrap + 1 + N - first node id). */
async function freePortPair(): Promise<number> {
  for (;;) {
    const [port] = await freePorts(1);
    const next = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      next.once('error', () => resolve(false));
      next.listen(port! + 1, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise((resolve) => next.close(resolve));
      return port!;
    }
  }
}

/**
 * Starts Kroxylicious as a passthrough virtual cluster (no filters) in front of `upstream`: clients bootstrap at
 * `port`; broker `nodeId` is served at `port + 1` (the address Kroxylicious puts in Metadata responses). On one CPU
 * when `cpu` is given (every thread).
 */
export async function startKroxylicious(
  o: { upstream: string; nodeId: number; heapMb?: number; cpu?: number; log?: (line: string) => void },
): Promise<Child & { port: number }> {
  const classpath = await kroxyliciousClasspath(o.log);
  const port = await freePortPair();
  const child = spawnJava('KroxyliciousPeer', [`127.0.0.1:${port}`, o.upstream, String(o.nodeId)], {
    classpath,
    heapMb: o.heapMb ?? 512,
    jvmArgs: [`-Xms${o.heapMb ?? 512}m`, '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn'],
  });
  child.stdout!.resume();
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(`[kroxylicious] ${c.toString()}`));
  const peer = await started(child, port);
  await waitForPort('127.0.0.1', port + 1, 30_000);
  if (o.cpu !== undefined) execFileSync('taskset', ['-a', '-pc', String(o.cpu), String(child.pid)], { stdio: 'ignore' });
  return { ...peer, port };
}
