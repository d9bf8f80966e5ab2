// Charges requests and responses to their tenants' buckets and says how long each tenant must be throttled.
// Counted as Kafka counts: produce bytes are the request's size (header + body), fetch bytes the response's size,
// requests one each (a proxy cannot see the broker's handler time, KIP-124, so it counts requests).
import type { ProxyConfig } from '../config/load-config.js';
import { BucketTable } from './bucket-table.js';
import { QuotaRules, FETCH, PRODUCE, REQUESTS, KIND_NAMES, type QuotaKind, type ResolvedQuota } from './quota-rules.js';
import { TenantResolver } from './tenant-resolver.js';
import type { QuotaMetrics } from '../observability/quota-metrics.js';

const PRODUCE_API = 0;
const SASL_HANDSHAKE_API = 17;
const SASL_AUTHENTICATE_API = 36;

/** A connection's view of its tenant, with the resolution of its last client id cached. */
export interface TenantState {
  user: string;
  clientId: string | null | undefined;
  /** Per kind: the quota that applies and the bucket key, for the cached client id. */
  quotas: (ResolvedQuota | undefined)[];
  keys: string[];
  /** Metrics label: a tenant named in the config, or "other". */
  label: string;
}

export interface FetchAllowance {
  /** How long to hold the fetch before forwarding it (the tenant is in debt). */
  waitMs: number;
  /** The most the tenant may take now (Infinity when no fetch quota applies). */
  maxBytes: number;
}

const UNLIMITED: FetchAllowance = { waitMs: 0, maxBytes: Infinity };

/**
 * A fetch is forwarded once its tenant's bucket holds at least half its burst, and asks for no more than the bucket
 * holds. A capped response ends in a partial record batch that the consumer fetches again, so small caps waste quota
 * (up to a batch per response); half a bucket or more per response keeps that waste a small share.
 */
const FETCH_QUANTUM_OF_BURST = 0.5;

export class QuotaEnforcer {
  readonly table: BucketTable;
  readonly rules: QuotaRules;
  readonly tenants: TenantResolver;
  /** False when no quota is configured: the proxy then only relays. */
  readonly active: boolean;
  private readonly named: Set<string>;
  private readonly allowance: FetchAllowance = { waitMs: 0, maxBytes: Infinity };

  constructor(config: ProxyConfig, private readonly metrics: QuotaMetrics, now: () => number) {
    this.rules = new QuotaRules(config.quotas);
    this.tenants = new TenantResolver(config.tenants);
    this.table = new BucketTable(config.quotaTable.capacity, config.quotaTable.maxKeyLength, now);
    this.active = config.quotas.length > 0;
    this.named = QuotaRules.namedTenants(config.quotas);
    metrics.watchTable(this.table);
  }

  newTenant(remoteAddress: string | undefined): TenantState {
    return { user: this.tenants.connectionUser(remoteAddress), clientId: undefined, quotas: [], keys: [], label: 'other' };
  }

  /** A SASL exchange succeeded for `principal`: it becomes the connection's user (when users come from SASL). */
  bindPrincipal(state: TenantState, principal: string): void {
    if (!this.tenants.userFromSasl) return;
    state.user = principal;
    state.clientId = undefined;
  }

  private resolve(state: TenantState, clientId: string | null): void {
    if (state.clientId === clientId) return;
    const entity = this.tenants.clientEntity(clientId);
    state.clientId = clientId;
    for (let k = 0; k < 3; k++) {
      const q = this.rules.resolve(k as QuotaKind, state.user, entity);
      state.quotas[k] = q;
      state.keys[k] = q ? `${q.userTag}\u0000${q.clientTag}` : '';
    }
    state.label = this.named.has(state.user) ? state.user : this.named.has(entity) ? entity : 'other';
  }

  /** Charges a request (produce bytes, one request); returns the throttle time in ms (0: none). */
  chargeRequest(state: TenantState, clientId: string | null, apiKey: number, bytes: number): number {
    this.resolve(state, clientId);
    let throttle = 0;
    if (apiKey === PRODUCE_API) {
      this.metrics.bytes(state.label, 'produce', bytes);
      throttle = this.charge(state, PRODUCE, bytes);
    }
    if (apiKey !== SASL_HANDSHAKE_API && apiKey !== SASL_AUTHENTICATE_API) throttle = Math.max(throttle, this.charge(state, REQUESTS, 1));
    return throttle;
  }

  /** Before forwarding a fetch: how long to hold it, and how many bytes it may ask for. Reused object. */
  fetchAllowance(state: TenantState, clientId: string | null): FetchAllowance {
    this.resolve(state, clientId);
    const q = state.quotas[FETCH];
    if (!q) return UNLIMITED;
    const tokens = this.table.tokensOf(this.table.slotFor(state.keys[FETCH]!), FETCH, q.rate, q.burst);
    const quantum = q.burst * FETCH_QUANTUM_OF_BURST;
    this.allowance.waitMs = tokens >= quantum ? 0 : ((quantum - tokens) / q.rate) * 1000;
    this.allowance.maxBytes = Math.max(1, Math.floor(Math.max(tokens, quantum)));
    return this.allowance;
  }

  /** Charges a fetch response's size to the tenant of the connection's last request; returns the throttle in ms. */
  chargeFetchResponse(state: TenantState, bytes: number): number {
    this.metrics.bytes(state.label, 'fetch', bytes);
    return state.quotas[FETCH] ? this.charge(state, FETCH, bytes) : 0;
  }

  /** Records that a request was throttled for `ms`. */
  throttled(state: TenantState, ms: number): void {
    this.metrics.throttled(state.label, ms);
  }

  private charge(state: TenantState, kind: QuotaKind, cost: number): number {
    const q = state.quotas[kind];
    if (!q) return 0;
    return this.table.charge(this.table.slotFor(state.keys[kind]!), kind, cost, q.rate, q.burst);
  }

  /** What applies to (user, clientId) and the state of its buckets, for the HTTP endpoint (charges nothing). */
  inspect(user: string, clientId: string): object {
    const entity = this.tenants.clientEntity(clientId);
    const kinds: Record<string, object> = {};
    for (let k = 0; k < 3; k++) {
      const q = this.rules.resolve(k as QuotaKind, user, entity);
      if (!q) {
        kinds[KIND_NAMES[k]!] = { quota: null };
        continue;
      }
      const slot = this.table.find(`${q.userTag}\u0000${q.clientTag}`);
      const tokens = slot === undefined ? q.burst : this.table.tokensOf(slot, k, q.rate, q.burst);
      kinds[KIND_NAMES[k]!] = {
        quota: { entity: q.entity, level: q.level, ratePerSec: q.rate, burst: q.burst },
        bucket: { key: { user: q.userTag, clientId: q.clientTag }, slot: slot ?? null, tokens, throttleMs: tokens >= 0 ? 0 : (-tokens / q.rate) * 1000 },
      };
    }
    return { user, clientId, clientEntity: entity, ...kinds, table: this.table.stats };
  }
}
