// Charges requests and responses to their tenants' buckets and says how long each tenant must be throttled.
// Counted as Kafka counts: produce bytes are the request's size (header + body), fetch bytes the response's size,
// requests one each (a proxy cannot see the broker's handler time, KIP-124, so it counts requests).
import type { ProxyConfig } from '../config/load-config.js';
import { BucketTable } from './bucket-table.js';
import { QuotaRules, type ResolvedQuota } from './quota-rules.js';
import { FETCH, KINDS, PRODUCE, QUOTA_KINDS, REQUESTS, type QuotaKind, type QuotaKindSpec } from './quota-kinds.js';
import { ANONYMOUS, TenantResolver } from './tenant-resolver.js';
import { OTHER, type QuotaMetrics } from '../observability/quota-metrics.js';
import type { ClusterShares } from './cluster-shares.js';

/** A connection's view of its tenant, with the resolution of its last client id cached. */
export interface TenantState {
  user: string;
  /**
   * The client's address (its user when users come from addresses), and its principal: on a TLS listener its client
   * certificate's mapped name, replaced by its SASL principal once a SASL exchange succeeded (Kafka's SASL_SSL).
   */
  remoteAddress: string | undefined;
  principal: string | undefined;
  /** The config generation the cache below was resolved under (a reload re-resolves every connection's next request). */
  generation: number;
  clientId: string | null | undefined;
  /** Per kind: the quota that applies and the bucket key, for the cached client id. */
  quotas: (ResolvedQuota | undefined)[];
  keys: string[];
  /** Metrics label: a tenant named in the config, or "other". */
  label: string;
  /**
   * Per kind, for quotas in shadow mode (see shadowCharge): until when the connection would be muted if the quota
   * were enforced, and up to when that has been metered.
   */
  shadowUntil: number[];
  shadowMetered: number[];
}

export interface FetchAllowance {
  /** How long to hold the fetch before forwarding it (the tenant is in debt). */
  waitMs: number;
  /** The most the tenant may take now (Infinity when no fetch quota applies). */
  maxBytes: number;
  /** The wait was cut to one coordination interval: what to check again when it ends (holdLeft; nothing was charged). */
  check: HoldCheck | undefined;
}

export interface ProduceCharge {
  throttleMs: number;
  holdMs: number;
  /** With a hold: what was charged for the held request, and whether to check again when the hold ends (holdLeft). */
  check: HoldCheck | undefined;
}

/**
 * A held request's charge. A hold for a cluster-scoped quota lasts at most one coordination interval, its rate being
 * this sidecar's share of the moment (see capped()); when it ends (`recheck`), the relay asks holdLeft() whether the
 * bucket, at the share then, is still owed more than the request may leave, and holds on if so. (Forwarded at the end
 * of every interval whatever was owed, one connection sent 1 MB batches at 1 MB/s against a cluster quota of
 * 100 KB/s.) A held produce whose client goes away before it is forwarded gets its bytes back (refundHeld): Kafka
 * charges a produce once the broker has appended it, and a client that timed out waiting and sent it again was charged
 * twice for bytes the broker got once.
 */
