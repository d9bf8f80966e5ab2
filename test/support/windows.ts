// Rates over sliding windows of a cumulative byte count (Kafka's quota system test asserts the rate a throttled client
// gets never exceeds the quota by more than 5%; here that is asked of every window of a given length, and of the run).
import type { Sample } from './broker-bytes.js';

/**
 * The busiest window of at least `seconds`: for each sample, the first later one at least `seconds` after it; the
 * largest (bytes between them − what the tenant had saved at the window's start, `saved(seconds)`) ÷ (time between
 * them) ÷ quota, and where that window starts. A tenant that paused has banked tokens (up to its burst) and may spend
 * them at once: that is the burst's purpose, not an excess, so it is taken off when `saved` is given.
 */
export function maxWindowRatio(samples: readonly Sample[], quota: number, seconds: number, saved: (at: number) => number = () => 0): { ratio: number; from: number; saved: number } {
  let best = { ratio: 0, from: 0, saved: 0 };
  let j = 0;
  for (let i = 0; i < samples.length; i++) {
    const a = samples[i]!;
    while (j < samples.length && samples[j]!.seconds - a.seconds < seconds) j++;
    if (j === samples.length) break;
    const b = samples[j]!;
    const s = saved(a.seconds);
    const ratio = (b.value - a.value - s) / (b.seconds - a.seconds) / quota;
    if (ratio > best.ratio) best = { ratio, from: a.seconds, saved: s };
  }
  return best;
}

/**
 * The rate over the whole load, ÷ quota: from the last sample before the count first moved to the first sample that
 * reached its final value (so that time before the load started and after it stopped is not counted).
 */
export function wholeRunRatio(samples: readonly Sample[], quota: number): number {
  const first = samples[0]!.value;
  const last = samples[samples.length - 1]!.value;
  let from = 0;
  while (from + 1 < samples.length && samples[from + 1]!.value === first) from++;
  let to = samples.length - 1;
  while (to - 1 > from && samples[to - 1]!.value === last) to--;
  return (last - first) / (samples[to]!.seconds - samples[from]!.seconds) / quota;
}

/** The largest of the samples taken within `slack` seconds of `at` (0 when there is none). */
export function nearMax(samples: readonly Sample[], at: number, slack: number): number {
  let best = 0;
  for (const s of samples) if (Math.abs(s.seconds - at) <= slack && s.value > best) best = s.value;
  return best;
}
