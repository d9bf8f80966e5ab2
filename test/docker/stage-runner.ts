// Runs a parsed Dockerfile without Docker: each stage gets a directory standing in for its root filesystem (the base
// image's own files are the host's: its node, npm and sh), COPY copies from the build context or an earlier stage's
// directory, RUN runs `sh -c` in the stage's WORKDIR with the image's environment, a cache mount is a link to a
// persistent host directory for the length of its RUN (so, as in Docker, its contents are not part of the stage).
// Commands get exactly the image's environment (env -i).
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, lchownSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { containerPath, imageConfig, type ImageConfig, type Stage, type Step } from './dockerfile-parser.js';

/** Users of the official node images (/etc/passwd there). */
export const IMAGE_USERS: Record<string, { uid: number; gid: number; home: string }> = {
  root: { uid: 0, gid: 0, home: '/root' },
  node: { uid: 1000, gid: 1000, home: '/home/node' },
};

/**
 * argv that runs `argv` with exactly `env` (through env -i): nothing of this process's environment leaks in, not even
 * what a spawn hook adds (tap's processinfo puts its loader into NODE_OPTIONS of every child).
 */
export function withExactEnv(env: Record<string, string>, argv: readonly string[]): [string, string[]] {
  return ['env', ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv]];
}

export interface RunnerOptions {
  /** The build context directory and the context-relative files its .dockerignore keeps. */
  contextDir: string;
  contextFiles: readonly string[];
  /** Where the stage directories go. */
  workDir: string;
  /** Host directory for each RUN --mount=type=cache target. */
  cacheDirs: Record<string, string>;
  /** The base image's environment (PATH to the host's node, ...); image ENV and HOME go on top. */
  baseEnv: Record<string, string>;
  runTimeoutMs: number;
  log: (line: string) => void;
}

export interface BuiltStage {
  stage: Stage;
  /** The directory standing in for the stage's `/`. */
  root: string;
  config: ImageConfig;
  /** Milliseconds per step, labelled "line N OP ...". */
  timings: { step: string; ms: number }[];
}

/** The host path of a container path in a stage. */
export function hostPath(root: string, path: string): string {
  return join(root, containerPath('/', path));
}

function copyInto(from: string, to: string): void {
  const st = statSync(from);
  if (st.isDirectory()) {
    mkdirSync(to, { recursive: true });
    cpSync(from, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  } else {
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to); // keeps the mode bits, as COPY does
  }
}

