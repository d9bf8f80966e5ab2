// The sidecar: accepts clients, opens one broker connection for each, and serves metrics and health.
import { createServer, type Server, type Socket } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { Server as HttpServer } from 'node:http';
import { defaultSidecarId, type ProxyConfig, type HostPort } from '../config/load-config.js';
import { createLogger, RateLimitedLog, type Logger } from '../observability/logger.js';
import { ProxyMetrics } from '../observability/metrics.js';
import { startHttpServer } from '../observability/http-server.js';
import { AddressMap } from './address-map.js';
import { BrokerProbe } from './broker-probe.js';
import { Connection, endOfStreamRead, type ConnectionContext } from './connection.js';
import { ResponseRewriter } from './response-rewriter.js';
import { RequestStages, type StageTable } from './request-stages.js';
import { ConnectionGuard, type RefusalReason } from './connection-guard.js';
import { sourceAddress } from '../quota/addresses.js';
import { ANONYMOUS } from '../quota/tenant-resolver.js';
import { QuotaEnforcer } from '../quota/quota-enforcer.js';
import { BrokerBudget } from '../quota/broker-budget.js';
import { QuotaMetrics } from '../observability/quota-metrics.js';
import { PARTITION_MUTATIONS } from '../quota/quota-kinds.js';
import { AdminGate } from './admin-gate.js';
import { TopicPartitions } from './topic-partitions.js';
import { ApplyWatch } from './apply-watch.js';
import { MutationTurns } from '../quota/mutation-turns.js';
import { UpstreamDialer } from './upstream-dialer.js';
import { MetadataLookups } from './metadata-lookup.js';
import { TlsListener, type TlsRejection } from '../tls/tls-listener.js';
import { ClusterShares } from '../quota/cluster-shares.js';
import { ClusterCoordinator } from '../quota/cluster-coordinator.js';
import { KINDS } from '../quota/quota-kinds.js';
import { DeadlineTimer } from './deadline-timer.js';

const REFUSALS: Record<RefusalReason, string> = {
  per_ip_limit: 'connections.maxPerIp (or its override) reached for this address',
  creation_rate_queue_full: 'over connections.creationRatePerIp with connections.maxWaiting already waiting',
  per_principal_limit: 'connections.maxPerPrincipal reached for this principal',
};

/** Connections closed over TLS, for what the client sent: one log line per reason (rate-limited) and a count. */
const TLS_REJECTIONS: Record<TlsRejection, string> = {
  tls_plaintext_client: 'a plaintext client on the TLS listener',
  tls_handshake_failed: 'TLS handshake failed',
  tls_handshake_timeout: 'TLS handshake not completed within listen.tls.handshakeTimeoutMs',
  tls_client_certificate_missing: 'no client certificate (listen.tls.clientAuth: required)',
  tls_client_certificate_expired: 'the client certificate is expired or not yet valid',
  tls_client_certificate_untrusted: 'the client certificate is not signed by a trusted CA (listen.tls.truststoreCertificates)',
  tls_principal_unmapped: 'no principal mapping rule applies to the client certificate',
  tls_client_on_plaintext_port: 'a TLS client on the plaintext listener',
};

/**
 * Settings a reload cannot change (the sockets, tables and caches sized or opened from them): a new value is named in
 * one log line and waits for a restart. Everything else applies at once.
 */