export interface HoldCheck {
  /** Cut to one coordination interval: ask holdLeft() when it ends. */
  recheck: boolean;
  kind: QuotaKind;
  slot: number;
  /** The slot's generation (a slot reused meanwhile holds another key's bucket) and the config's (a reload). */
  slotGeneration: number;
  configGeneration: number;
  /** The quota's whole rate and burst, before the share, and whether it is cluster-scoped (shared). */
  rate: number;
  burst: number;
  cluster: boolean;
  /** The held request's bytes (a produce's), for the debt it may leave. */
  bytes: number;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** How far ahead a simulated mute (shadow mode) may run: Kafka clients time a request out after 30 s by default. */
const SHADOW_MAX_LEAD_MS = 30_000;

const UNLIMITED: FetchAllowance = { waitMs: 0, maxBytes: Infinity, check: undefined };

/**
 * The most one request may take its bucket below zero, as a share of the burst (a quarter of a second of the rate with
 * the default one-second burst), and so the most a tenant can owe across all its connections. With what a new bucket
 * starts with and one request (a request is never split), it is what any window can carry beyond the quota for a
 * tenant that keeps pushing: within 5% of a 10-second window (Kafka's quota system test criterion) while requests are
 * small against ten seconds of the quota.
 *
 * A produce request that would go deeper is held, unforwarded and its socket not read, until it would not (one larger
 * than the burst and this debt waits for a full bucket): only its head and what of it was already read are kept, the
 * rest stays in the client's socket. A fetch asks for no more than that: max_bytes is capped to the bucket's tokens,
 * but never below this share (a capped response ends in a partial record batch that the consumer fetches again, so
 * very small caps waste quota; a quarter of the burst keeps the waste a small share). A response that takes the bucket
 * below zero throttles the connection as a produce does: throttle_time_ms on the response, the client not read
 * meanwhile (KIP-219).
 */
const MAX_DEBT_OF_BURST = 0.25;
/** The debt a produce of `bytes` may leave its bucket of `burst`: a quarter of the burst, or all of it beyond a full bucket. */
const allowedDebt = (burst: number, bytes: number) => Math.max(burst * MAX_DEBT_OF_BURST, bytes - burst);
/**
 * A fetch is held, unforwarded, only while its tenant is in debt (another connection of the tenant took the bucket
 * below zero; a connection's own debt keeps it muted). A debt of a few milliseconds is what a mute timer that fired a
 * little early leaves behind: it is charged with the response rather than held.
 */
const FETCH_HOLD_TOLERANCE_MS = 10;
/** Per kind, the longest throttle one charge gives (QuotaKindSpec.maxThrottleMs). */
const MAX_THROTTLE_MS = (QUOTA_KINDS as readonly QuotaKindSpec[]).map((k) => k.maxThrottleMs ?? Infinity);

export class QuotaEnforcer {
  readonly table: BucketTable;
  private rules!: QuotaRules;
  private tenants!: TenantResolver;
  /** False when no quota is configured: the proxy then only relays. */
  active = false;
  /** Users and client-id entities the config names: each matched as what it is (a client id "alice" is not user alice). */
  private named!: { users: Set<string>; clients: Set<string> };
  private generation = 0;
  private readonly allowance: FetchAllowance = { waitMs: 0, maxBytes: Infinity, check: undefined };
  private readonly produceCharge: ProduceCharge = { throttleMs: 0, holdMs: 0, check: undefined };
  /** This sidecar's shares of cluster-scoped quotas (set when some quota has scope: cluster; else each is served whole). */
  cluster: ClusterShares | undefined;

  constructor(
    config: ProxyConfig,
    private readonly metrics: QuotaMetrics,
    private readonly now: () => number,
    /** Told of each throttle a quota in shadow mode would have given (for a rate-limited log line). */
    private readonly wouldThrottle: (tenant: string, ms: number) => void = () => undefined,
  ) {
    this.table = new BucketTable(config.quotaTable.capacity, config.quotaTable.maxKeyLength, now, config.quotaTable.newBucketShare, KINDS);
    this.configure(config);
    metrics.watchTable(this.table);
  }

  /**
   * The quotas and tenants of a config (at start, and at a reload): every connection's next request is resolved again
   * under them. Buckets are kept: a quota whose entity is unchanged keeps its bucket's balance (clipped to a smaller
   * burst as it refills), so a tenant in debt stays in debt.
   */
  configure(config: Pick<ProxyConfig, 'quotas' | 'tenants'>): void {
    this.rules = new QuotaRules(config.quotas);
    this.tenants = new TenantResolver(config.tenants);
    this.active = config.quotas.length > 0;
    this.named = QuotaRules.namedTenants(config.quotas);
    this.metrics.retain(new Set([...this.named.users, ...this.named.clients]));
    this.metrics.quotas(config.quotas);
    this.generation++;
  }

  /** A new connection's tenant: `certificatePrincipal` is its client certificate's mapped name, on a TLS listener. */
  newTenant(remoteAddress: string | undefined, certificatePrincipal?: string): TenantState {
    const principal = certificatePrincipal;
    return {
      user: this.userOf(remoteAddress, principal), remoteAddress, principal, generation: this.generation,
      clientId: undefined, quotas: [], keys: [], label: OTHER, shadowUntil: new Array<number>(KINDS).fill(0), shadowMetered: new Array<number>(KINDS).fill(0),
    };
  }

