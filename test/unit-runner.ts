// Runs test files the way tap's runner does, without it: each file as `node FILE`, all at once. A tap test file run
// directly is still tap's: its root test prints TAP ending with its counts, times itself out (TAP_TIMEOUT) and sets
// the exit code. tap's runner starts every test process with @tapjs/processinfo's module hooks (a loader thread of
// its own, for coverage and `--changed`, neither used here), then parses and reports every line: for the 46 files
// that need no Kafka that was 40 of the phase's 110 CPU-s (measured on 2 cores: 57 s wall under tap, 40 s this way).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RESULTS_DIR } from './failure-report.js';

/** A file's own timeout (tap's TAP_TIMEOUT); the longest file takes about 30 s with all the others beside it. */
const FILE_TIMEOUT_SEC = 300;
/** Past its own timeout (tap's root test kills its process 10 s after it fires), a file is killed from here. */
const KILL_AFTER_MS = (FILE_TIMEOUT_SEC + 30) * 1000;
/** Lines of a failed file's stderr printed with its result. */
const STDERR_LINES = 40;

const running = new Set<ChildProcess>();

/** Stops the files still running (an interrupt of the run). */
export function killRunning(signal: NodeJS.Signals): void {
  for (const child of running) child.kill(signal);
}

interface FileResult {
  ok: boolean;
  /** Assertions counted by the file's root test, and those that passed. */
  total: number;
  pass: number;
}

function runFile(file: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<FileResult> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--enable-source-maps', file], {
    env: { ...env, TAP_TIMEOUT: String(FILE_TIMEOUT_SEC) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
  return new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(killer);
    running.delete(child);
    const tap = Buffer.concat(out).toString();
    const counts = /^# (\{ total: (\d+), pass: (\d+).* \})$/m.exec(tap);
    const ok = code === 0 && counts !== null;
    const stderr = ok ? [] : Buffer.concat(err).toString().trimEnd().split('\n').slice(-STDERR_LINES);
    log(`${ok ? 'ok' : 'not ok'} - ${file} ${counts?.[1] ?? 'no counts'} in ${((Date.now() - started) / 1000).toFixed(1)} s${ok ? '' : ` (exit code ${code}, signal ${signal})`}`);
    if (stderr.join('')) log(`stderr of ${file}, last lines:\n${stderr.join('\n')}`);
    // a file that failed with no failed assertion of its own (it crashed before its tests, or was killed) still gets
    // one in its saved output, for the failure report at the end of the run
    const unexplained = !ok && !/^not ok /m.test(tap);
    const result = join(RESULTS_DIR, `${file}.tap`);
    mkdirSync(dirname(result), { recursive: true });
    const failure = `not ok 1 - the file failed (exit code ${code}, signal ${signal}, ${counts ? 'its counts printed' : 'no counts'})`;
    writeFileSync(result, unexplained ? `${tap}\n${failure}\n  ---\n  stderr: |\n${stderr.map((l) => `    ${l}`).join('\n')}\n  ...\n` : tap);
    resolve({ ok, total: Number(counts?.[2] ?? 0), pass: Number(counts?.[3] ?? 0) });
  }));
}

/** Runs every file at once; resolves to the number of files that failed. */
export async function runFiles(files: string[], env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<number> {
  const started = Date.now();
  const results = await Promise.all(files.map((f) => runFile(f, env, log)));
  const failed = results.filter((r) => !r.ok).length;
  const sum = (key: 'total' | 'pass') => results.reduce((n, r) => n + r[key], 0);
  log(`${files.length} files, ${failed} failed; ${sum('total')} assertions, ${sum('pass')} passed; ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return failed;
}
