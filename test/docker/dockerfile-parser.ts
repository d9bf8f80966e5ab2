// A parser for the Dockerfile instructions this project uses (FROM ... AS, WORKDIR, COPY, RUN, ENV, USER, EXPOSE,
// ENTRYPOINT, CMD, HEALTHCHECK), following Docker's reference. Anything else is refused rather than guessed at, so
// the test that runs the Dockerfile never silently skips a step.

export interface CacheMount {
  target: string;
}

export type Step =
  | { op: 'WORKDIR'; line: number; path: string }
  | { op: 'COPY'; line: number; sources: string[]; dest: string; from?: string; chown?: string }
  | { op: 'RUN'; line: number; command: string; cacheMounts: CacheMount[] }
  | { op: 'ENV'; line: number; vars: [string, string][] }
  | { op: 'USER'; line: number; user: string }
  | { op: 'EXPOSE'; line: number; ports: number[] }
  | { op: 'ENTRYPOINT' | 'CMD'; line: number; argv: string[]; execForm: boolean }
  | { op: 'HEALTHCHECK'; line: number; options: Record<string, string>; argv: string[] | null; execForm: boolean };

export interface Stage {
  index: number;
  name: string | undefined;
  image: string;
  line: number;
  steps: Step[];
}

/** A stage's image configuration after its last step, as `docker inspect` would show it. */
export interface ImageConfig {
  env: Record<string, string>;
  workdir: string;
  user: string;
  exposed: number[];
  entrypoint: { argv: string[]; execForm: boolean } | undefined;
  cmd: { argv: string[]; execForm: boolean } | undefined;
  healthcheck: { options: Record<string, string>; argv: string[] | null; execForm: boolean } | undefined;
}

export class DockerfileError extends Error {
  readonly code = 'KQP_DOCKERFILE_UNSUPPORTED';
  override readonly name = 'DockerfileError';
  constructor(line: number, message: string) {
    super(`Dockerfile line ${line}: ${message}`);
  }
}

interface LogicalLine {
  line: number;
  text: string;
}

/** Joins continuation lines (trailing backslash) and drops comments and blank lines, as Docker does. */
function logicalLines(text: string): LogicalLine[] {
  const out: LogicalLine[] = [];
  let current: LogicalLine | undefined;
  const physical = text.split(/\r?\n/);
  for (let i = 0; i < physical.length; i++) {
    const raw = physical[i]!;
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || trimmed === '') continue; // comments and blank lines, also inside a continuation
    const continues = /\\\s*$/.test(raw);
    const part = continues ? raw.replace(/\\\s*$/, '') : raw;
    if (current) current.text += part;
    else current = { line: i + 1, text: part };
    if (!continues) {
      out.push({ line: current.line, text: current.text.trim() });
      current = undefined;
    }
  }
  if (current) out.push({ line: current.line, text: current.text.trim() });
  return out;
}

/** Splits shell-form arguments on whitespace outside quotes; quotes are removed, a backslash escapes in double quotes. */
function words(text: string, line: number): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i]!;
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new DockerfileError(line, `unbalanced quote in ${text}`);
  if (word !== undefined) out.push(word);
  return out;
}