  /** A connection's user: its principal when users come from principals (tenants.user: sasl), else by its address. */
  private userOf(remoteAddress: string | undefined, principal: string | undefined): string {
    return principal !== undefined && this.tenants.userFromSasl ? principal : this.tenants.connectionUser(remoteAddress);
  }

  /**
   * A SASL exchange succeeded for `principal`: it becomes the connection's user (when users come from SASL); undefined
   * (a user the proxy could not read) gives back the connection-level user (ANONYMOUS, or its address's tenant).
   */
  bindPrincipal(state: TenantState, principal: string | undefined): void {
    state.principal = principal;
    if (!this.tenants.userFromSasl) return;
    state.user = this.userOf(state.remoteAddress, principal);
    state.clientId = undefined;
  }

  private resolve(state: TenantState, clientId: string | null): void {
    if (state.clientId === clientId && state.generation === this.generation) return;
    if (state.generation !== this.generation) {
      // a reload: where users come from, and the addresses' users, may have changed
      state.generation = this.generation;
      state.user = this.userOf(state.remoteAddress, state.principal);
    }
    const entity = this.tenants.clientEntity(clientId);
    state.clientId = clientId;
    for (let k = 0; k < KINDS; k++) {
      const q = this.rules.resolve(k, state.user, entity);
      state.quotas[k] = q;
      state.keys[k] = q ? `${q.userTag}\u0000${q.clientTag}` : '';
    }
    state.label = this.named.users.has(state.user) ? state.user : this.named.clients.has(entity) ? entity : OTHER;
  }

  /** Charges one request; returns the throttle time in ms (0: none). */
  chargeRequest(state: TenantState, clientId: string | null): number {
    this.resolve(state, clientId);
    return this.charge(state, REQUESTS, 1);
  }

  /**
   * Charges a produce request (its bytes, and one request unless acks=0). Reused object: the longer throttle in ms (0: none), and how
   * long to hold the request first so that it takes its bucket no further below zero than MAX_DEBT_OF_BURST allows
   * (0: forward it now).
   */
  chargeProduce(state: TenantState, clientId: string | null, bytes: number, acks0 = false): ProduceCharge {
    this.resolve(state, clientId);
    this.metrics.bytes(state.label, PRODUCE, bytes);
    const c = this.produceCharge;
    c.holdMs = 0;
    c.check = undefined;
    // acks=0 is exempt from the request quota, as in Kafka (KafkaApis.handleProduceRequest: "the request quota is not
    // enforced if acks == 0"); its bytes are charged
    c.throttleMs = acks0 ? 0 : this.charge(state, REQUESTS, 1);
    const q = state.quotas[PRODUCE];
    if (!q) return c;
    if (q.shadow) {
      this.charge(state, PRODUCE, bytes);
      return c;
    }
    const slot = this.table.slotFor(state.keys[PRODUCE]!);
    const share = this.shareOf(q, slot);
    const rate = q.rate * share;
    const burst = q.burst * share;
    // Both from the one refill the charge makes: the hold is the debt beyond what one request may leave (a quarter of
    // the burst, or all of the request beyond a full bucket), and the throttle left after it is that allowed debt's
    // time whatever the clock did meanwhile. (Reading the bucket once for the hold and again for the charge let a GC
    // pause between the two shorten the throttle alone.)
    const ms = this.table.charge(slot, PRODUCE, bytes, rate, burst);
    if (ms > 0) this.table.recordThrottle(slot, ms);
    const allowedDebtMs = (allowedDebt(burst, bytes) / rate) * 1000;
    if (ms > allowedDebtMs) {
      c.holdMs = this.capped(q, ms - allowedDebtMs);
      c.check = this.holdCheck(PRODUCE, slot, q, bytes, c.holdMs < ms - allowedDebtMs);
    }
    if (q.cluster) this.cluster?.charged(slot, PRODUCE, bytes, ms > 0 || c.holdMs > 0, q.rate);
    c.throttleMs = Math.max(c.throttleMs, this.capped(q, ms));
    return c;
  }

  /** Charges `cost` of a kind counted per request's content (group joins), and one request; the longer throttle in ms. */
  chargeUnits(state: TenantState, clientId: string | null, kind: QuotaKind, cost: number): number {
    this.resolve(state, clientId);
    return Math.max(this.charge(state, kind, cost), this.charge(state, REQUESTS, 1));
  }

