// Rates over sliding windows of a cumulative byte count (Kafka's quota system test asserts the rate a throttled client
// gets never exceeds the quota by more than 5%; here that is asked of every window of a given length).
import type { Sample } from './broker-bytes.js';

/**
 * The busiest window of at least `seconds`: for each sample, the first later one at least `seconds` after it; the
 * largest (bytes between them) ÷ (time between them) ÷ quota, and where that window starts.
 */
export function maxWindowRatio(samples: readonly Sample[], quota: number, seconds: number): { ratio: number; from: number } {
  let best = { ratio: 0, from: 0 };
  let j = 0;
  for (let i = 0; i < samples.length; i++) {
    const a = samples[i]!;
    while (j < samples.length && samples[j]!.seconds - a.seconds < seconds) j++;
    if (j === samples.length) break;
    const b = samples[j]!;
    const ratio = (b.value - a.value) / (b.seconds - a.seconds) / quota;
    if (ratio > best.ratio) best = { ratio, from: a.seconds };
  }
  return best;
}
