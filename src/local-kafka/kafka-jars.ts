// Fetches Apache Kafka jars (the pinned version unless asked for another) from Maven Central (through Maven) into a
// cache outside git, one directory per version.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { kafkaLine } from './kafka-versions.js';

const execFileAsync = promisify(execFile);

/** The Kafka version every test, benchmark and the code generator run against, unless one asks for another. */
export const KAFKA_VERSION = '4.4.0';
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

function artifacts(version: string): readonly Artifact[] {
  return [
    ['org.apache.kafka', 'kafka_2.13', version], // the broker
    ['org.apache.kafka', 'kafka-tools', version], // perf and verifiable clients, ConfigCommand
    ['org.apache.kafka', 'kafka-clients', version], // the message schemas (common/message/*.json)
    ...kafkaLine(version).extraArtifacts, // so the broker's slf4j logs reach its logging, where it lacks a binding
  ];
}

const LOCK_STALE_MS = 15 * 60_000;

export interface KafkaJars {
  /** Directory holding every runtime jar. */
  libsDir: string;
  /** A java -cp value covering libsDir. */
  classpath: string;
  /** The kafka-clients jar (the message schemas live in it). */
  clientsJar: string;
  /** Milliseconds spent downloading, or 0 when the cache was warm. */
  downloadMs: number;
  /** The Kafka version of these jars. */
  version: string;
}

export function cacheRoot(): string {
  return process.env.KQP_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kafka-quota-proxy');
}

export type Artifact = readonly [group: string, artifact: string, version: string];

function pom(deps: readonly Artifact[]): string {
  const xml = deps.map(
    ([g, a, v]) => `<dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`,
  ).join('\n    ');
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafka-quota-proxy</groupId><artifactId>local-kafka</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    ${xml}
  </dependencies>
</project>
`;
}

function describe(libsDir: string, version: string, downloadMs: number): KafkaJars {
  return {
    libsDir,
    classpath: join(libsDir, '*'),
    clientsJar: join(libsDir, `kafka-clients-${version}.jar`),
    downloadMs,
    version,
  };
}

export interface JarCacheOptions {
  /** Where the jars are cached (default: cacheRoot()). */
  cacheDir?: string;
  /** Maven's local repository (default: Maven's own, or $KQP_MAVEN_REPO). */
  mavenRepo?: string;
  /** The Kafka version (default: KAFKA_VERSION); one of the release lines in kafka-versions.ts. */
  version?: string;
}

/** Returns the cached jars, downloading them first when the cache is cold. Safe to call from parallel processes. */
export async function ensureKafkaJars(log: (line: string) => void = () => undefined, opts: JarCacheOptions = {}): Promise<KafkaJars> {
  const version = opts.version ?? KAFKA_VERSION;
  kafkaLine(version); // a version of a line the harness cannot run fails here, before any download
  const home = join(opts.cacheDir ?? cacheRoot(), `kafka-${version}`);
  const fetched = await cachedMavenJars(home, artifacts(version), `Apache Kafka ${version}`, log, opts.mavenRepo);
  return describe(fetched.libsDir, version, fetched.downloadMs);
}

/**
 * The runtime jars of `deps` and their dependencies, resolved by Maven into `home`/libs once (lock-protected, safe from
 * parallel processes); later calls are cache hits (downloadMs 0). Also used for peers run by the benchmarks.
 */
export async function cachedMavenJars(
  home: string, deps: readonly Artifact[], what: string, log: (line: string) => void = () => undefined, mavenRepo?: string,
): Promise<{ libsDir: string; downloadMs: number }> {
  const libsDir = join(home, 'libs');
  const marker = join(libsDir, '.complete');
  if (existsSync(marker)) return { libsDir, downloadMs: 0 };

  mkdirSync(home, { recursive: true });
  const lock = join(home, '.lock');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(marker)) return { libsDir, downloadMs: 0 };
      const age = Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs;
      if (age > LOCK_STALE_MS) rmSync(lock, { recursive: true, force: true });
      else await sleep(500);
    }
  }
  try {
    if (existsSync(marker)) return { libsDir, downloadMs: 0 };
    const started = Date.now();
    log(`downloading ${what} jars from Maven Central into ${libsDir}`);
    const work = join(tmpdir(), `kqp-jars-${process.pid}-${Date.now()}`);
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'pom.xml'), pom(deps));
    const partial = `${libsDir}.partial`;
    rmSync(partial, { recursive: true, force: true });
    const args = ['-B', '-q', `${DEPENDENCY_PLUGIN}:copy-dependencies`, '-DincludeScope=runtime', `-DoutputDirectory=${partial}`];
    const repo = mavenRepo ?? process.env.KQP_MAVEN_REPO;
    if (repo) args.push(`-Dmaven.repo.local=${repo}`);
    try {
      await execFileAsync('mvn', args, { cwd: work, maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      const e = err as { code?: string; message: string; stdout?: string; stderr?: string };
      if (e.code === 'ENOENT') throw new Error(`fetching the ${what} jars needs Maven (mvn) and a JDK 17+: on Debian, sh test/setup-tools.sh installs them`);
      throw new Error(`mvn could not fetch the ${what} jars (${e.message.split('\n')[0]}):\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    rmSync(libsDir, { recursive: true, force: true });
    renameSync(partial, libsDir);
    writeFileSync(marker, new Date().toISOString());
    const downloadMs = Date.now() - started;
    log(`fetched the ${what} jars in ${(downloadMs / 1000).toFixed(1)} s`);
    return { libsDir, downloadMs };
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