  /**
   * How long the tenant's bucket of `kind` stays in debt (ms; 0: not in debt, or no quota of that kind). Charges
   * nothing; resolves the client id as a charge would.
   */
  debtMs(state: TenantState, clientId: string | null, kind: QuotaKind): number {
    this.resolve(state, clientId);
    const q = state.quotas[kind];
    if (!q || q.shadow) return 0;
    const slot = this.table.slotFor(state.keys[kind]!);
    const share = this.shareOf(q, slot);
    const tokens = this.table.tokensOf(slot, kind, q.rate * share, q.burst * share);
    return tokens >= 0 ? 0 : this.capped(q, (-tokens / (q.rate * share)) * 1000);
  }

  /**
   * How long the tenant's debt lasts under the quotas in force (its last client id's), the longest of its enforced
   * kinds' (0: in debt under none).
   */
  owedMs(state: TenantState): number {
    let owed = 0;
    for (let kind = 0; kind < KINDS; kind++) owed = Math.max(owed, this.debtMs(state, state.clientId ?? null, kind));
    return owed;
  }

  /** The bucket key and rate of the enforced quota of `kind` that applies (undefined: none, or one in shadow mode). */
  quotaOf(state: TenantState, clientId: string | null, kind: QuotaKind): { key: string; rate: number } | undefined {
    this.resolve(state, clientId);
    const q = state.quotas[kind];
    if (!q || q.shadow) return undefined;
    return { key: state.keys[kind]!, rate: q.cluster ? q.rate * this.shareOf(q, this.table.slotFor(state.keys[kind]!)) : q.rate };
  }

  /** Charges `cost` of a kind alone (the request itself is charged by chargeRequest); returns the throttle in ms. */
  chargeKind(state: TenantState, clientId: string | null, kind: QuotaKind, cost: number): number {
    this.resolve(state, clientId);
    return cost > 0 ? this.charge(state, kind, cost) : 0;
  }

  /**
   * The tenant a request belongs to, for sharing among tenants (the admin gate's queues): its user when it has one,
   * else its client-id entity, each in a namespace of its own (a client that names itself "alice" is not user alice).
   */
  tenantOf(state: TenantState, clientId: string | null): string {
    return state.user !== ANONYMOUS ? `user:${state.user}` : `client:${this.tenants.clientEntity(clientId)}`;
  }

  /** Before forwarding a fetch: how long to hold it, and how many bytes it may ask for. Reused object. */
  fetchAllowance(state: TenantState, clientId: string | null): FetchAllowance {
    this.resolve(state, clientId);
    const q = state.quotas[FETCH];
    if (!q || q.shadow) return UNLIMITED;
    const slot = this.table.slotFor(state.keys[FETCH]!);
    const share = this.shareOf(q, slot);
    const tokens = this.table.tokensOf(slot, FETCH, q.rate * share, q.burst * share);
    const owedMs = tokens >= 0 ? 0 : (-tokens / (q.rate * share)) * 1000;
    const debtMs = this.capped(q, owedMs);
    this.allowance.waitMs = debtMs > FETCH_HOLD_TOLERANCE_MS ? debtMs : 0;
    this.allowance.check = debtMs < owedMs ? this.holdCheck(FETCH, slot, q, 0, true) : undefined;
    this.allowance.maxBytes = Math.max(1, Math.floor(Math.max(tokens, q.burst * share * MAX_DEBT_OF_BURST)));
    return this.allowance;
  }

  /**
   * A cut hold (HoldCheck) has ended: how much longer to hold, at most half an interval more (0: forward now; also when the
   * slot went to another key or a reload came, which start afresh).
   */
  holdLeft(c: HoldCheck): number {
    if (!c.recheck || this.table.generation[c.slot] !== c.slotGeneration || this.generation !== c.configGeneration || !this.cluster) return 0;
    const share = this.cluster.shareOf(c.slot, c.kind);
    const rate = c.rate * share;
    const burst = c.burst * share;
    const tokens = this.table.tokensOf(c.slot, c.kind, rate, burst);
    const allowed = c.kind === PRODUCE ? allowedDebt(burst, c.bytes) : (rate * FETCH_HOLD_TOLERANCE_MS) / 1000;
    if (tokens >= -allowed) return 0;
    // still held: the report says the tenant wants more here (its held connection charges nothing new; unsaid, the
    // share fell to the floor that held it: a CI run's even load got 2.67 of 3 MB/s), at least twice an interval so
    // that no interval's report misses it (a share falls at once)
    this.cluster.charged(c.slot, c.kind, 0, true, c.rate);
    return Math.min(((-allowed - tokens) / rate) * 1000, this.cluster.settings.intervalMs / 2);
  }

