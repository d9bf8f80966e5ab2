// A cluster-scoped quota divided among the sidecars that serve its tenant: max-min fair by demand, with a floor.
//
// Every sidecar runs this on the same published demands, so they agree on each other's shares and the shares add up
// to the quota (never more). Each sidecar first gets a floor (`floorShare` of the quota, split evenly: what a sidecar
// that saw no traffic for the tenant serves at once when some arrives); the rest is water-filled: a sidecar that
// needs less than the level keeps what it needs, the others share what is left equally. What nobody needs is spread
// evenly again, so the sum is always the quota.

/** A demand meaning "wants more than it has" (it was throttled): it takes whatever the level gives. */
export const WANTS_MORE = Infinity;

/**
 * Writes into `out[0..demands.length)` each sidecar's share of `quota` (same unit as the demands). `demands[j]` is what
 * sidecar j needs (0 for none, WANTS_MORE when it was throttled). No allocation: `out` is the caller's.
 */
export function fairShares(quota: number, demands: ArrayLike<number>, floorShare: number, out: Float64Array): void {
  const n = demands.length;
  if (n === 0) return;
  const floor = (quota * floorShare) / n;
  let left = quota - floor * n;
  let open = n;
  for (let j = 0; j < n; j++) out[j] = NaN; // NaN: not yet satisfied
  // water-filling: satisfy those below the level, until nobody is
  for (let changed = true; changed && open > 0;) {
    changed = false;
    const level = left / open;
    for (let j = 0; j < n; j++) {
      if (!Number.isNaN(out[j]!)) continue;
      const need = Math.max(0, demands[j]! - floor);
      if (need <= level) {
        out[j] = floor + need;
        left -= need;
        open--;
        changed = true;
      }
    }
  }
  const level = open > 0 ? left / open : 0;
  const spread = open > 0 ? 0 : left / n; // everyone satisfied: what nobody needs is spread evenly
  for (let j = 0; j < n; j++) out[j] = Number.isNaN(out[j]!) ? floor + level : out[j]! + spread;
}
