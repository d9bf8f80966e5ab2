// Prometheus metrics (prom-client). Label sets are bounded: API names come from the schema table (unknown keys share
// one label), error kinds from fixed lists.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { ApiMetricsTable, type ApiMetrics } from './api-metrics.js';
import type { ClusterStats } from '../quota/cluster-shares.js';

/** login: the broker refused the sidecar's own login (upstream.sasl), on its own connections (Metadata lookups). */
const UPSTREAM_ERROR_KINDS = ['connect', 'reset', 'timeout', 'tls', 'login', 'other'] as const;
export type UpstreamErrorKind = (typeof UPSTREAM_ERROR_KINDS)[number];

export class ProxyMetrics {
  readonly registry = new Registry();
  /** What /readyz answers (set by the proxy): kqp_ready is 1 when it would answer 200. */
  ready: () => boolean = () => false;
  /** The coordination of cluster-scoped quotas (set by the proxy once it runs; undefined before, or without them). */
  coordination: () => ClusterStats | undefined = () => undefined;
  readonly configReloads: Counter<'result'>;
  readonly configLastReloadSuccess: Gauge;
  readonly configLastReloadFailure: Gauge;
  readonly configRestartPending: Gauge<'setting'>;
  readonly connectionsActive: Gauge;
  readonly connectionsTotal: Counter;
  readonly connectionsRejected: Counter<'reason'>;
  readonly connectionsWaiting: Gauge;
  readonly connectionWaitSeconds: Counter;
  readonly gateInFlight: Gauge;
  readonly gateWaiting: Gauge;
  readonly gateWaitSeconds: Counter;
  readonly gateTimeouts: Counter;
  readonly adminUnapplied: Gauge;
  readonly adminApplyLagSeconds: Gauge;
  readonly adminApplyTimeouts: Counter;
  readonly budgetWaits: Counter<'budget'>;
  readonly budgetWaitSeconds: Counter<'budget'>;
  readonly upstreamErrors: Counter<'kind'>;
  readonly protocolErrors: Counter<'code'>;
  private readonly apis: ApiMetricsTable;

