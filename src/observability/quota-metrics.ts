// Per-tenant quota metrics. Tenants named in the config are labelled by name; everyone else is "other", so the label
// set is bounded by the config. The bucket table reports its occupancy, evictions and overflow.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BucketTable } from '../quota/bucket-table.js';
import { QUOTA_KINDS, type QuotaKind } from '../quota/quota-kinds.js';

interface TenantChildren {
  /** By kind: bytes charged (kinds counted in bytes only). */
  bytes: ({ inc(n: number): void } | undefined)[];
  throttleSeconds: { inc(n: number): void };
  throttledRequests: { inc(): void };
  wouldThrottleSeconds: { inc(n: number): void };
}

export class QuotaMetrics {
  private readonly bytesTotal: Counter<'tenant' | 'kind'>;
  private readonly throttleSeconds: Counter<'tenant'>;
  private readonly throttledRequests: Counter<'tenant'>;
  private readonly wouldThrottleSeconds: Counter<'tenant'>;
  private readonly children = new Map<string, TenantChildren>();

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    this.bytesTotal = new Counter({ name: 'kqp_tenant_bytes_total', help: `Bytes charged to a tenant, by kind: ${QUOTA_KINDS.filter((k) => k.unit === 'bytes').map((k) => k.charged).join('; ')}`, labelNames: ['tenant', 'kind'], registers });
    this.throttleSeconds = new Counter({ name: 'kqp_tenant_throttle_seconds_total', help: 'Throttle time given to a tenant', labelNames: ['tenant'], registers });
    this.throttledRequests = new Counter({ name: 'kqp_tenant_throttled_requests_total', help: 'Requests that got a throttle', labelNames: ['tenant'], registers });
    this.wouldThrottleSeconds = new Counter({
      name: 'kqp_tenant_would_throttle_seconds_total', help: 'Throttle time a tenant would have been given by its quotas in shadow mode (nothing was enforced)', labelNames: ['tenant'], registers,
    });
  }

  watchTable(table: BucketTable): void {
    const registers = [this.registry];
    const s = table.stats;
    new Gauge({ name: 'kqp_quota_slots_used', help: 'Quota table slots in use', registers, collect() { this.set(s.used); } });
    new Gauge({ name: 'kqp_quota_slots_capacity', help: 'Quota table capacity', registers, collect() { this.set(s.capacity); } });
    new Gauge({ name: 'kqp_quota_evictions_total', help: 'Slots reused for another key', registers, collect() { this.set(s.evictions); } });
    new Gauge({
      name: 'kqp_quota_evictions_lost_debt_total', help: 'Evictions of buckets that had not refilled (the table is too small)', registers,
      collect() { this.set(s.evictionsLostDebt); },
    });
    new Gauge({
      name: 'kqp_quota_overflow_total', help: 'Keys charged to the shared overflow bucket because every candidate slot was throttled', registers,
      collect() { this.set(s.overflowed); },
    });
  }

  private of(tenant: string): TenantChildren {
    let c = this.children.get(tenant);
    if (!c) {
      c = {
        bytes: QUOTA_KINDS.map((k) => (k.unit === 'bytes' ? this.bytesTotal.labels(tenant, k.name) : undefined)),
        throttleSeconds: this.throttleSeconds.labels(tenant),
        throttledRequests: this.throttledRequests.labels(tenant),
        wouldThrottleSeconds: this.wouldThrottleSeconds.labels(tenant),
      };
      this.children.set(tenant, c);
    }
    return c;
  }

  /** Bytes charged to a tenant's quota of a kind counted in bytes. */
  bytes(tenant: string, kind: QuotaKind, n: number): void {
    this.of(tenant).bytes[kind]!.inc(n);
  }

  wouldThrottle(tenant: string, ms: number): void {
    this.of(tenant).wouldThrottleSeconds.inc(ms / 1000);
  }

  throttled(tenant: string, ms: number, newRequest: boolean): void {
    const c = this.of(tenant);
    c.throttleSeconds.inc(ms / 1000);
    if (newRequest) c.throttledRequests.inc();
  }
}
