// The Dockerfile, without Docker: its instructions are checked (multi-stage, production dependencies only, non-root,
// exec-form ENTRYPOINT and CMD), its steps run in directories standing in for each stage's filesystem, and the
// runtime stage's ENTRYPOINT + CMD is started with a mounted config in front of the shared cluster: /healthz,
// /readyz, the HEALTHCHECK command and kcat's metadata through it, then SIGTERM and exit code 0.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { freePorts } from '../../src/local-kafka/ports.js';
import { runKcat } from '../support/kcat.js';
import { sharedCluster } from '../support/shared-cluster.js';
import { contextFiles, isExcluded, parseDockerignore } from './build-context.js';
import { containerArgv, DockerfileError, imageConfig, parseDockerfile, type Stage } from './dockerfile-parser.js';
import { hostPath, IMAGE_USERS, StageRunner, withExactEnv, type BuiltStage } from './stage-runner.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG_IN_IMAGE = '/etc/kafka-quota-proxy/proxy.yaml';
/** How long a start-up may take on a loaded machine (as test/support/proxy-process.ts waits for a proxy's port). */
const START_MS = 60_000;
/** How long the HEALTHCHECK command (a node start-up and one request) may take to exit. */
const HEALTHCHECK_MS = 30_000;
const stages = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const runtimeStage = stages.at(-1)!;
const runtimeConfig = imageConfig(runtimeStage);
const runs = (stage: Stage) => stage.steps.flatMap((s) => (s.op === 'RUN' ? [s.command] : []));

const workDir = mkdtempSync(join(tmpdir(), 'kqp-docker-'));
chmodSync(workDir, 0o755);
const started = new Set<number>(); // pids of the proxies this test starts
let runner: StageRunner | undefined;
const built: BuiltStage[] = [];

