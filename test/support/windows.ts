// Rates over sliding windows of a cumulative byte count (Kafka's quota system test asserts the rate a throttled client
// gets never exceeds the quota by more than 5%; here that is asked of every window of a given length, and of the run).
import type { Sample } from './broker-bytes.js';

/**
 * The busiest window of at least `seconds`: for each sample, the first later one at least `seconds` after it; the
 * largest (bytes between them − what the tenant had saved at the window's start, `saved(seconds)`) ÷ (time between
 * them) ÷ quota, and where that window starts. A tenant that paused has banked tokens (up to its burst) and may spend
 * them at once: that is the burst's purpose, not an excess, so it is taken off when `saved` is given. A ratio of NaN
 * when the samples span less than `seconds` (no window was measured: not a rate of 0, which would read as a pass).
 */
export function maxWindowRatio(samples: readonly Sample[], quota: number, seconds: number, saved: (at: number) => number = () => 0): { ratio: number; from: number; saved: number } {
  let best = { ratio: NaN, from: 0, saved: 0 };
  let j = 0;
  for (let i = 0; i < samples.length; i++) {
    const a = samples[i]!;
    while (j < samples.length && samples[j]!.seconds - a.seconds < seconds) j++;
    if (j === samples.length) break;
    const b = samples[j]!;
    const s = saved(a.seconds);
    const ratio = (b.value - a.value - s) / (b.seconds - a.seconds) / quota;
    if (Number.isFinite(ratio) && !(ratio <= best.ratio)) best = { ratio, from: a.seconds, saved: s };
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

/**
 * What a tenant had saved at `at`: its bucket's tokens above what a new bucket starts with (the first sample), from
 * the largest sample within `slack` seconds of `at`; where a loaded machine delayed the sampler (an HTTP request to a
 * busy proxy) and left none that near, from the larger of the samples on either side of the gap.
 */
export function savedAt(tokens: readonly Sample[], at: number, slack: number): number {
  let near = tokens.filter((s) => Math.abs(s.seconds - at) <= slack);
  if (near.length === 0) near = [tokens.filter((s) => s.seconds <= at).pop(), tokens.find((s) => s.seconds > at)].filter((s) => s !== undefined);
  if (near.length === 0) return 0;
  return Math.max(0, Math.max(...near.map((s) => s.value)) - tokens[0]!.value);
}

/** A cumulative count's value at `at`: linear between the samples on either side, the first or last one beyond them. */
export function valueAt(samples: readonly Sample[], at: number): number {
  let i = 0;
  while (i < samples.length && samples[i]!.seconds < at) i++;
  if (i === 0) return samples[0]!.value;
  if (i === samples.length) return samples[i - 1]!.value;
  const [a, b] = [samples[i - 1]!, samples[i]!];
  return a.value + ((b.value - a.value) * (at - a.seconds)) / (b.seconds - a.seconds);
}
