// The README's main-job command: `npm run demo` starts its own Kafka and the proxy, and its live table shows the noisy
// tenant held to its 1 MB/s quota (and throttled) while the quiet one gets what it sends (0.5 MB/s) untouched. It
// measures rates, so it runs in the serial phase, with no other test competing for the two cores.
import t from 'tap';
import { spawn } from 'node:child_process';

const MB = 1024 * 1024;
const SECONDS = 16;
const SETTLED_FROM = 6; // ticks before this are the start (buckets full, producers connecting)

interface Row {
  tick: number;
  tenant: string;
  mbPerSec: number;
  quotaMbPerSec: number;
  throttledMsPerSec: number;
}

/** What the quiet tenant's client had sent when a row was printed: the produce bytes the proxy charged it by then. */
interface Sent {
  bytes: number;
  at: number;
}

async function quietSent(metricsUrl: string): Promise<Sent | undefined> {
  const at = performance.now();
  const text = await (await fetch(metricsUrl)).text().catch(() => '');
  const m = /^kqp_tenant_bytes_total\{(?=[^}]*tenant="quiet")(?=[^}]*kind="produce")[^}]*\} (\S+)$/m.exec(text);
  return m ? { bytes: Number(m[1]), at } : undefined;
}

function run(): Promise<{ code: number | null; stdout: string; stderr: string; sent: Map<number, Sent> }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo/demo.ts', '--seconds', String(SECONDS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let metricsUrl: string | undefined;
    let partial = '';
    const reading: Promise<void>[] = [];
    const sent = new Map<number, Sent>();
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      const lines = (partial + c.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const tick = /^(\d+)s\s+quiet\s/.exec(line)?.[1];
        if (tick && metricsUrl) reading.push(quietSent(metricsUrl).then((r) => void (r && sent.set(Number(tick), r)), () => undefined));
      }
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-20_000);
      metricsUrl ??= /metrics on (http:\S+\/metrics)/.exec(stderr)?.[1];
    });
    child.on('exit', (code) => void Promise.all(reading).then(() => resolve({ code, stdout, stderr, sent })));
  });
}

t.test(`npm run demo -- --seconds ${SECONDS}`, async (t) => {
  const { code, stdout, stderr, sent } = await run();
  t.equal(code, 0, 'exits cleanly');
  if (code !== 0) t.comment(stderr);
  const rows: Row[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(\d+)s\s+(\w+)\s+([\d.]+) MB\/s\s+([\d.]+) MB\/s\s+(\d+) ms\/s$/.exec(line.trim());
    if (m) rows.push({ tick: Number(m[1]), tenant: m[2]!, mbPerSec: Number(m[3]), quotaMbPerSec: Number(m[4]), throttledMsPerSec: Number(m[5]) });
  }
  // a row per tenant per second on a fixed grid; a second is lost only when the demo stalls for longer than a second
  // (up to 3 such stalls allowed, which keeps at least 6 settled seconds)
  t.ok(rows.length >= 2 * (SECONDS - 4), `a row per tenant per second (${rows.length} rows)`);
  const settled = (tenant: string) => rows.filter((r) => r.tenant === tenant && r.tick >= SETTLED_FROM);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const noisy = settled('noisy');
  const quiet = settled('quiet');
  const noisyRate = mean(noisy.map((r) => r.mbPerSec));
  const quietRate = mean(quiet.map((r) => r.mbPerSec));
  t.comment(`settled: noisy ${noisyRate.toFixed(2)} MB/s, quiet ${quietRate.toFixed(2)} MB/s`);
  t.equal(noisy[0]?.quotaMbPerSec, 1, 'the table shows the noisy quota from config/demo.yaml');
  // at most the quota (plus its 1 MB burst spread over the settled seconds); at least 0.8 of it for the share of the
  // time the tenant was throttled (while in debt it gets exactly its quota; the rest of the time its client asked for
  // less, which on a loaded machine is the client's doing)
  const throttledShare = Math.min(1, mean(noisy.map((r) => r.throttledMsPerSec)) / 1000);
  t.ok(noisyRate > 0.8 * throttledShare && noisyRate < 1.2,
    `the broker gets the noisy tenant's quota: ${noisyRate.toFixed(2)} MB/s for 1 MB/s (throttled ${(throttledShare * 100).toFixed(0)}% of the time)`);
  t.ok(noisy.filter((r) => r.throttledMsPerSec > 0).length >= noisy.length / 2, 'the noisy tenant is throttled');
  // what its client sends (0.5 MB/s from its start, less if a loaded machine starves it) is its own doing: the broker
  // gets it, over the settled rows from the row before them to the last one printed while the proxy still answered
  const lastTick = quiet.filter((r) => sent.has(r.tick)).at(-1)?.tick ?? 0;
  const [from, to] = [sent.get(quiet[0]!.tick - 1), sent.get(lastTick)];
  const sentRate = from && to ? (to.bytes - from.bytes) / MB / ((to.at - from.at) / 1000) : NaN;
  const gotRate = mean(quiet.filter((r) => r.tick <= lastTick).map((r) => r.mbPerSec));
  t.ok(sentRate > 0 && gotRate >= 0.8 * sentRate && gotRate <= 1.2 * sentRate,
    `the quiet tenant gets what it sends: the broker got ${gotRate.toFixed(2)} MB/s, its client sent ${sentRate.toFixed(2)} MB/s (paced at 0.5)`);
  t.ok(quiet.every((r) => r.throttledMsPerSec === 0), 'the quiet tenant is never throttled');
});