t.teardown(() => {
  for (const pid of started) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  for (const pid of runner?.runningPids ?? []) {
    try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  rmSync(workDir, { recursive: true, force: true });
});

t.test('the parser reads the instructions the Dockerfile uses and refuses the others', async (t) => {
  const parsed = parseDockerfile([
    '# syntax=docker/dockerfile:1',
    'FROM node:20-bookworm-slim AS Build',
    'WORKDIR /app',
    'RUN --mount=type=cache,target=/root/.npm npm ci \\',
    '  # a comment inside a continuation',
    '  && echo "done"',
    'FROM node:20-bookworm-slim',
    'ENV A=1 B="two words"',
    'WORKDIR sub',
    'COPY --from=build --chown=node:node /app/dist ./dist',
    'COPY a.json b.json ./',
    'USER node',
    'EXPOSE 9092 9644/tcp',
    'HEALTHCHECK NONE',
    'CMD node dist/cli.js',
  ].join('\n'));
  t.equal(parsed.length, 2);
  t.equal(parsed[0]!.name, 'build');
  t.same(parsed[0]!.steps[1], { op: 'RUN', line: 4, command: 'npm ci   && echo "done"', cacheMounts: [{ target: '/root/.npm' }] });
  const c = imageConfig(parsed[1]!);
  t.same(c.env, { A: '1', B: 'two words' });
  t.equal(c.workdir, '/sub');
  t.equal(c.user, 'node');
  t.same(c.exposed, [9092, 9644]);
  t.same(c.healthcheck, { options: {}, argv: null, execForm: false });
  t.same(containerArgv(c), ['/bin/sh', '-c', 'node dist/cli.js']);
  t.match(parsed[1]!.steps[2], { op: 'COPY', from: 'build', chown: 'node:node', sources: ['/app/dist'], dest: './dist' });
  t.match(parsed[1]!.steps[3], { op: 'COPY', sources: ['a.json', 'b.json'], dest: './' });
  for (const bad of ['FROM x\nADD a b', 'FROM x\nCOPY src/*.ts ./', 'FROM x\nARG V=1', 'FROM x\nCOPY --link a b', 'FROM x\nENV A 1',
    'FROM x\nRUN --mount=type=bind,target=/x true', 'FROM x\nENV A="1', 'FROM x\nWORKDIR $HOME', 'FROM x\nCMD ["a", 1]', 'WORKDIR /']) {
    t.throws(() => parseDockerfile(bad), DockerfileError, bad.replace('\n', ' | '));
  }
});

t.test('the Dockerfile: a build stage, and a runtime stage with production dependencies only, run as node', async (t) => {
  t.ok(stages.length > 1, `${stages.length} stages`);
  for (const s of stages) t.match(s.image, /^node:20-[a-z]+-slim$/, `stage ${s.name ?? s.index} builds on an official node 20 slim image`);
  const build = stages[0]!;
  t.ok(runs(build).some((c) => /^npm ci\b/.test(c) && !c.includes('--omit=dev')), 'the build stage installs every dependency');
  t.ok(runs(build).includes('npm run build'), 'the build stage runs npm run build');

  const installs = runs(runtimeStage).filter((c) => /\bnpm (ci|install|i)\b/.test(c));
  t.ok(installs.length > 0, 'the runtime stage installs its dependencies');
  for (const c of installs) t.match(c, /^npm ci\b.*--omit=dev/, `the runtime stage installs production dependencies only: ${c}`);
  t.ok(runtimeStage.steps.some((s) => s.op === 'COPY' && s.from === build.name && s.sources.includes('/app/dist')), 'dist/ comes from the build stage');
  t.notOk(runtimeStage.steps.some((s) => s.op === 'COPY' && !s.from && s.sources.some((p) => /^\.?\/?(src|test)\b/.test(p))), 'no sources in the runtime stage');

  t.equal(runtimeConfig.user, 'node', 'USER node');
  t.notOk(/^(root|0)(:|$)/.test(runtimeConfig.user), 'the runtime user is not root');
  t.same(runtimeConfig.entrypoint, { argv: ['node', '--single-threaded-gc', 'dist/cli.js'], execForm: true }, 'exec-form ENTRYPOINT: node gets SIGTERM itself');
  t.same(runtimeConfig.cmd, { argv: ['--config', CONFIG_IN_IMAGE], execForm: true });
  t.same(runtimeConfig.exposed.sort((a, b) => a - b), [9092, 9644]);
  t.ok(runtimeConfig.exposed.every((p) => p > 1023), 'a non-root user can bind every exposed port');

  const sample = parseYaml(readFileSync(join(REPO, 'config/proxy.yaml'), 'utf8')) as { listen: string; metrics: string };
  t.same([sample.listen, sample.metrics].map((a) => Number(a.split(':').at(-1))), [9092, 9644], 'config/proxy.yaml uses the exposed ports');

  const hc = runtimeConfig.healthcheck;
  t.ok(hc?.execForm && hc.argv?.[0] === 'node', 'HEALTHCHECK runs node itself (the slim image has no curl)');
  t.notMatch(hc?.argv?.join(' ') ?? '', /curl|wget/);
  t.equal(runtimeConfig.env.KQP_HEALTHCHECK_URL, 'http://127.0.0.1:9644/healthz', 'HEALTHCHECK asks the exposed metrics port');
  t.equal(runtimeConfig.env.NODE_ENV, 'production');
});

t.test('the build context: what the Dockerfile copies, nothing git ignores, no tests or local files', async (t) => {
  const rules = parseDockerignore(readFileSync(join(REPO, '.dockerignore'), 'utf8'));
  const files = contextFiles(REPO, rules);
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/cli.ts']) t.ok(files.includes(f), `${f} is in the context`);
  for (const dir of ['node_modules', 'dist', '.git', '.tap', 'tmp', 'test', 'bench', '.ci', 'deploy']) {
    t.notOk(files.some((f) => f === dir || f.startsWith(`${dir}/`)), `${dir}/ is left out`);
  }
  t.ok(isExcluded(rules, 'node_modules/tap/package.json') && isExcluded(rules, 'test/fixtures/captured-frames.jsonl'));
  const ignored = spawnSync('git', ['check-ignore', '--stdin'], { cwd: REPO, input: files.join('\n'), encoding: 'utf8' });
  t.equal(ignored.stdout.trim(), '', 'no file git ignores gets into the image build');
  t.comment(`${files.length} files in the build context`);
});

t.test('every step runs: npm ci and the build, then production dependencies and dist/ in the runtime stage', async (t) => {
  const rules = parseDockerignore(readFileSync(join(REPO, '.dockerignore'), 'utf8'));
  runner = new StageRunner({
    contextDir: REPO,
    contextFiles: contextFiles(REPO, rules),
    workDir,
    cacheDirs: { '/root/.npm': process.env.npm_config_cache ?? join(homedir(), '.npm') }, // a warm cache, as a BuildKit cache mount is
    baseEnv: {
      PATH: `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      npm_config_prefer_offline: 'true',
      npm_config_update_notifier: 'false',
    },
    runTimeoutMs: 300_000,
    log: (line) => t.comment(line),
  });
  t.comment(`stand-in for ${stages[0]!.image}: node ${process.version}, npm ${spawnSync('npm', ['--version'], { encoding: 'utf8' }).stdout.trim()} of this machine`);
  for (const stage of stages) {
    const b = await runner.build(stage);
    built.push(b);
    for (const { step, ms } of b.timings) if (ms >= 100) t.comment(`[${stage.name ?? stage.index}] ${(ms / 1000).toFixed(1)} s  ${step}`);
  }
  const [build, runtime] = [built[0]!, built.at(-1)!];
  t.ok(existsSync(hostPath(build.root, '/app/dist/cli.js')), 'the build stage has dist/cli.js');
  for (const tool of ['local-kafka', 'protocol/codegen']) t.notOk(existsSync(hostPath(build.root, `/app/dist/${tool}`)), `dist/ has no ${tool} (tests and codegen only)`);
  t.same(readdirSync(hostPath(runtime.root, '/app')).sort(), ['dist', 'node_modules', 'package-lock.json', 'package.json'], 'the runtime /app');
  t.notOk(existsSync(hostPath(runtime.root, '/root/.npm')), 'the npm cache stayed in the cache mount');
});

t.test('the runtime stage has production dependencies only', async (t) => {
  const runtime = built.at(-1);
  if (!runtime || built.length !== stages.length) return t.fail('the stages were not built');
  const app = hostPath(runtime.root, '/app');
  const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const installed: string[] = [];
  const walk = (modules: string) => {
    if (!existsSync(join(app, modules))) return;
    for (const name of readdirSync(join(app, modules))) {
      if (name.startsWith('.')) continue;
      const names = name.startsWith('@') ? readdirSync(join(app, modules, name)).map((n) => `${name}/${n}`) : [name];
      for (const n of names) {
        installed.push(`${modules}/${n}`);
        walk(`${modules}/${n}/node_modules`);
      }
    }
  };
  walk('node_modules');
  t.ok(installed.length > 0, `${installed.length} packages installed`);
  const notProduction = installed.filter((p) => !lock.packages[p] || lock.packages[p].dev);
  t.same(notProduction, [], 'every installed package is a production package of the lockfile');
  for (const dev of new Set([...Object.keys(pkg.devDependencies), 'typescript', 'tap', 'tsx', 'esbuild'])) {
    t.notOk(existsSync(join(app, 'node_modules', dev)), `no ${dev}`);
  }
  for (const dep of Object.keys(pkg.dependencies)) t.ok(existsSync(join(app, 'node_modules', dep, 'package.json')), `${dep} is installed`);
});

interface Container {
  pid: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/** Runs an argv of the runtime image's config as a container would: cwd WORKDIR, image ENV, the image's user. */
function runInImage(runtime: BuiltStage, argv: readonly string[], env: Record<string, string> = {}): Container {
  const user = IMAGE_USERS[runtime.config.user];
  if (!user) throw new Error(`unknown image user ${runtime.config.user}`);
  const args = argv.map((a) => (a.startsWith('/') ? hostPath(runtime.root, a) : a)); // container paths into the stage
  const asImageUser = process.getuid?.() === 0 ? { uid: user.uid, gid: user.gid } : {}; // otherwise: already not root
  const [file, fileArgs] = withExactEnv(
    { PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, HOME: hostPath(runtime.root, user.home), ...runtime.config.env, ...env },
    args,
  );
  const child = spawn(file, fileArgs, {
    cwd: hostPath(runtime.root, runtime.config.workdir),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...asImageUser,
  });
  started.add(child.pid!);
  let output = '';
  const keep = (c: Buffer) => { output = (output + c.toString('utf8')).slice(-16_000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      started.delete(child.pid!);
      resolve({ code, signal });
    });
  });
  return { pid: child.pid!, exit, output: () => output };
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(what: string, c: Container, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  let exited = false;
  void c.exit.then(() => { exited = true; });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the proxy exited before ${what}:\n${c.output()}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no ${what} within ${timeoutMs} ms:\n${c.output()}`);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms).unref())]);
}