const RESTART_ONLY = ['listen', 'upstream', 'metrics', 'advertise', 'quotaTable', 'connections', 'admin.topicCacheCapacity', 'admin.defaultPartitions', 'coordination'] as const;
/** The longest a stop waits for the coordination client to disconnect. */
const COORDINATION_STOP_MS = 3000;
const valueAt = (c: ProxyConfig, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], c);
/** A setting's value as far as a restart is needed: listen's and upstream's address and whether they speak TLS (their TLS settings, certificates included, apply at a reload). */
const setting = (c: ProxyConfig, path: string): unknown => {
  if (path === 'listen' || path === 'upstream') return [c[path].host, c[path].port, c[path].tls !== undefined];
  // coordination's sidecarId defaults to one from the upstream's address, which has a line of its own; its TLS and SASL
  // login are upstream.tls's and upstream.sasl's (whose changes are not restart-only ones: the coordination client keeps
  // what it started with, as README says)
  if (path === 'coordination') {
    const sidecarId = c.coordination.sidecarId === defaultSidecarId(c.upstream) ? undefined : c.coordination.sidecarId;
    return { ...c.coordination, sidecarId, tls: undefined, sasl: undefined };
  }
  return valueAt(c, path);
};
/** A copy of `o` with `value` at `path`, copying only the objects along the path. */
const withValue = <T>(o: T, [key, ...rest]: string[], value: unknown): T => {
  const at = o as Record<string, unknown>;
  return { ...at, [key!]: rest.length > 0 ? withValue(at[key!], rest, value) : value } as T;
};

export interface ProxyOptions {
  logger?: Logger;
  /** Monotonic milliseconds. */
  now?: () => number;
  /** The request stages (default: the config's, RequestStages); unit tests of the relay give their own. */
  stages?: StageTable;
}

export class ProxyServer {
  readonly metrics = new ProxyMetrics();
  readonly log: Logger;
  private readonly server: Server;
  private http: HttpServer | undefined;
  private readonly probe: BrokerProbe;
  private readonly connections = new Set<Connection>();
  /** Sockets waiting for the creation rate (at most connections.maxWaiting). */
  private readonly waiting = new Set<Socket>();
  /** Sockets in their TLS handshake (admitted, no broker connection yet). */
  private readonly handshaking = new Set<Socket>();
  private readonly dialer: UpstreamDialer;
  private readonly lookups: MetadataLookups;
  /** The handshakes of listen.tls in force (a reload makes a new one). */
  private tls: TlsListener | undefined;
  readonly guard: ConnectionGuard;
  private readonly warn: RateLimitedLog;
  private readonly ctx: ConnectionContext;
  readonly quotas: QuotaEnforcer;
  readonly gate: AdminGate;
  private readonly applied: ApplyWatch;
  private readonly budget: BrokerBudget;
  readonly topics: TopicPartitions;
  private readonly turns: MutationTurns;
  private readonly customStages: boolean;
  /** Cluster-scoped quotas' coordination: from the first config with a quota of scope cluster on. */
  private coordinator: ClusterCoordinator | undefined;
  private started = false;
  private nextId = 1;
  private stopping = false;
  private starting: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;

