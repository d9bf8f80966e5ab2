// A client or tool run as a child process to its end: input on stdin, stdout captured (bounded), stderr's tail kept,
// killed after a timeout and with the test process.
import { spawn } from 'node:child_process';
import { killWithOwner } from '../../src/local-kafka/owner-watchdog.js';

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What is kept of a child's stdout (beyond it, the rest is dropped), and of its stderr (the tail). */
const MAX_STDOUT = 256 * 1024 * 1024;
const MAX_STDERR = 16_000;

export function runProcess(
  command: string, args: readonly string[], input?: string, timeoutMs = 120_000, onSpawn?: (pid: number) => void,
): Promise<ProcessResult> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid !== undefined) {
    killWithOwner(child.pid);
    onSpawn?.(child.pid);
  }
  const out: Buffer[] = [];
  let outLen = 0;
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    if (outLen < MAX_STDOUT) out.push(c);
    outLen += c.length;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-MAX_STDERR); });
  child.stdin.on('error', () => undefined);
  child.stdin.end(input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
  });
}