t.test('without a mounted config the container says so and exits 2', async (t) => {
  const runtime = built.at(-1);
  if (!runtime || built.length !== stages.length) return t.fail('the stages were not built');
  const probe = runInImage(runtime, ['node', '-e', 'process.stdout.write(JSON.stringify(Object.keys(process.env).sort()))']);
  t.equal((await withTimeout(probe.exit, START_MS, 'env probe')).code, 0);
  t.same(JSON.parse(probe.output()), ['HOME', ...Object.keys(runtime.config.env), 'PATH'].sort(), "a container's environment is the image's only");
  const c = runInImage(runtime, containerArgv(runtime.config));
  const { code } = await withTimeout(c.exit, 30_000, 'the proxy without config');
  t.equal(code, 2);
  t.match(c.output(), /cannot read config file .*\/etc\/kafka-quota-proxy\/proxy\.yaml/);
});

t.test('ENTRYPOINT + CMD with a mounted config serves the shared cluster, then stops on SIGTERM with exit code 0', async (t) => {
  const runtime = built.at(-1);
  if (!runtime || built.length !== stages.length) return t.fail('the stages were not built');
  const cluster = sharedCluster();
  const broker = cluster.nodes[0]!;
  const [port, metricsPort] = await freePorts(2) as [number, number];
  // The "mount": the config file at the path CMD names, inside the runtime stage.
  const mounted = hostPath(runtime.root, CONFIG_IN_IMAGE);
  mkdirSync(dirname(mounted), { recursive: true });
  writeFileSync(mounted, [
    `listen: 127.0.0.1:${port}`,
    `upstream: ${broker.host}:${broker.port}`,
    'advertise:',
    '  mode: map',
    `  map: { "${broker.id}": "127.0.0.1:${port}" }`,
    'limits:',
    '  shutdownGraceMs: 5000',
    `metrics: 127.0.0.1:${metricsPort}`,
    'logLevel: info',
    '',
  ].join('\n'));

  const argv = containerArgv(runtime.config);
  t.comment(`running ${argv.join(' ')} as ${process.getuid?.() === 0 ? `uid ${IMAGE_USERS[runtime.config.user]!.uid} (${runtime.config.user})` : 'this non-root user'}`);
  const c = runInImage(runtime, argv);
  const metrics = `http://127.0.0.1:${metricsPort}`;
  const t0 = Date.now();
  await waitFor('/healthz', c, async () => (await httpGet(`${metrics}/healthz`)).status === 200, START_MS);
  t.pass(`/healthz answers 200 after ${Date.now() - t0} ms`);
  await waitFor('/readyz ready', c, async () => {
    const r = await httpGet(`${metrics}/readyz`);
    return r.status === 200 && r.body === 'ready\n';
  }, START_MS);
  t.pass(`/readyz says ready after ${Date.now() - t0} ms`);

  const healthcheck = runtime.config.healthcheck!.argv!;
  const hc = runInImage(runtime, healthcheck, { KQP_HEALTHCHECK_URL: `${metrics}/healthz` });
  t.equal((await withTimeout(hc.exit, HEALTHCHECK_MS, 'HEALTHCHECK')).code, 0, 'the HEALTHCHECK command succeeds');

  const md = await runKcat(['-L', '-b', `127.0.0.1:${port}`, '-m', '15'], undefined, 30_000);
  t.equal(md.code, 0, `kcat -L through the proxy exits 0 ${md.stderr}`);
  t.match(md.stdout, new RegExp(`${cluster.nodes.length} brokers:`), 'kcat sees every broker');
  t.match(md.stdout, new RegExp(`broker ${broker.id} at 127\\.0\\.0\\.1:${port}\\b`), "the proxy's broker is advertised at the proxy");

  const m = await httpGet(`${metrics}/metrics`);
  t.equal(m.status, 200, '/metrics answers');

  process.kill(c.pid, 'SIGTERM');
  const exit = await withTimeout(c.exit, 15_000, 'the proxy after SIGTERM');
  t.same(exit, { code: 0, signal: null }, 'exits 0 on SIGTERM');
  if (exit.code !== 0) t.comment(c.output());
  t.match(c.output(), /"msg":"proxy stopped"/);
  t.notMatch(c.output(), /Error|EACCES/, 'nothing went wrong on the way out');

  const after = runInImage(runtime, healthcheck, { KQP_HEALTHCHECK_URL: `${metrics}/healthz` });
  t.equal((await withTimeout(after.exit, HEALTHCHECK_MS, 'HEALTHCHECK')).code, 1, 'the HEALTHCHECK command fails once the proxy is gone');
});
