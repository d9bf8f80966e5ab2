// After a failed `npm test`: what failed, in the last lines of the output, so that a CI log's tail is enough to start
// from. Reads tap's saved output (.tap/test-results/<file>.tap) for each file with a failure, prints the tails of the
// logs of the proxy processes that file started (.tap/proxy-logs/<file>-<port>.log), and ends with every failed
// assertion: its file, the path of subtests that led to it, and the first lines of its diagnostics.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PROXY_LOG_DIR } from './support/proxy-process.js';

/** Where tap, and test/unit-runner.ts as tap does, saves each test file's output (`<file>.tap`). */
export const RESULTS_DIR = '.tap/test-results';
const PROXY_LOG_LINES = 25;
const DIAGNOSTIC_LINES = 12;

interface Failure {
  file: string;
  /** Subtest names from the file's top level down to the failed assertion. */
  path: string[];
  diagnostics: string[];
}

function files(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)) : [];
}

/**
 * The failed assertions of one file's TAP output: every `not ok` line that no other failure lies inside (a subtest
 * fails because something in it did; one that failed with nothing failed inside it, a timeout or an exception in its
 * body, is kept).
 */
function failuresOf(file: string, tap: string): Failure[] {
  const lines = tap.split('\n');
  const all: Failure[] = [];
  const subtests: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const depth = Math.floor((line.length - line.trimStart().length) / 4);
    const subtest = /^\s*# Subtest: (.*)$/.exec(line);
    if (subtest) {
      subtests.length = depth;
      subtests[depth] = subtest[1]!;
      continue;
    }
    const notOk = /^\s*not ok \d+ - (.*?)(?: # time=.*)?$/.exec(line);
    if (!notOk) continue;
    const block: string[] = [];
    if (lines[i + 1]?.trim() === '---') {
      for (let j = i + 2; j < lines.length && lines[j]!.trim() !== '...'; j++) block.push(lines[j]!);
    }
    all.push({ file, path: [...subtests.slice(0, depth), notOk[1]!], diagnostics: diagnosticsOf(block) });
  }
  const key = (f: Failure) => f.path.join('\u0000');
  return all.filter((f) => !all.some((g) => g.path.length > f.path.length && key(g).startsWith(`${key(f)}\u0000`)));
}

/** A failure's YAML block without its stack and source excerpt (`at` names the line), blank lines dropped. */
function diagnosticsOf(block: string[]): string[] {
  const indent = Math.min(...block.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  const kept: string[] = [];
  let skipping = false;
  for (const raw of block) {
    const line = raw.slice(indent);
    if (!line.trim()) continue;
    if (!line.startsWith(' ')) skipping = /^(stack|source):/.test(line);
    if (!skipping) kept.push(line);
  }
  return kept.slice(0, DIAGNOSTIC_LINES);
}

export function failureReport(): string {
  const out: string[] = [];
  const failures: Failure[] = [];
  for (const result of files(RESULTS_DIR).filter((f) => f.endsWith('.tap'))) {
    const file = result.slice(RESULTS_DIR.length + 1, -'.tap'.length);
    failures.push(...failuresOf(file, readFileSync(result, 'utf8')));
  }
  const failedFiles = [...new Set(failures.map((f) => f.file))];
  for (const file of failedFiles) {
    for (const log of files(PROXY_LOG_DIR).filter((f) => basename(f).startsWith(`${basename(file)}-`))) {
      const lines = readFileSync(log, 'utf8').trimEnd().split('\n');
      out.push(`---- last ${Math.min(PROXY_LOG_LINES, lines.length)} lines of ${log} (a proxy started by ${file}) ----`, ...lines.slice(-PROXY_LOG_LINES));
    }
  }
  out.push(`==== ${failures.length} failed assertion(s) in ${failedFiles.length} file(s) ====`);
  for (const f of failures) {
    out.push(`FAILED ${f.file} > ${f.path.join(' > ')}`, ...f.diagnostics.map((d) => `    ${d}`));
  }
  return out.join('\n');
}
