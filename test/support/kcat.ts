// kcat (librdkafka) as a child process: produce lines, consume values.
import { runProcess, type ProcessResult } from './run-process.js';

export function runKcat(args: readonly string[], input?: string, timeoutMs = 120_000, onSpawn?: (pid: number) => void): Promise<ProcessResult> {
  return runProcess('kcat', args, input, timeoutMs, onSpawn);
}

function configArgs(config: Record<string, string> = {}): string[] {
  return Object.entries(config).flatMap(([k, v]) => ['-X', `${k}=${v}`]);
}

/** Produces one message per value (newline-delimited, so values must not contain newlines); rejects on any error. */
export async function kcatProduce(
  bootstrap: string, topic: string, values: readonly string[], config?: Record<string, string>, onSpawn?: (pid: number) => void,
): Promise<void> {
  const r = await runKcat(['-P', '-b', bootstrap, '-t', topic, '-X', 'acks=all', ...configArgs(config)], values.join('\n') + '\n', 120_000, onSpawn);
  if (r.code !== 0) throw new Error(`kcat produce exited with ${r.code}: ${r.stderr}`);
}

/** Consumes a topic from the beginning until the end of every partition; returns the values. */
export async function kcatConsume(
  bootstrap: string, topic: string, config?: Record<string, string>, onSpawn?: (pid: number) => void,
): Promise<string[]> {
  const r = await runKcat(['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%s\\n', ...configArgs(config)], undefined, 120_000, onSpawn);
  if (r.code !== 0) throw new Error(`kcat consume exited with ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n').slice(0, -1);
}
