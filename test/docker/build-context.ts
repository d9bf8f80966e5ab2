// The Docker build context: the files of a directory that its .dockerignore keeps, matched as Docker matches them
// (Go filepath.Match patterns relative to the context root, `**` for any number of directories, a match on a
// directory covering everything under it, `!` re-including, the last matching rule deciding).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface IgnoreRule {
  pattern: string;
  negated: boolean;
  regex: RegExp;
}

function toRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      if (pattern[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') {
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[' || c === '\\') {
      throw new Error(`.dockerignore: character classes and escapes are not supported by this matcher: ${pattern}`);
    } else {
      re += c.replace(/[.+^${}()|\]]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = (negated ? line.slice(1).trim() : line).replace(/^\/+/, '').replace(/\/+$/, '').replace(/^\.\//, '');
    if (pattern === '' || pattern === '.') continue;
    rules.push({ pattern, negated, regex: toRegex(pattern) });
  }
  return rules;
}

/** Whether a context-relative path (POSIX separators) is left out of the context. */
export function isExcluded(rules: readonly IgnoreRule[], path: string): boolean {
  const parents: string[] = [];
  const parts = path.split('/');
  for (let i = 1; i <= parts.length; i++) parents.push(parts.slice(0, i).join('/'));
  let excluded = false;
  for (const r of rules) {
    if (parents.some((p) => r.regex.test(p))) excluded = !r.negated;
  }
  return excluded;
}

/** Every file of `dir` the rules keep, context-relative, sorted. Excluded directories are not entered unless a `!` rule exists. */
export function contextFiles(dir: string, rules: readonly IgnoreRule[]): string[] {
  const prune = !rules.some((r) => r.negated);
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!(prune && isExcluded(rules, path))) walk(path);
      } else if (!isExcluded(rules, path)) {
        out.push(path);
      }
    }
  };
  walk('');
  return out.sort();
}