  constructor(private current: ProxyConfig, opts: ProxyOptions = {}) {
    const config = current;
    this.log = opts.logger ?? createLogger(config.logLevel);
    this.metrics.ready = () => this.ready();
    this.metrics.coordination = () => this.quotas.cluster?.clusterStats();
    const warn = (this.warn = new RateLimitedLog(this.log));
    this.dialer = new UpstreamDialer(config.upstream, (reason, goesOn) => {
      this.metrics.upstreamErrors.labels('login').inc();
      warn.warn('upstream-login-refused', { reason }, goesOn
        ? "the sidecar's own login (upstream.sasl) is not needed: its Metadata lookups go on without it"
        : "the broker refused the sidecar's own login (upstream.sasl): its Metadata lookups go unanswered (partition counts it does not know are charged admin.defaultPartitions)");
    });
    this.tls = config.listen.tls && new TlsListener(config.listen.tls);
    // readiness changes are rare (a broker restarting, or down): each is one line
    this.probe = new BrokerProbe(this.dialer, (ready) => this.logReadiness(ready));
    const now = opts.now ?? (() => performance.now());
    // shadow mode's lines, one kind per tenant, have a limiter of their own: they never take the places of the
    // proxy's own warnings (errors, refusals) in `warn`'s
    const shadow = new RateLimitedLog(this.log);
    this.quotas = new QuotaEnforcer(config, new QuotaMetrics(this.metrics.registry), now, (tenant, ms) =>
      shadow.warn(`shadow:${tenant}`, { tenant, throttleMs: Math.round(ms) }, 'a quota in shadow mode would throttle this tenant (nothing is enforced)'));
    this.guard = new ConnectionGuard(config.connections, now);
    const m = this.metrics;
    this.gate = new AdminGate(config.admin.maxInFlight, config.admin.maxWaitMs, now, { inFlight: m.gateInFlight, waiting: m.gateWaiting, waitSeconds: m.gateWaitSeconds, timeouts: m.gateTimeouts });
    this.lookups = new MetadataLookups(this.dialer);
    this.applied = new ApplyWatch(this.lookups, config.admin.holdUntilAppliedMs, now, { unapplied: m.adminUnapplied, lagSeconds: m.adminApplyLagSeconds, timeouts: m.adminApplyTimeouts });
    this.budget = new BrokerBudget(config.brokerBudget, now, { waits: m.budgetWaits, waitSeconds: m.budgetWaitSeconds });
    this.topics = new TopicPartitions(config.admin.topicCacheCapacity, config.admin.defaultPartitions, this.lookups);
    this.turns = new MutationTurns(config.admin.topicCacheCapacity, now);
    this.customStages = opts.stages !== undefined;
    this.ctx = {
      quotas: this.quotas,
      stages: opts.stages ?? this.stagesFor(),
      guard: this.guard,
      gate: this.gate,
      limits: config.limits,
      oauthbearerClaim: config.tenants.oauthbearerSubClaim,
      saslLogins: false,
      metrics: this.metrics,
      rewriter: this.rewriterFor(config),
      warn,
      now,
      closed: (conn) => {
        if (!this.connections.delete(conn)) return;
        this.metrics.connectionsActive.dec();
        this.guard.closed(conn.ip);
      },
      refused: (reason, remote, limit) => this.refused(reason, remote, limit),
      rejected: (reason, remote, detail) => this.rejected(reason, remote, detail),
    };
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.maxConnections = config.limits.maxConnections;
    this.metrics.rejectionReasons([...Object.keys(REFUSALS), ...Object.keys(TLS_REJECTIONS), 'max_connections']);
    this.metrics.restartPending(RESTART_ONLY, []);
    this.server.on('drop', (data?: { remoteAddress?: string }) => {
      this.metrics.connectionsRejected.labels('max_connections').inc();
      warn.warn('max-connections', { remote: data?.remoteAddress }, `connection refused: limits.maxConnections (${this.current.limits.maxConnections}) reached`);
    });
  }

  get config(): ProxyConfig {
    return this.current;
  }

  /**
   * The request stages of the config in force (a table chosen per API key: rebuilt when the config changes). While
   * addresses are rewritten, ShareFetch responses are taken whole: their max_bytes is capped to half of
   * limits.maxRewriteFrameBytes, the other half room for the record batch a response may carry beyond it (KIP-74) and
   * the acquired-records lists.
   */
  private stagesFor(): RequestStages {
    const c = this.current;
    const shareFetchLimit = c.advertise.mode !== 'none' ? Math.floor(c.limits.maxRewriteFrameBytes / 2) : Infinity;
    return new RequestStages({ quotas: this.quotas, budget: this.budget, gate: this.gate, applied: this.applied, topics: this.topics, turns: this.turns }, shareFetchLimit, c.limits.maxRewriteFrameBytes);
  }

  /** Partition counts are learnt from relayed metadata only when something counts partitions. */
  private rewriterFor(config: ProxyConfig): ResponseRewriter {
    const countsPartitions = this.budget.limits('partitionMutations') || config.quotas.some((q) => q.rates[PARTITION_MUTATIONS] !== undefined);
    return new ResponseRewriter(new AddressMap(config.advertise), countsPartitions ? this.topics : undefined);
  }