/** Leading --name=value flags; refuses flags not in `allowed`. */
function flags(text: string, allowed: readonly string[], line: number): { flags: Record<string, string>; rest: string } {
  const found: Record<string, string> = {};
  let rest = text;
  for (let m = /^--([a-z-]+)=(\S+)\s*/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s*/.exec(rest)) {
    if (!allowed.includes(m[1]!)) throw new DockerfileError(line, `flag --${m[1]} is not supported by this parser`);
    found[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  if (/^--/.test(rest)) throw new DockerfileError(line, `unsupported flag in ${rest}`);
  return { flags: found, rest };
}

function execOrShell(text: string, line: number): { argv: string[]; execForm: boolean } {
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new DockerfileError(line, `exec form is not a JSON array of strings: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === 'string')) {
      throw new DockerfileError(line, 'exec form must be a non-empty JSON array of strings');
    }
    return { argv: parsed as string[], execForm: true };
  }
  return { argv: ['/bin/sh', '-c', text], execForm: false };
}

function noVariables(text: string, line: number): void {
  if (text.includes('$')) throw new DockerfileError(line, 'variable substitution is not supported by this parser');
}

function parseStep(keyword: string, args: string, line: number): Step {
  switch (keyword) {
    case 'WORKDIR': {
      noVariables(args, line);
      const w = words(args, line);
      if (w.length !== 1) throw new DockerfileError(line, 'WORKDIR takes one path');
      return { op: 'WORKDIR', line, path: w[0]! };
    }
    case 'COPY': {
      noVariables(args, line);
      const f = flags(args, ['from', 'chown'], line);
      const list = f.rest.startsWith('[') ? execOrShell(f.rest, line).argv : words(f.rest, line);
      if (list.length < 2) throw new DockerfileError(line, 'COPY needs at least one source and a destination');
      if (list.some((p) => /[*?[]/.test(p))) throw new DockerfileError(line, 'COPY wildcards are not supported by this parser');
      const step: Step = { op: 'COPY', line, sources: list.slice(0, -1), dest: list.at(-1)! };
      if (f.flags.from !== undefined) step.from = f.flags.from;
      if (f.flags.chown !== undefined) step.chown = f.flags.chown;
      return step;
    }
    case 'RUN': {
      const f = flags(args, ['mount'], line);
      const cacheMounts: CacheMount[] = [];
      if (f.flags.mount !== undefined) {
        const opts = Object.fromEntries(f.flags.mount.split(',').map((kv) => {
          const at = kv.indexOf('=');
          return at < 0 ? [kv, 'true'] : [kv.slice(0, at), kv.slice(at + 1)];
        }));
        if (opts.type !== 'cache' || !opts.target || Object.keys(opts).some((k) => k !== 'type' && k !== 'target')) {
          throw new DockerfileError(line, `only --mount=type=cache,target=DIR is supported, not ${f.flags.mount}`);
        }
        cacheMounts.push({ target: opts.target });
      }
      if (f.rest.startsWith('[')) throw new DockerfileError(line, 'RUN exec form is not supported by this parser');
      return { op: 'RUN', line, command: f.rest, cacheMounts };
    }
    case 'ENV': {
      noVariables(args, line);
      const w = words(args, line);
      if (w.length === 0 || w.some((kv) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(kv))) {
        throw new DockerfileError(line, 'ENV must be KEY=value pairs (the legacy "ENV KEY value" form is not supported)');
      }
      return { op: 'ENV', line, vars: w.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]) };
    }
    case 'USER': {
      noVariables(args, line);
      const w = words(args, line);
      if (w.length !== 1) throw new DockerfileError(line, 'USER takes one user');
      return { op: 'USER', line, user: w[0]! };
    }
    case 'EXPOSE': {
      const ports = words(args, line).map((p) => {
        const m = /^(\d+)(\/tcp)?$/.exec(p);
        if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new DockerfileError(line, `EXPOSE ${p}: only single TCP ports are supported`);
        return Number(m[1]);
      });
      if (ports.length === 0) throw new DockerfileError(line, 'EXPOSE needs a port');
      return { op: 'EXPOSE', line, ports };
    }
    case 'ENTRYPOINT':
    case 'CMD':
      return { op: keyword, line, ...execOrShell(args, line) };
    case 'HEALTHCHECK': {
      const f = flags(args, ['interval', 'timeout', 'start-period', 'start-interval', 'retries'], line);
      if (f.rest === 'NONE') {
        if (Object.keys(f.flags).length > 0) throw new DockerfileError(line, 'HEALTHCHECK NONE takes no options');
        return { op: 'HEALTHCHECK', line, options: {}, argv: null, execForm: false };
      }
      const m = /^CMD\s+(.*)$/.exec(f.rest);
      if (!m) throw new DockerfileError(line, 'HEALTHCHECK must be NONE or [OPTIONS] CMD command');
      return { op: 'HEALTHCHECK', line, options: f.flags, ...execOrShell(m[1]!, line) };
    }
    default:
      throw new DockerfileError(line, `instruction ${keyword} is not supported by this parser`);
  }
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const { line, text: l } of logicalLines(text)) {
    const m = /^([A-Za-z]+)(?:\s+(.*))?$/.exec(l);
    if (!m) throw new DockerfileError(line, `cannot read ${l}`);
    const keyword = m[1]!.toUpperCase();
    const args = (m[2] ?? '').trim();
    if (keyword === 'FROM') {
      noVariables(args, line);
      const w = words(args, line);
      if (w[0]?.startsWith('--')) throw new DockerfileError(line, 'FROM flags are not supported by this parser');
      if (!(w.length === 1 || (w.length === 3 && w[1]!.toUpperCase() === 'AS'))) throw new DockerfileError(line, 'FROM image [AS name]');
      const image = w[0]!;
      if (stages.some((s) => s.name === image.toLowerCase())) throw new DockerfileError(line, `FROM an earlier stage (${image}) is not supported by this parser`);
      stages.push({ index: stages.length, name: w[2]?.toLowerCase(), image, line, steps: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new DockerfileError(line, `${keyword} before the first FROM`);
    stage.steps.push(parseStep(keyword, args, line));
  }
  if (stages.length === 0) throw new DockerfileError(1, 'no FROM');
  return stages;
}

/** Resolves a container path against a working directory (both absolute, POSIX). */
export function containerPath(workdir: string, path: string): string {
  const joined = path.startsWith('/') ? path : `${workdir}/${path}`;
  const parts: string[] = [];
  for (const p of joined.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return `/${parts.join('/')}`;
}

/** The image configuration a stage ends with (the base image's own settings aside: root user, workdir /). */
export function imageConfig(stage: Stage): ImageConfig {
  const c: ImageConfig = { env: {}, workdir: '/', user: 'root', exposed: [], entrypoint: undefined, cmd: undefined, healthcheck: undefined };
  for (const s of stage.steps) {
    if (s.op === 'ENV') for (const [k, v] of s.vars) c.env[k] = v;
    else if (s.op === 'WORKDIR') c.workdir = containerPath(c.workdir, s.path);
    else if (s.op === 'USER') c.user = s.user;
    else if (s.op === 'EXPOSE') c.exposed.push(...s.ports);
    else if (s.op === 'ENTRYPOINT') c.entrypoint = { argv: s.argv, execForm: s.execForm };
    else if (s.op === 'CMD') c.cmd = { argv: s.argv, execForm: s.execForm };
    else if (s.op === 'HEALTHCHECK') c.healthcheck = { options: s.options, argv: s.argv, execForm: s.execForm };
  }
  return c;
}

/** What a container runs: ENTRYPOINT followed by CMD (exec form), or CMD alone. */
export function containerArgv(c: ImageConfig): string[] {
  if (c.entrypoint && !c.entrypoint.execForm) return c.entrypoint.argv; // shell-form ENTRYPOINT ignores CMD
  return [...(c.entrypoint?.argv ?? []), ...(c.cmd?.argv ?? [])];
}
