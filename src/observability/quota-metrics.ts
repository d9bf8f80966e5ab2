// Per-tenant quota metrics. Tenants named in the config are labelled by name; everyone else is "other", so the label
// set is bounded by the config. The configured quotas themselves, by entity. The bucket table reports its occupancy,
// evictions and overflow.
import { Gauge, type Registry } from 'prom-client';
import type { BucketTable } from '../quota/bucket-table.js';
import { QUOTA_KINDS, type QuotaKind } from '../quota/quota-kinds.js';
import { MAX_NAMED_TENANTS, entityOf } from '../quota/quota-rules.js';
import type { QuotaEntry } from '../config/load-config.js';
import { registerScrapedMetric, type Sample } from './scraped-metric.js';

/** The label of every tenant the config does not name. */
export const OTHER = 'other';

/** The kinds counted in bytes, by index. */
const BYTE_KINDS = QUOTA_KINDS.flatMap((k, i) => (k.unit === 'bytes' ? [i] : []));

/**
 * One tenant's counts, plain numbers (every produce request and fetch response adds bytes: no label hashing on the
 * hot path). A count never touched is not listed, as a prom-client child never incremented is not.
 */
class TenantCounts {
  readonly bytes = new Float64Array(QUOTA_KINDS.length);
  readonly bytesTouched = new Uint8Array(QUOTA_KINDS.length);
  throttleSeconds: number | undefined;
  /** Wall-clock seconds in which some connection of the tenant was throttled, and until when (ms) it is now. */
  throttledTimeSeconds: number | undefined;
  throttledUntilMs = -Infinity;
  throttledRequests: number | undefined;
  wouldThrottleSeconds: number | undefined;

  constructor(readonly tenant: string) {}
}

export class QuotaMetrics {
  private readonly tenants = new Map<string, TenantCounts>();
  /** The config's quotas as samples of kqp_quota_rate and kqp_quota_burst (set at start and at each reload). */
  private configured: { rates: Sample[]; bursts: Sample[] } = { rates: [], bursts: [] };

  constructor(private readonly registry: Registry) {
    const units = QUOTA_KINDS.map((k) => `${k.name} in ${k.unit}`).join(', ');
    const which = `labelled by its entity as Kafka writes it (user=U,client-id=C), kind, scope (broker: each sidecar's; cluster: the total across the sidecars) and mode (enforce or shadow); the config's first ${MAX_NAMED_TENANTS} entries`;
    registerScrapedMetric(registry, 'kqp_quota_rate', `Each configured quota's rate per second (${units}), ${which}`, 'gauge', () => this.configured.rates);
    registerScrapedMetric(registry, 'kqp_quota_burst', `Each configured quota's burst (its bucket's size, in the kind's unit), ${which}`, 'gauge', () => this.configured.bursts);
    const byteKinds = BYTE_KINDS.map((i) => QUOTA_KINDS[i]!.charged).join('; ');
    registerScrapedMetric(registry, 'kqp_tenant_bytes_total', `Bytes charged to a tenant, by kind: ${byteKinds}`, 'counter', () => {
      const out: Sample[] = [];
      for (const c of this.tenants.values()) {
        for (const i of BYTE_KINDS) if (c.bytesTouched[i]) out.push({ labels: { tenant: c.tenant, kind: QUOTA_KINDS[i]!.name }, value: c.bytes[i]! });
      }
      return out;
    });
    const perTenant = (name: string, help: string, of: (c: TenantCounts) => number | undefined) => registerScrapedMetric(registry, name, help, 'counter',
      () => [...this.tenants.values()].flatMap((c) => (of(c) === undefined ? [] : [{ labels: { tenant: c.tenant }, value: of(c)! }])));
    perTenant('kqp_tenant_throttle_seconds_total', 'Throttle time given to a tenant (summed over its connections)', (c) => c.throttleSeconds);
    perTenant('kqp_tenant_throttled_time_seconds_total', 'Time during which a tenant had a connection throttled (at most one second a second)',
      (c) => c.throttledTimeSeconds);
    perTenant('kqp_tenant_throttled_requests_total', 'Requests that got a throttle', (c) => c.throttledRequests);
    perTenant('kqp_tenant_would_throttle_seconds_total', 'Throttle time a tenant would have been given by its quotas in shadow mode (nothing was enforced)',
      (c) => c.wouldThrottleSeconds);
  }