  /**
   * A new config, live (SIGHUP, or a change of the file with reload.watch), without dropping a connection: quotas,
   * tenants, the broker budget, the admin gate's limits, limits and the log level apply at once, to open connections
   * too (their next request is resolved again; buckets keep their balance; their frame, in-flight and idle limits are
   * set anew); listen.tls and upstream.tls, their files re-read, to new handshakes and broker connections. The
   * RESTART_ONLY settings keep their values until a restart; returns those that were asked to change.
   */
  reload(next: ProxyConfig): string[] {
    // coordination is restart-only once its client runs; a reload that adds the first cluster-scoped quota starts it
    // with the file's settings
    const restartOnly = RESTART_ONLY.filter((path) => path !== 'coordination' || this.coordinator);
    const kept = restartOnly.filter((path) => !isDeepStrictEqual(setting(this.current, path), setting(next, path)));
    this.metrics.restartPending(RESTART_ONLY, kept);
    let c = next;
    for (const path of restartOnly) c = withValue(c, path.split('.'), valueAt(this.current, path));
    // TLS settings apply to new handshakes and broker connections, when the listener (the broker) spoke TLS already;
    // upstream's only while its address stays (its host name is what the broker's certificate is checked for)
    const keepTls = <T>(now: T | undefined, asked: T | undefined) => (now && asked ? asked : now);
    const sameUpstream = next.upstream.host === c.upstream.host && next.upstream.port === c.upstream.port;
    c = {
      ...c,
      listen: { ...c.listen, tls: keepTls(c.listen.tls, next.listen.tls) },
      // upstream.sasl too, the sidecar's own login (its next lookups log in with it)
      upstream: sameUpstream ? { ...next.upstream, tls: keepTls(c.upstream.tls, next.upstream.tls) } : c.upstream,
    };
    this.current = c;
    this.log.level = c.logLevel;
    this.coordinate(c);
    this.dialer.configure(c.upstream);
    this.lookups.forget();
    this.tls = c.listen.tls && new TlsListener(c.listen.tls);
    this.quotas.configure(c);
    this.budget.configure(c.brokerBudget);
    this.gate.configure(c.admin.maxInFlight, c.admin.maxWaitMs);
    this.applied.configure(c.admin.holdUntilAppliedMs);
    this.ctx.limits = c.limits;
    this.ctx.oauthbearerClaim = c.tenants.oauthbearerSubClaim;
    this.server.maxConnections = c.limits.maxConnections;
    for (const conn of this.connections) {
      conn.applyLimits(c.limits);
      conn.quotasChanged();
    }
    if (!this.customStages) this.ctx.stages = this.stagesFor();
    this.ctx.rewriter = this.rewriterFor(c);
    return kept;
  }

  /** Listens, then serves; a stop() called meanwhile ends it early (and waits for it). */
  start(): Promise<void> {
    this.starting ??= this.listenAndServe();
    return this.starting;
  }

  private async listenAndServe(): Promise<void> {
    // cluster-scoped quotas' shares exist before the first client is accepted (without them, a quota was served whole
    // until the start-up's broker probe was done: up to 2 s of a sidecar restarted under load)
    this.started = true;
    this.coordinate(this.config);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.listen.port, this.config.listen.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    // an accept error after start-up (ENOBUFS, EPERM, ...) fails that one connection, not the process
    this.server.on('error', (err) => this.warn.warn('accept', { err: err.message }, 'accepting a connection failed'));
    if (this.stopping) return;
    this.http = await startHttpServer(this.config.metrics, {
      registry: this.metrics.registry,
      ready: () => this.ready(),
      quota: (user, clientId) => ({ ...this.quotas.inspect(user, clientId), sidecar: this.sidecarState() }),
      tenants: (top) => ({ top, tenants: this.quotas.mostThrottled(top), table: this.quotas.table.stats }),
    });
    if (this.stopping) return;
    await this.probe.start();
    if (this.stopping) return;
    const { upstream, listen } = this.config;
    this.log.info({ listen: this.address(), upstream: `${upstream.host}:${upstream.port}`, tls: { listen: listen.tls !== undefined, upstream: upstream.tls !== undefined }, metrics: this.metricsAddress(), ready: this.probe.ready }, 'proxy started');
    if (!this.probe.ready) this.logReadiness(false);
  }