  constructor(withDefaultMetrics = true) {
    const registers = [this.registry];
    if (withDefaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'kqp_' });
    this.connectionsActive = new Gauge({ name: 'kqp_connections_active', help: 'Client connections open now', registers });
    const ready = () => (this.ready() ? 1 : 0);
    new Gauge({ name: 'kqp_ready', help: '1 when /readyz answers 200 (the broker answers ApiVersions and the proxy is not stopping), else 0', registers, collect() { this.set(ready()); } });
    // the coordination of cluster-scoped quotas, read at each scrape: one series per label value (all 0 without it)
    const coordinationGauge = (name: string, label: string, help: string, values: (s: ClusterStats | undefined) => Record<string, number>) => {
      const stats = () => this.coordination();
      new Gauge({ name, help, labelNames: [label], registers, collect() { for (const [v, n] of Object.entries(values(stats()))) this.labels(v).set(n); } });
    };
    coordinationGauge('kqp_coordination_mode', 'mode',
      'Cluster-scoped quotas\' coordination: 1 for the mode it is in (starting; coordinated; stale: serving quota ÷ brokers), all 0 without cluster-scoped quotas',
      (s) => ({ starting: s?.mode === 'starting' ? 1 : 0, coordinated: s?.mode === 'coordinated' ? 1 : 0, stale: s?.mode === 'stale' ? 1 : 0 }));
    coordinationGauge('kqp_coordination_sidecars', 'state',
      'Sidecars in the coordination of cluster-scoped quotas as this one counts them: live (itself included), stale (silent, or serving the static share)',
      (s) => ({ live: s?.liveSidecars ?? 0, stale: s?.staleSidecars ?? 0 }));
    coordinationGauge('kqp_coordination_refusals', 'what',
      'Since start: other sidecars refused (maxSidecars - 1 kept), report entries dropped (beyond quotaTable.capacity, or unreadable)',
      (s) => ({ sidecars: s?.sidecarsRefused ?? 0, entries: s?.entriesDropped ?? 0 }));
    this.configReloads = new Counter({ name: 'kqp_config_reload_total', help: 'Config reloads (SIGHUP, or a change of the file with reload.watch), by result: success or failure (the old config stays in force)', labelNames: ['result'], registers });
    this.configLastReloadSuccess = new Gauge({ name: 'kqp_config_last_reload_success_timestamp_seconds', help: 'When the config in force was loaded (at start, or by the last successful reload)', registers });
    this.configLastReloadSuccess.set(Date.now() / 1000);
    this.configLastReloadFailure = new Gauge({
      name: 'kqp_config_last_reload_failure_timestamp_seconds', registers,
      help: 'When a reload last failed (0: none since start); later than the last success: the file on disk is not the config in force',
    });
    this.configLastReloadFailure.set(0);
    this.configRestartPending = new Gauge({
      name: 'kqp_config_restart_pending', labelNames: ['setting'], registers,
      help: 'Settings (restart-only) that the config file changed and a reload could not apply: 1 until the process restarts with them',
    });
    this.connectionsTotal = new Counter({ name: 'kqp_connections_total', help: 'Client connections accepted', registers });
    this.connectionsRejected = new Counter({
      name: 'kqp_connections_rejected_total', help: 'Client connections refused (limit) or closed for bad input', labelNames: ['reason'], registers,
    });
    this.connectionsWaiting = new Gauge({ name: 'kqp_connections_waiting', help: 'Client connections waiting for the per-IP creation rate (unread, no broker connection)', registers });
    this.connectionWaitSeconds = new Counter({ name: 'kqp_connection_wait_seconds_total', help: 'Time connections were made to wait for the per-IP creation rate', registers });
    this.gateInFlight = new Gauge({ name: 'kqp_admin_gate_in_flight', help: 'Controller-bound admin requests at the broker now (admin.maxInFlight at most)', registers });
    this.gateWaiting = new Gauge({ name: 'kqp_admin_gate_waiting', help: 'Controller-bound admin requests waiting for the admission gate', registers });
    this.gateWaitSeconds = new Counter({ name: 'kqp_admin_gate_wait_seconds_total', help: 'Time admin requests waited for the admission gate', registers });
    this.gateTimeouts = new Counter({ name: 'kqp_admin_gate_timeouts_total', help: 'Admin requests answered REQUEST_TIMED_OUT after admin.maxWaitMs at the gate', registers });
    this.adminUnapplied = new Gauge({ name: 'kqp_admin_unapplied', help: 'Topic changes the controller accepted that the broker has not yet applied, each holding a gate place (admin.holdUntilAppliedMs)', registers });
    this.adminApplyLagSeconds = new Gauge({ name: 'kqp_admin_apply_lag_seconds', help: 'How long the broker took to apply the last topic change watched, after its controller accepted it (admin.holdUntilAppliedMs)', registers });
    this.adminApplyTimeouts = new Counter({ name: 'kqp_admin_apply_timeouts_total', help: 'Topic changes let go unconfirmed (their gate places given back): not shown by the broker after admin.holdUntilAppliedMs, or the broker did not answer the sidecar\'s own Metadata request (a SASL listener does not, without upstream.sasl)', registers });
    this.budgetWaits = new Counter({ name: 'kqp_broker_budget_waits_total', help: 'Requests that waited for the broker-wide budget, by budget', labelNames: ['budget'], registers });
    this.budgetWaitSeconds = new Counter({ name: 'kqp_broker_budget_wait_seconds_total', help: 'Time requests waited for the broker-wide budget, by budget', labelNames: ['budget'], registers });
    this.upstreamErrors = new Counter({ name: 'kqp_upstream_errors_total', help: 'Errors on broker connections', labelNames: ['kind'], registers });
    this.protocolErrors = new Counter({ name: 'kqp_protocol_errors_total', help: 'Malformed frames, by error code', labelNames: ['code'], registers });
    this.apis = new ApiMetricsTable(this.registry);
    // labelled counters whose labels are known have their series from the start, at 0: a series that first appears at
    // 1 (the first failed reload) counts for nothing in increase() and rate(), and alerts on it would never fire
    for (const result of ['success', 'failure']) this.configReloads.labels(result).inc(0);
    for (const kind of UPSTREAM_ERROR_KINDS) this.upstreamErrors.labels(kind).inc(0);
  }

  /** After a reload: which of the restart-only settings the file asks to change (1) and which it does not (0). */
  restartPending(settings: readonly string[], pending: readonly string[]): void {
    for (const s of settings) this.configRestartPending.labels(s).set(pending.includes(s) ? 1 : 0);
  }

  /** Every reason a connection can be refused or closed for, its series at 0 (as the labelled counters above). */
  rejectionReasons(reasons: readonly string[]): void {
    for (const reason of reasons) this.connectionsRejected.labels(reason).inc(0);
  }

  /** An API key's request metrics (plain numbers on the hot path: api-metrics.ts). */
  api(key: number): ApiMetrics {
    return this.apis.api(key);
  }
}

/** OpenSSL's certificate verification failures, as Node names them. */
const X509_ERRORS = new Set([
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_SIGNATURE_FAILURE', 'CERT_REVOKED', 'CERT_UNTRUSTED', 'HOSTNAME_MISMATCH',
]);

export function upstreamErrorKind(err: NodeJS.ErrnoException): UpstreamErrorKind {
  switch (err.code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
      return 'connect';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      // the broker's certificate failed verification (OpenSSL's X509 codes, Node's ERR_TLS_*), or the TLS layer failed
      return err.code !== undefined && (/^(ERR_TLS_|ERR_SSL_)/.test(err.code) || X509_ERRORS.has(err.code)) ? 'tls' : 'other';
  }
}