  /** A held request never reached the broker (its client went away): its bytes go back to its bucket. */
  refundHeld(c: HoldCheck): void {
    if (c.bytes === 0 || this.table.generation[c.slot] !== c.slotGeneration) return;
    const share = c.cluster && this.cluster ? this.cluster.shareOf(c.slot, c.kind) : 1;
    this.table.refund(c.slot, c.kind, c.bytes, c.rate * share, c.burst * share);
  }

  private holdCheck(kind: QuotaKind, slot: number, q: ResolvedQuota, bytes: number, recheck: boolean): HoldCheck {
    return { recheck, kind, slot, slotGeneration: this.table.generation[slot]!, configGeneration: this.generation, rate: q.rate, burst: q.burst, cluster: q.cluster, bytes };
  }

  /** Charges a fetch response's size to the tenant of the connection's last request; returns the throttle in ms. */
  chargeFetchResponse(state: TenantState, bytes: number): number {
    // a reload since the fetch was read: charged under the quota in force now (a quota gone, or turned to shadow mode,
    // throttles nobody)
    if (state.generation !== this.generation) this.resolve(state, state.clientId ?? null);
    this.metrics.bytes(state.label, FETCH, bytes);
    return state.quotas[FETCH] ? this.charge(state, FETCH, bytes) : 0;
  }

  /**
   * Records `ms` of throttle (held, capped or muted after); `newRequest` false adds the time to a request already
   * counted as throttled.
   */
  throttled(state: TenantState, ms: number, newRequest = true): void {
    this.metrics.throttled(state.label, ms, newRequest, this.now());
  }

  private charge(state: TenantState, kind: QuotaKind, cost: number): number {
    const q = state.quotas[kind];
    if (!q) return 0;
    if (q.shadow) return this.shadowCharge(state, kind, cost, q);
    const slot = this.table.slotFor(state.keys[kind]!);
    const share = this.shareOf(q, slot);
    const ms = this.chargeBounded(slot, kind, cost, q.rate * share, q.burst * share);
    if (ms > 0) this.table.recordThrottle(slot, ms);
    if (q.cluster) this.cluster?.charged(slot, kind, cost, ms > 0, q.rate);
    return this.capped(q, ms);
  }

  /**
   * A charge of a kind with a longest throttle (QuotaKindSpec.maxThrottleMs: requests, 1 s) gives at most that, and
   * leaves no deeper debt than it either: Kafka's rate forgets what is older than its window, so a flood of requests
   * that stops is not owed for hours after (200 connections at 10 requests/s for 10 minutes left 3.2 h of debt).
   */
  private chargeBounded(slot: number, kind: QuotaKind, cost: number, rate: number, burst: number): number {
    const max = MAX_THROTTLE_MS[kind]!;
    const ms = this.table.charge(slot, kind, cost, rate, burst);
    if (ms <= max) return ms;
    this.table.floor(slot, kind, (-rate * max) / 1000);
    return max;
  }

  /**
   * A wait (throttle, hold) for a cluster-scoped quota lasts at most one coordination interval: its rate is this
   * sidecar's share of the moment, which the next interval may raise (a tenant's first request at a sidecar is charged
   * at the floor's rate); the debt stays in the bucket, so the next request waits again if it is still owed.
   */
  private capped(q: ResolvedQuota, ms: number): number {
    return q.cluster && this.cluster ? Math.min(ms, this.cluster.settings.intervalMs) : ms;
  }

  /** The fraction of a quota this sidecar serves: 1, or its share of a cluster-scoped quota (cluster-shares.ts). */
  private shareOf(q: ResolvedQuota, slot: number): number {
    return q.cluster && this.cluster ? this.cluster.shareOf(slot, q.kind) : 1;
  }