  watchTable(table: BucketTable): void {
    const registers = [this.registry];
    const s = table.stats;
    new Gauge({ name: 'kqp_quota_slots_used', help: 'Quota table slots in use', registers, collect() { this.set(s.used); } });
    new Gauge({ name: 'kqp_quota_slots_capacity', help: 'Quota table capacity', registers, collect() { this.set(s.capacity); } });
    // counters the table keeps: exported as counters (their TYPE says so), read at each scrape
    const counter = (name: string, help: string, value: () => number) => registerScrapedMetric(this.registry, name, help, 'counter', () => [{ labels: {}, value: value() }]);
    counter('kqp_quota_evictions_total', 'Slots reused for another key', () => s.evictions);
    counter('kqp_quota_evictions_lost_debt_total', 'Evictions of buckets that had not refilled (the table is too small)', () => s.evictionsLostDebt);
    counter('kqp_quota_overflow_total', 'Keys charged to the overflow slot (throttled as from an empty bucket) because every candidate slot was throttled', () => s.overflowed);
  }

  /** The config's quotas (at start and at a reload), the first MAX_NAMED_TENANTS entries: a config may hold 100,000. */
  quotas(entries: readonly QuotaEntry[]): void {
    const rates: Sample[] = [];
    const bursts: Sample[] = [];
    for (const e of entries.slice(0, MAX_NAMED_TENANTS)) {
      const entity = entityOf(e.user, e.clientId);
      e.rates.forEach((r, k) => {
        if (!r) return;
        const labels = { entity, kind: QUOTA_KINDS[k]!.name, scope: e.cluster ? 'cluster' : 'broker', mode: e.shadow ? 'shadow' : 'enforce' };
        rates.push({ labels, value: r.rate });
        bursts.push({ labels, value: r.burst });
      });
    }
    this.configured = { rates, bursts };
  }

  /**
   * A reload's named tenants: the counts of tenants no longer named are dropped (their series end), so that reloads
   * that name new tenants do not grow the label set past what one config names.
   */
  retain(named: ReadonlySet<string>): void {
    for (const tenant of this.tenants.keys()) if (tenant !== OTHER && !named.has(tenant)) this.tenants.delete(tenant);
  }

  private of(tenant: string): TenantCounts {
    let c = this.tenants.get(tenant);
    if (!c) {
      c = new TenantCounts(tenant);
      this.tenants.set(tenant, c);
    }
    return c;
  }

  /** Bytes charged to a tenant's quota of a kind counted in bytes. */
  bytes(tenant: string, kind: QuotaKind, n: number): void {
    const c = this.of(tenant);
    c.bytes[kind] += n;
    c.bytesTouched[kind] = 1;
  }

  wouldThrottle(tenant: string, ms: number): void {
    const c = this.of(tenant);
    c.wouldThrottleSeconds = (c.wouldThrottleSeconds ?? 0) + ms / 1000;
  }

  /** `ms` of throttle from `nowMs` on (the clock's milliseconds) to a tenant's connection. */
  throttled(tenant: string, ms: number, newRequest: boolean, nowMs: number): void {
    const c = this.of(tenant);
    c.throttleSeconds = (c.throttleSeconds ?? 0) + ms / 1000;
    // the union of its connections' throttles: only what this one adds past the end of those before it
    const until = nowMs + ms;
    c.throttledTimeSeconds = (c.throttledTimeSeconds ?? 0) + Math.max(0, until - Math.max(nowMs, c.throttledUntilMs)) / 1000;
    c.throttledUntilMs = Math.max(c.throttledUntilMs, until);
    if (newRequest) c.throttledRequests = (c.throttledRequests ?? 0) + 1;
  }
}
