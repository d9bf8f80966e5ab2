// Runs a Java main class from the cached Kafka jars (ConfigCommand, ProducerPerformance, StorageTool, ...).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';

export interface JavaRunOptions {
  classpath: string;
  heapMb?: number;
  timeoutMs?: number;
  /** Called with each complete stdout line as it arrives. */
  onLine?: (line: string) => void;
  jvmArgs?: string[];
  /** A file fed to the program's standard input. */
  stdinFile?: string;
  /** Called with the JVM's pid once it is spawned. */
  onSpawn?: (pid: number) => void;
  /** Runs the JVM at this niceness (nice(1): 19 is the lowest priority), all its threads included. */
  nice?: number;
}

export interface JavaRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const MAX_CAPTURE = 64 * 1024 * 1024;

export function spawnJava(mainClass: string, args: readonly string[], opts: JavaRunOptions): ChildProcess {
  const jvm = [`-Xmx${opts.heapMb ?? 256}m`, '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true', ...(opts.jvmArgs ?? [])];
  const stdin = opts.stdinFile === undefined ? 'ignore' : openSync(opts.stdinFile, 'r');
  const command = ['java', ...jvm, '-cp', opts.classpath, mainClass, ...args];
  if (opts.nice !== undefined) command.unshift('nice', '-n', String(opts.nice)); // nice execs java: the pid is the JVM's
  const child = spawn(command[0]!, command.slice(1), { stdio: [stdin, 'pipe', 'pipe'] });
  if (typeof stdin === 'number') closeSync(stdin);
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  return child;
}

/** Runs a Java main to completion (or kills it at timeoutMs) and returns its output. */
export function runJava(mainClass: string, args: readonly string[], opts: JavaRunOptions): Promise<JavaRunResult> {
  const child = spawnJava(mainClass, args, opts);
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    if (stdout.length < MAX_CAPTURE) stdout += chunk;
    if (!opts.onLine) return;
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      opts.onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < MAX_CAPTURE) stderr += chunk;
  });
  const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (opts.onLine && pending) opts.onLine(pending);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Like runJava, but rejects unless the program exits with status 0. */
export async function runJavaOk(mainClass: string, args: readonly string[], opts: JavaRunOptions): Promise<JavaRunResult> {
  const result = await runJava(mainClass, args, opts);
  if (result.code !== 0) {
    throw new Error(
      `${mainClass} ${args.join(' ')} exited with ${result.code ?? result.signal}\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`,
    );
  }
  return result;
}