  private logReadiness(ready: boolean): void {
    const upstream = `${this.current.upstream.host}:${this.current.upstream.port}`;
    if (ready) this.log.info({ upstream }, 'ready: the broker answers');
    else this.log.warn({ upstream }, 'not ready: the broker does not answer ApiVersions (clients are closed until it does)');
  }

  ready(): boolean {
    return !this.stopping && this.probe.ready;
  }

  address(): HostPort {
    const a = this.server.address() as { address: string; port: number };
    return { host: a.address, port: a.port };
  }

  metricsAddress(): HostPort {
    const a = this.http!.address() as { address: string; port: number };
    return { host: a.address, port: a.port };
  }

  /**
   * Starts coordinating cluster-scoped quotas the first time a config has one (at start, or at a reload that adds one):
   * until then nothing of it exists, and quotas of scope broker never see it.
   */
  private coordinate(config: ProxyConfig): void {
    if (this.coordinator || !this.started || this.stopping || !config.quotas.some((q) => q.cluster)) return;
    const t = this.quotas.table;
    const shares = new ClusterShares(config.coordination, t.capacity + 1, KINDS, (slot) => t.keyOf(slot), t.generation, this.ctx.now);
    this.quotas.cluster = shares;
    this.coordinator = new ClusterCoordinator(shares, config.upstream, this.log, this.warn, KINDS, config.quotaTable.maxKeyLength);
    this.coordinator.start();
  }