function chownTree(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

function resolveChown(spec: string): { uid: number; gid: number } {
  const [u, g] = spec.split(':');
  const id = (name: string, field: 'uid' | 'gid'): number => {
    if (/^\d+$/.test(name)) return Number(name);
    const user = IMAGE_USERS[name];
    if (!user) throw new Error(`--chown=${spec}: unknown user or group ${name}`);
    return user[field];
  };
  const uid = id(u!, 'uid');
  return { uid, gid: g === undefined ? uid : id(g, 'gid') };
}

export class StageRunner {
  private readonly built = new Map<string, BuiltStage>();
  private readonly contextSet: Set<string>;
  private readonly running = new Set<number>();

  constructor(private readonly o: RunnerOptions) {
    this.contextSet = new Set(o.contextFiles);
  }

  /** Pids of RUN commands still running (their process groups), for a teardown. */
  get runningPids(): number[] {
    return [...this.running];
  }

  async build(stage: Stage): Promise<BuiltStage> {
    const root = join(this.o.workDir, `stage-${stage.index}-${stage.name ?? 'unnamed'}`);
    mkdirSync(root, { recursive: true });
    chmodSync(root, 0o755); // like an image's /, readable by every user
    const built: BuiltStage = { stage, root, config: imageConfig({ ...stage, steps: [] }), timings: [] };
    for (const step of stage.steps) {
      const started = Date.now();
      await this.apply(built, step);
      built.config = imageConfig({ ...stage, steps: stage.steps.slice(0, stage.steps.indexOf(step) + 1) });
      const label = `line ${step.line} ${step.op}${step.op === 'RUN' ? ` ${step.command}` : ''}`;
      built.timings.push({ step: label, ms: Date.now() - started });
    }
    this.built.set(String(stage.index), built);
    if (stage.name) this.built.set(stage.name, built);
    return built;
  }

  private async apply(b: BuiltStage, step: Step): Promise<void> {
    const c = b.config;
    switch (step.op) {
      case 'WORKDIR':
        mkdirSync(hostPath(b.root, containerPath(c.workdir, step.path)), { recursive: true });
        return;
      case 'COPY':
        this.copy(b, step);
        return;
      case 'RUN':
        await this.run(b, step.command, step.cacheMounts.map((m) => m.target), step.line);
        return;
      default:
        return; // configuration only (ENV, USER, EXPOSE, ENTRYPOINT, CMD, HEALTHCHECK): see imageConfig
    }
  }

  private copy(b: BuiltStage, step: Extract<Step, { op: 'COPY' }>): void {
    const dest = containerPath(b.config.workdir, step.dest);
    const destIsDir = step.dest.endsWith('/') || step.sources.length > 1 || existsSync(hostPath(b.root, dest)) && statSync(hostPath(b.root, dest)).isDirectory();
    const copied: string[] = [];
    for (const src of step.sources) {
      if (step.from !== undefined) {
        const from = this.built.get(step.from.toLowerCase());
        if (!from) throw new Error(`line ${step.line}: COPY --from=${step.from}: no earlier stage of that name`);
        const path = hostPath(from.root, src);
        if (!existsSync(path)) throw new Error(`line ${step.line}: COPY --from=${step.from} ${src}: not found in that stage`);
        const isDir = statSync(path).isDirectory();
        const target = hostPath(b.root, isDir || !destIsDir ? dest : `${dest}/${basename(src)}`);
        copyInto(path, target);
        copied.push(target);
        continue;
      }
      const rel = containerPath('/', src).slice(1); // context paths are relative to the context root, even with a leading /
      const under = rel === '' ? this.o.contextFiles : this.o.contextFiles.filter((f) => f.startsWith(`${rel}/`));
      if (this.contextSet.has(rel)) {
        const target = hostPath(b.root, destIsDir ? `${dest}/${basename(rel)}` : dest);
        copyInto(join(this.o.contextDir, rel), target);
        copied.push(target);
      } else if (under.length > 0) {
        for (const f of under) {
          const target = hostPath(b.root, `${dest}/${rel === '' ? f : f.slice(rel.length + 1)}`);
          copyInto(join(this.o.contextDir, f), target);
          copied.push(target);
        }
      } else {
        throw new Error(`line ${step.line}: COPY ${src}: not in the build context (missing, or left out by .dockerignore)`);
      }
    }
    if (step.chown !== undefined) {
      const { uid, gid } = resolveChown(step.chown);
      if (process.getuid?.() === 0) for (const t of copied) chownTree(t, uid, gid);
      else this.o.log(`line ${step.line}: --chown=${step.chown} not applied (the test does not run as root)`);
    }
  }

  private run(b: BuiltStage, command: string, cacheTargets: string[], line: number): Promise<void> {
    if (b.config.user !== 'root') throw new Error(`line ${line}: RUN as ${b.config.user} is not supported by this runner`);
    const links: string[] = [];
    for (const target of cacheTargets) {
      const hostDir = this.o.cacheDirs[target];
      if (!hostDir) throw new Error(`line ${line}: no host directory for the cache mount ${target}`);
      const link = hostPath(b.root, target);
      if (existsSync(link)) throw new Error(`line ${line}: cache mount ${target} would hide files of the stage`);
      mkdirSync(dirname(link), { recursive: true });
      mkdirSync(hostDir, { recursive: true });
      symlinkSync(hostDir, link);
      links.push(link);
    }
    const env = { ...this.o.baseEnv, HOME: hostPath(b.root, IMAGE_USERS.root!.home), ...b.config.env };
    mkdirSync(env.HOME, { recursive: true });
    const cwd = hostPath(b.root, b.config.workdir);
    this.o.log(`[${b.stage.name ?? b.stage.index}] RUN ${command}`);
    const [file, args] = withExactEnv(env, ['sh', '-c', command]);
    const child = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pid = child.pid!;
    this.running.add(pid);
    let output = '';
    const keep = (c: Buffer) => { output = (output + c.toString('utf8')).slice(-8000); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => process.kill(-pid, 'SIGKILL'), this.o.runTimeoutMs);
    return new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.running.delete(pid);
        for (const l of links) rmSync(l);
        if (code === 0) resolve();
        else reject(new Error(`line ${line}: RUN ${command} failed (${signal ?? `exit code ${code}`}):\n${output}`));
      });
    });
  }
}