  /**
   * /tenants?top=N: the bucket keys (quota entities) whose buckets gave the most throttle time over the last minute,
   * with, per kind, the quota their bucket was last charged under, its use per second over the last 10 s and its
   * tokens (below zero: its debt). From the bucket table alone: a scan of its fixed number of slots.
   */
  mostThrottled(top: number): object[] {
    return this.table.mostThrottled(top).map((a) => {
      const [user, clientId] = a.key.split('\u0000');
      const kinds: Record<string, object> = {};
      a.buckets.forEach((b, k) => {
        if (b) kinds[QUOTA_KINDS[k]!.name] = { ratePerSec: b.rate, burst: b.burst, usePerSec: round(b.usePerSec), tokens: round(b.tokens), debtMs: b.tokens >= 0 ? 0 : Math.round((-b.tokens / b.rate) * 1000) };
      });
      return { user: user || null, clientId: clientId ?? null, throttleSecondsLastMinute: round(a.throttleMs / 1000), ...kinds };
    });
  }

  /**
   * A quota in shadow mode: nobody is throttled (returns 0), but the connection's mute is simulated. Enforced, a
   * request that takes the bucket into debt mutes its connection for the debt, and what the client sends meanwhile is
   * read, and charged, after it: here such a request extends the would-be mute by its own cost at the quota's rate
   * instead (up to SHADOW_MAX_LEAD_MS ahead: a client whose requests keep coming would be blocked, not queue for ever).
   * The would-be mute is metered (kqp_tenant_would_throttle_seconds_total) as the time it covers passes, seen at the
   * connection's next charge of that kind, so that a tenant far over its quota meters about a second a second, as
   * enforcement mutes it about all the time.
   */
  private shadowCharge(state: TenantState, kind: QuotaKind, cost: number, q: ResolvedQuota): number {
    const now = this.now();
    const until = state.shadowUntil[kind]!;
    const passed = Math.min(now, until) - state.shadowMetered[kind]!;
    if (passed > 0) {
      this.metrics.wouldThrottle(state.label, passed);
      state.shadowMetered[kind]! += passed;
    }
    if (now < until) {
      state.shadowUntil[kind] = Math.min(until + (cost / q.rate) * 1000, now + SHADOW_MAX_LEAD_MS);
      return 0;
    }
    const slot = this.table.slotFor(state.keys[kind]!);
    const share = this.shareOf(q, slot);
    const ms = this.chargeBounded(slot, kind, cost, q.rate * share, q.burst * share);
    if (q.cluster) this.cluster?.charged(slot, kind, cost, ms > 0, q.rate);
    if (ms > 0) {
      state.shadowUntil[kind] = now + ms;
      state.shadowMetered[kind] = now;
      this.wouldThrottle(state.label, ms);
    }
    return 0;
  }

  /** What applies to (user, clientId) and the state of its buckets, for the HTTP endpoint (charges nothing). */
  inspect(user: string, clientId: string): object {
    const entity = this.tenants.clientEntity(clientId);
    const kinds: Record<string, object> = {};
    for (let k = 0; k < KINDS; k++) {
      const name = QUOTA_KINDS[k]!.name;
      const q = this.rules.resolve(k, user, entity);
      if (!q) {
        kinds[name] = { quota: null };
        continue;
      }
      const slot = this.table.find(`${q.userTag}\u0000${q.clientTag}`);
      const share = slot !== undefined ? this.shareOf(q, slot) : q.cluster && this.cluster ? this.cluster.newShare() : 1;
      const tokens = slot === undefined ? this.table.startTokens(q.burst * share) : this.table.tokensOf(slot, k, q.rate * share, q.burst * share);
      kinds[name] = {
        quota: {
          entity: q.entity, level: q.level, ratePerSec: q.rate, burst: q.burst, mode: q.shadow ? 'shadow' : 'enforce',
          ...(q.cluster ? { scope: 'cluster', share, sidecarRatePerSec: q.rate * share } : {}),
        },
        bucket: { key: { user: q.userTag, clientId: q.clientTag }, slot: slot ?? null, tokens, throttleMs: tokens >= 0 ? 0 : (-tokens / (q.rate * share)) * 1000 },
      };
    }
    return { user, clientId, clientEntity: entity, ...kinds, table: this.table.stats };
  }
}