  /** What the sidecar shares among all tenants, for /quota: the admin gate, the broker budget, the connection limits. */
  sidecarState(): object {
    const c = this.config.connections;
    return {
      ...(this.quotas.cluster ? { coordination: this.quotas.cluster.clusterStats() } : {}),
      adminGate: { ...this.gate.stats, maxWaitMs: this.config.admin.maxWaitMs, ...this.applied.stats },
      brokerBudget: this.budget.stats,
      topicCache: { topics: this.topics.size, capacity: this.config.admin.topicCacheCapacity, defaultPartitions: this.topics.defaultPartitions },
      connections: {
        open: this.connections.size, waitingForRate: this.waiting.size, ...this.guard.stats,
        maxPerIp: c.maxPerIp, creationRatePerIp: c.creationRatePerIp, maxWaiting: c.maxWaiting, maxPerPrincipal: c.maxPerPrincipal,
      },
    };
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Graceful stop: no new connections, no new requests read; in-flight requests get up to limits.shutdownGraceMs to
   * be answered, then every connection is closed. Every call waits for the same end.
   */
  stop(): Promise<void> {
    this.stopped ??= this.drainAndStop();
    return this.stopped;
  }

  private async drainAndStop(): Promise<void> {
    this.stopping = true;
    await this.starting?.catch(() => undefined);
    this.probe.stop();
    this.applied.stop();
    this.lookups.stop();
    const coordinated = this.coordinator?.stop();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.waiting) s.destroy();
    for (const s of this.handshaking) s.destroy();
    for (const c of this.connections) c.drain();
    const deadline = Date.now() + this.config.limits.shutdownGraceMs;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.connections) c.close('shutdown grace period over');
    await closed;
    // the coordination client's goodbyes (kafkajs' disconnects) may wait on a broker that is gone: not past this
    await Promise.race([coordinated, new Promise((r) => setTimeout(r, COORDINATION_STOP_MS).unref())]);
    await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
    this.log.info('proxy stopped');
  }

  private accept(client: Socket): void {
    if (this.stopping) {
      client.destroy();
      return;
    }
    const ip = sourceAddress(client.remoteAddress);
    const admission = this.guard.admit(ip);
    if (admission.verdict === 'refuse') {
      this.refused(admission.reason, ip, admission.limit);
      client.destroy();
      return;
    }
    if (admission.verdict === 'open') {
      this.open(client, ip);
      return;
    }
    // over the creation rate: not read, no broker connection, until the rate allows it (or the client goes away)
    client.pause();
    client.on('error', () => undefined);
    this.waiting.add(client);
    this.guard.waiting++;
    this.metrics.connectionsWaiting.inc();
    this.metrics.connectionWaitSeconds.inc(admission.ms / 1000);
    const stopWaiting = () => {
      this.waiting.delete(client);
      this.guard.waiting--;
      this.metrics.connectionsWaiting.dec();
      client.off('close', gone);
    };
    const timer = new DeadlineTimer(this.ctx);
    const gone = () => {
      timer.cancel();
      stopWaiting();
      this.guard.left(ip);
    };
    // it opens once the proxy's clock says its wait is over (a burst of accepts in one iteration would fire a plain
    // setTimeout early: deadline-timer.ts)
    timer.set(this.ctx.now() + admission.ms, () => {
      stopWaiting();
      // a client that sent its request and then closed while it waited has its end of stream buffered behind what it
      // sent (a paused socket emits no 'end' or 'close' for it): it is gone, and what it sent is not forwarded
      if (this.stopping || client.destroyed || endOfStreamRead(client)) {
        client.destroy();
        this.guard.left(ip);
      } else {
        this.open(client, ip);
        client.resume();
      }
    });
    client.once('close', gone);
  }

  /** One line per reason and a count, for connections the limits refuse or close. */
  private refused(reason: RefusalReason, remote: string, limit: number): void {
    this.metrics.connectionsRejected.labels(reason).inc();
    this.warn.warn(reason, { remote, limit }, `connection refused: ${REFUSALS[reason]} (${limit})`);
  }

  /** A connection closed for what its client sent: one line per reason (rate-limited) and a count. */
  private rejected(reason: TlsRejection, remote: string, detail: string): void {
    this.metrics.connectionsRejected.labels(reason).inc();
    this.warn.warn(reason, { remote, detail }, `connection closed: ${TLS_REJECTIONS[reason]}`);
  }

  /** An admitted client connection: on a TLS listener, its handshake first; then its broker connection. */
  private open(client: Socket, ip: string): void {
    if (!this.tls) {
      this.relay(client, ip, undefined);
      return;
    }
    this.handshaking.add(client);
    this.tls.handshake(client, (outcome) => {
      this.handshaking.delete(client);
      if (!outcome.ok) {
        if (outcome.reason && !this.stopping) this.rejected(outcome.reason, ip, outcome.detail);
        this.guard.closed(ip);
      } else if (this.stopping) {
        outcome.socket.destroy();
        this.guard.closed(ip);
      } else if (outcome.user !== ANONYMOUS && !this.guard.bindPrincipal(outcome.user)) {
        this.refused('per_principal_limit', outcome.user, this.guard.maxPerPrincipal);
        outcome.socket.destroy();
        this.guard.closed(ip);
      } else {
        this.relay(outcome.socket, ip, outcome.user === ANONYMOUS ? undefined : outcome.user);
      }
    });
  }

  /**
   * Opens the broker connection of an admitted (and, on a TLS listener, secured) client connection; `principal` is
   * its certificate's, already counted against connections.maxPerPrincipal.
   */
  private relay(client: Socket, ip: string, principal: string | undefined): void {
    const id = this.nextId++;
    const upstream = this.dialer.connect();
    const log = this.log.child({ conn: id, client: `${client.remoteAddress}:${client.remotePort}` });
    const conn = new Connection(id, client, upstream, this.ctx, log, ip, principal);
    this.connections.add(conn);
    this.metrics.connectionsTotal.inc();
    this.metrics.connectionsActive.inc();
  }
}

