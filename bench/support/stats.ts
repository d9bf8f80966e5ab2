// Order statistics and ratios for bench figures. Missing data stays missing: no values give NaN (printed as null in
// the JSON), an undefined ratio gives null, never a 0 or a 1 that reads as a result.

/** The p-th percentile (0-100), linear between the two nearest ranks (numpy's default); NaN for no values or a NaN among them. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0 || xs.some(Number.isNaN)) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const at = (p / 100) * (s.length - 1);
  const below = s[Math.floor(at)]!;
  return below + (s[Math.ceil(at)]! - below) * (at - Math.floor(at));
}

/** The middle value, or the mean of the two middle ones; NaN for no values. */
export const median = (xs: readonly number[]): number => percentile(xs, 50);

/**
 * ours ÷ theirs, or null unless both are > 0: an added latency or an RSS difference can be 0 or negative (a round
 * that fell on a calmer moment, a garbage collection between two readings), and a ratio of two such figures means
 * nothing (-89 ÷ -96 ms gives 0.93, which reads as "7 % better").
 */
export function positiveRatio(ours: number | null, theirs: number | null): number | null {
  if (ours === null || theirs === null || !(ours > 0) || !(theirs > 0) || !Number.isFinite(ours) || !Number.isFinite(theirs)) return null;
  return ours / theirs;
}
