// The README's main-job command: `npm run demo` starts its own Kafka and the proxy, and its live table shows the noisy
// tenant held to its 1 MB/s quota (and throttled) while the quiet one gets its 0.5 MB/s untouched. It measures rates, so
// it runs in the serial phase, with no other test competing for the two cores.
import t from 'tap';
import { spawn } from 'node:child_process';

const SECONDS = 16;
const SETTLED_FROM = 6; // ticks before this are the start (buckets full, producers connecting)

interface Row {
  tick: number;
  tenant: string;
  mbPerSec: number;
  quotaMbPerSec: number;
  throttledMsPerSec: number;
}

function run(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo/demo.ts', '--seconds', String(SECONDS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-20_000)));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test(`npm run demo -- --seconds ${SECONDS}`, async (t) => {
  const { code, stdout, stderr } = await run();
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
  t.ok(quietRate > 0.4 && quietRate < 0.6, `the quiet tenant gets what it sends: ${quietRate.toFixed(2)} MB/s of 0.5`);
  t.ok(quiet.every((r) => r.throttledMsPerSec === 0), 'the quiet tenant is never throttled');
});
