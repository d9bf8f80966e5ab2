// Host noise: how often, and for how long, a thread that only wants the CPU does not get it. One thread reads the
// clock in a loop for --seconds on an otherwise idle machine; every gap over GAP_MS between two reads is time it was
// off the CPU (on a VM, mostly the host taking the vCPU away). Latency percentiles of a relay are only as fine as this:
// at 2,000 requests/s a 2-ms gap delays about 4 requests, so a few gaps a second are what a p99 reports (peers, RESULTS.md).
//
// npm run bench -- host-noise [-- --seconds 5]
import { parseArgs } from 'node:util';

const GAP_MS = 0.5;

export async function run(argv: string[]): Promise<Record<string, number>> {
  const { values } = parseArgs({ args: argv.filter((a) => a !== '--'), options: { seconds: { type: 'string', default: '5' } } });
  const seconds = Number(values.seconds);
  const gaps: number[] = [];
  const end = performance.now() + seconds * 1000;
  let last = performance.now();
  for (let now = last; now < end; now = performance.now()) {
    if (now - last > GAP_MS) gaps.push(now - last);
    last = now;
  }
  const round1 = (x: number) => Math.round(x * 10) / 10;
  return {
    seconds,
    gapsOverHalfMsPerSec: round1(gaps.length / seconds),
    offCpuMsPerSec: round1(gaps.reduce((a, b) => a + b, 0) / seconds),
    longestGapMs: round1(Math.max(0, ...gaps)),
  };
}
