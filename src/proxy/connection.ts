// One client connection and its own upstream connection to the broker. Requests and responses are split into frames
// and forwarded as the pieces they arrived in (views, no copies), except the few responses that are rewritten whole.
// In-flight requests are tracked in order; backpressure pauses the reading side when the writing side is full.
//
// Quotas are enforced the way a Kafka broker enforces them, without buffering what a tenant sends: a request that puts
// its tenant in debt is still forwarded at once and its bytes are not kept; the client's socket is then not read for
// the throttle time (muted). A produce that would take its tenant more than a quarter of the burst into debt is held
// first (its head and what was read of it; the rest stays in the socket) until it would not. Its response carries throttle_time_ms = max(broker's, proxy's); for versions whose
// clients back off by themselves (KIP-219) it goes out at once, for older versions it is held until the mute ends
// (by not reading it from the broker). A fetch's max_bytes is capped to what the tenant may take, its response is
// charged and throttles the same way; a fetch from a tenant already in debt (through another connection) is held,
// unforwarded, until the debt is paid. Held and capped fetches count as throttled in the metrics.
import type { Socket } from 'node:net';
import { FrameSplitter, STREAM, WHOLE, type FrameHandler } from '../protocol/frame-splitter.js';
import { emptyRequestHeader, emptyResponseHeader, readRequestHeader, readResponseHeader } from '../protocol/headers.js';
import { ProtocolError } from '../protocol/errors.js';
import { Reader } from '../protocol/reader.js';
import { apiName, apiSchema } from '../protocol/api.js';
import type { Logger, RateLimitedLog } from '../observability/logger.js';
import { upstreamErrorKind, type ProxyMetrics } from '../observability/metrics.js';
import type { Limits } from '../config/load-config.js';
import type { QuotaEnforcer, TenantState } from '../quota/quota-enforcer.js';
import { clientBacksOff } from '../quota/client-backoff.js';
import { clientTokens, scramServerFinalOk, usernameOf } from '../quota/sasl-principal.js';
import { InflightQueue, RAW_SASL_TOKEN, THROTTLE_COUNTED } from './inflight-queue.js';
import { fetchMaxBytesOffset, produceAcks, saslAuthBytes, saslHandshakeMechanism } from './request-peek.js';
import type { ResponseRewriter } from './response-rewriter.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import { ErrorCode } from '../protocol/generated/error-codes.js';

/**
 * Bytes of each request read before it is forwarded. Headers and the fields the proxy peeks at nearly always fit; when
 * they do not (a client id of kilobytes), the head is grown, up to MAX_REQUEST_HEAD (client id and transactional id
 * are at most 32 KiB each).
 */
export const REQUEST_HEAD = 512;
const MAX_REQUEST_HEAD = 72 * 1024;
/** Responses: the correlation id and the first fields of the body. */
export const RESPONSE_HEAD = 64;

/** Why the client socket is not being read (a bit each; reading resumes when none is left). */
export const enum Pause {
  UpstreamFull = 1,
  InflightFull = 2,
  Draining = 4,
  Throttled = 8,
  HoldingRequests = 16,
}

/** Why the broker socket is not being read. */
const enum UpstreamPause {
  ClientFull = 1,
  HoldingResponses = 2,
}

export interface ConnectionContext {
  limits: Limits;
  metrics: ProxyMetrics;
  rewriter: ResponseRewriter;
  quotas: QuotaEnforcer;
  warn: RateLimitedLog;
  now(): number;
  closed(conn: Connection): void;
}

/** SASL mechanisms whose v0 (unframed) exchange has a known number of client tokens. */
const RAW_TOKENS: Record<string, number> = { PLAIN: 1, 'SCRAM-SHA-256': 2, 'SCRAM-SHA-512': 2, OAUTHBEARER: 1 };

/** Pieces held back in one direction until a time, with the socket that feeds them paused. */
interface Held {
  until: number;
  pieces: Buffer[];
  timer: NodeJS.Timeout | undefined;
}

export class Connection {
  readonly tenant: TenantState;
  private readonly requests: FrameSplitter;
  private readonly responses: FrameSplitter;
  private readonly inflight: InflightQueue;
  private readonly header = emptyRequestHeader();
  private readonly responseHeader = emptyResponseHeader();
  private readonly reader = new Reader(Buffer.alloc(0));
  private paused = 0;
  private upstreamPaused = 0;
  private closing = false;
  private done = false;
  /** SaslHandshake v0 sent: its mechanism, until the response arrives. */
  private handshakeV0: string | undefined;
  /** Unframed SASL tokens still expected from the client after a v0 handshake (Infinity: unknown mechanism). */
  private rawTokensLeft = 0;
  /** The SASL exchange under way: mechanism, the user its first token names, tokens sent and accepted so far. */
  private sasl: { mechanism: string; user: string | undefined; sent: number; accepted: number } | undefined;
  /** The client is not read before this time (throttled). */
  private mutedUntil = 0;
  /** A mute decided while a request was being forwarded: it starts when that request's last byte is forwarded. */
  private muteAtFrameEnd = false;
  private muteTimer: NodeJS.Timeout | undefined;
  private readonly heldRequests: Held = { until: 0, pieces: [], timer: undefined };
  private readonly heldResponses: Held = { until: 0, pieces: [], timer: undefined };
  /** The throttle given to the response being taken whole. */
  private wholeThrottle = 0;

  constructor(
    readonly id: number,
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly ctx: ConnectionContext,
    readonly log: Logger,
  ) {
    const { limits } = ctx;
    this.tenant = ctx.quotas.newTenant(client.remoteAddress);
    this.inflight = new InflightQueue(limits.maxInFlightPerConnection);
    this.requests = new FrameSplitter(this.requestHandler(), limits.maxFrameBytes, REQUEST_HEAD);
    this.responses = new FrameSplitter(this.responseHandler(), limits.maxFrameBytes, RESPONSE_HEAD);

    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.setTimeout(limits.idleTimeoutMs, () => this.close('idle timeout'));
    client.on('data', (chunk: Buffer) => this.onClientData(chunk));
    upstream.on('data', (chunk: Buffer) => this.onUpstreamData(chunk));
    upstream.on('drain', () => this.resume(Pause.UpstreamFull));
    client.on('drain', () => this.resumeUpstream(UpstreamPause.ClientFull));
    client.on('error', () => this.close('client error'));
    client.on('close', () => this.close('client closed'));
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      ctx.metrics.upstreamErrors.labels(upstreamErrorKind(err)).inc();
      ctx.warn.warn(`upstream-${err.code ?? 'error'}`, { conn: id, err: err.message }, 'broker connection failed');
      this.close('broker connection failed');
    });
    upstream.on('close', () => this.close('broker closed the connection'));
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Graceful stop: read no more requests, close once every in-flight response has been delivered. */
  drain(): void {
    this.closing = true;
    this.pause(Pause.Draining);
    if (this.inflight.size === 0 && this.heldResponses.pieces.length === 0) this.close('shutdown');
  }

  /** Closes both sockets (once). */
  close(reason: string): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.muteTimer);
    clearTimeout(this.heldRequests.timer);
    clearTimeout(this.heldResponses.timer);
    this.heldRequests.pieces.length = 0;
    this.heldResponses.pieces.length = 0;
    this.log.debug({ reason, inflight: this.inflight.size }, 'connection closed');
    if (reason === 'shutdown') {
      // flush what is written, then read to the client's FIN (a paused socket would never see it); a client that
      // does not close its side is cut off shortly after
      this.client.end();
      this.client.resume();
      setTimeout(() => this.client.destroy(), 2000).unref();
    } else {
      this.client.destroy();
    }
    this.upstream.destroy();
    this.ctx.closed(this);
  }

  private fail(err: unknown, side: 'client' | 'broker'): void {
    if (err instanceof ProtocolError) {
      this.ctx.metrics.protocolErrors.labels(err.code).inc();
      this.ctx.warn.warn(`bad-${side}-frame`, { conn: this.id, code: err.code }, `closing connection: bad frame from ${side}: ${err.message}`);
    } else {
      this.ctx.warn.warn('internal', { conn: this.id, err: String(err) }, 'closing connection: internal error');
    }
    this.close(`bad frame from ${side}`);
  }

  /**
   * Stops reading the client: the socket is paused and the request splitter stops at the end of the request under
   * way, keeping the rest of what was read (so a chunk of many small requests cannot run past a limit or a throttle).
   */
  private pause(reason: Pause): void {
    if (this.paused === 0) {
      this.client.pause();
      this.requests.suspend();
    }
    this.paused |= reason;
  }

  private resume(reason: Pause): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    if (this.paused !== 0 || this.done) return;
    this.feedRequests(() => this.requests.resume()); // may pause again
    if (this.paused === 0 && !this.done) this.client.resume();
  }

  private pauseUpstream(reason: UpstreamPause): void {
    if (this.upstreamPaused === 0) this.upstream.pause();
    this.upstreamPaused |= reason;
  }

  private resumeUpstream(reason: UpstreamPause): void {
    if ((this.upstreamPaused & reason) === 0) return;
    this.upstreamPaused &= ~reason;
    if (this.upstreamPaused === 0 && !this.done) this.upstream.resume();
  }

  private onClientData(chunk: Buffer): void {
    if (this.done) return; // a shutdown reads to the client's FIN and forwards nothing more
    this.feedRequests(() => this.requests.push(chunk));
  }

  /** Runs the request splitter (push or resume), forwarding what it hands over in as few writes as possible. */
  private feedRequests(feed: () => void): void {
    this.upstream.cork();
    try {
      feed();
    } catch (err) {
      this.fail(err, 'client');
    }
    this.upstream.uncork();
  }

  private onUpstreamData(chunk: Buffer): void {
    this.client.cork();
    try {
      this.responses.push(chunk);
    } catch (err) {
      this.fail(err, 'broker');
    }
    this.client.uncork();
  }

  private toBroker(piece: Buffer): void {
    if (this.heldRequests.until > 0) this.heldRequests.pieces.push(piece);
    else if (!this.upstream.write(piece)) this.pause(Pause.UpstreamFull);
  }

  private toClient(piece: Buffer): void {
    if (this.heldResponses.until > 0) this.heldResponses.pieces.push(piece);
    else if (!this.client.write(piece)) this.pauseUpstream(UpstreamPause.ClientFull);
  }

  /**
   * Does not read the client until now + ms (a throttle); extends a mute already running. A request being forwarded
   * is forwarded to its end first (as a broker reads a whole request before it mutes the channel), so the broker is
   * never left holding half a request.
   */
  private mute(ms: number, midRequest: boolean): void {
    const until = this.ctx.now() + ms;
    if (until <= this.mutedUntil) return;
    this.mutedUntil = until;
    if (midRequest) this.muteAtFrameEnd = true;
    else this.pause(Pause.Throttled);
    clearTimeout(this.muteTimer);
    this.muteTimer = setTimeout(() => {
      this.muteAtFrameEnd = false;
      this.resume(Pause.Throttled);
    }, Math.ceil(ms));
  }

  /** Holds requests (this one and what follows) back until `until`, not reading the client meanwhile. */
  private holdRequests(until: number): void {
    this.hold(this.heldRequests, until, () => this.pause(Pause.HoldingRequests), () => this.releaseRequests());
  }

  /** Holds responses (this one and what follows) back until `until`, not reading the broker meanwhile. */
  private holdResponses(until: number): void {
    this.hold(this.heldResponses, until, () => this.pauseUpstream(UpstreamPause.HoldingResponses), () => this.releaseResponses());
  }

  private hold(held: Held, until: number, pause: () => void, release: () => void): void {
    if (until <= held.until) return;
    held.until = until;
    pause();
    clearTimeout(held.timer);
    held.timer = setTimeout(release, Math.max(0, Math.ceil(until - this.ctx.now())));
  }

  private releaseRequests(): void {
    const pieces = this.heldRequests.pieces.splice(0);
    this.heldRequests.until = 0;
    this.upstream.cork();
    for (const p of pieces) this.toBroker(p);
    this.upstream.uncork();
    this.resume(Pause.HoldingRequests);
  }

  private releaseResponses(): void {
    const pieces = this.heldResponses.pieces.splice(0);
    this.heldResponses.until = 0;
    this.client.cork();
    for (const p of pieces) this.toClient(p);
    this.client.uncork();
    this.resumeUpstream(UpstreamPause.HoldingResponses);
    if (this.closing && this.inflight.size === 0) this.close('shutdown');
  }

  private requestHandler(): FrameHandler {
    return {
      onFrame: (size, head) => this.onRequest(size, head),
      onWhole: () => undefined,
      onBody: (chunk) => this.toBroker(chunk),
      onEnd: () => {
        if (!this.muteAtFrameEnd) return;
        this.muteAtFrameEnd = false;
        this.pause(Pause.Throttled);
      },
    };
  }

  /** Reads what the proxy needs from a request's head, tracks it and forwards the head; returns how to take the rest. */
  private onRequest(size: number, head: Buffer): number {
    const now = this.ctx.now();
    if (this.rawTokensLeft > 0 && !(this.rawTokensLeft === Infinity && this.looksLikeRequest(head))) {
      // an unframed SASL token after a v0 handshake: one response frame comes back for it
      this.rawTokensLeft--;
      this.saslClientToken(head.subarray(4));
      this.track(-1, -1, 0, now, RAW_SASL_TOKEN, 0);
      this.toBroker(head);
      return STREAM;
    }
    let acks = -1;
    let mechanism: string | undefined;
    let authBytes: Buffer | undefined;
    const h = this.header;
    try {
      readRequestHeader(head, h, this.reader, 4);
      if (h.apiKey === ApiKey.Produce && h.length >= 0) acks = produceAcks(head, 4 + h.length, h.apiVersion);
      else if (h.apiKey === ApiKey.SaslHandshake) mechanism = saslHandshakeMechanism(head, 4 + h.length, h.apiVersion);
      else if (h.apiKey === ApiKey.SaslAuthenticate && h.length >= 0) authBytes = saslAuthBytes(head, 4 + h.length, h.apiVersion);
    } catch (err) {
      const payload = head.length - 4;
      if (err instanceof ProtocolError && payload < size && payload < MAX_REQUEST_HEAD) return Math.min(size, payload * 8);
      throw err;
    }
    this.rawTokensLeft = 0;
    if (mechanism !== undefined) {
      this.sasl = { mechanism, user: undefined, sent: 0, accepted: 0 };
      if (h.apiVersion === 0) this.handshakeV0 = mechanism;
    }
    if (authBytes !== undefined) this.saslClientToken(authBytes);
    const api = this.ctx.metrics.api(h.apiKey);
    api.requests.inc();
    api.requestBytes.inc(size + 4);

    let throttle = 0;
    let hold = 0;
    let flags = 0;
    const quotas = this.ctx.quotas;
    if (quotas.active) {
      if (h.apiKey === ApiKey.Fetch && h.length >= 0 && this.admitFetch(head, 4 + h.length, h.apiVersion, h.clientId)) flags = THROTTLE_COUNTED;
      else if (h.apiKey === ApiKey.Produce) hold = quotas.produceHoldMs(this.tenant, h.clientId, size);
      throttle = quotas.chargeRequest(this.tenant, h.clientId, h.apiKey, size);
      if (hold > 0) this.holdRequests(now + hold);
      if (throttle > 0) {
        quotas.throttled(this.tenant, throttle);
        this.mute(throttle, head.length < size + 4);
      }
    }
    if (acks !== 0) {
      // acks=0 produce gets no response, so it is not tracked (its throttle is the mute alone); the response carries
      // what is left of the throttle once a held request is forwarded (a KIP-219 client must not wait twice)
      this.track(h.apiKey, h.apiVersion, h.correlationId, now, flags, throttle - hold);
    }
    this.toBroker(head);
    return STREAM;
  }

  /** Tracks a request whose response is awaited; at the limit, stops reading the client until a response frees a place. */
  private track(apiKey: number, version: number, correlationId: number, now: number, flags: number, throttle: number): void {
    // reading stops when the queue fills, so a request never finds it full
    if (!this.inflight.push(apiKey, version, correlationId, now, flags, throttle)) throw new Error('in-flight queue overflow');
    if (this.inflight.full) this.pause(Pause.InflightFull);
  }

  /**
   * A fetch: cap its max_bytes to what the tenant may take (one response then overshoots by one record batch at most,
   * KIP-74), and hold it back while the tenant is in debt. Returns whether it was capped or held (a throttle).
   */
  private admitFetch(head: Buffer, bodyAt: number, version: number, clientId: string | null): boolean {
    const allowance = this.ctx.quotas.fetchAllowance(this.tenant, clientId);
    let capped = false;
    if (allowance.maxBytes !== Infinity) {
      const at = bodyAt + fetchMaxBytesOffset(version);
      if (at + 4 <= head.length && head.readInt32BE(at) > allowance.maxBytes) {
        head.writeInt32BE(allowance.maxBytes, at);
        capped = true;
      }
    }
    if (allowance.waitMs > 0) this.holdRequests(this.ctx.now() + allowance.waitMs);
    if (!capped && allowance.waitMs === 0) return false;
    this.ctx.quotas.throttled(this.tenant, allowance.waitMs);
    return true;
  }

  /** A client SASL token (SaslAuthenticate's auth_bytes, or an unframed v0 token). */
  private saslClientToken(token: Buffer): void {
    const s = this.sasl;
    if (!s) return;
    if (s.sent === 0) s.user = usernameOf(s.mechanism, token);
    s.sent++;
  }

  /** The broker accepted (ok) or refused a SASL token; the principal is bound once the whole exchange succeeded. */
  private saslServerToken(ok: boolean): void {
    const s = this.sasl;
    if (!s) return;
    if (!ok) {
      this.sasl = undefined;
      return;
    }
    s.accepted++;
    if (s.accepted >= clientTokens(s.mechanism)) {
      if (s.user !== undefined) this.ctx.quotas.bindPrincipal(this.tenant, s.user);
      this.sasl = undefined;
    }
  }

  /** After an unknown mechanism's v0 handshake: does this frame read as a Kafka request rather than a SASL token? */
  private looksLikeRequest(head: Buffer): boolean {
    if (head.length < 12) return false;
    const api = apiSchema(head.readInt16BE(4));
    const version = head.readInt16BE(6);
    return api !== undefined && version >= api.minVersion && version <= api.maxVersion;
  }

  private responseHandler(): FrameHandler {
    return {
      onFrame: (size, head) => this.onResponse(size, head),
      onWhole: (frame) => this.onWholeResponse(frame),
      onBody: (chunk) => this.toClient(chunk),
      onEnd: () => this.responseDone(),
    };
  }

  /** Checks a response against the request in flight, applies throttles; returns WHOLE for responses to rewrite. */
  private onResponse(size: number, head: Buffer): number {
    if (this.inflight.size === 0) throw new UnexpectedResponseError('a response with no request in flight');
    const whole = head.length === size + 4;
    if ((this.inflight.firstFlags() & RAW_SASL_TOKEN) !== 0) {
      const s = this.sasl;
      if (s) this.saslServerToken(!s.mechanism.startsWith('SCRAM-') || s.accepted === 0 || scramServerFinalOk(head.subarray(4)));
      this.toClient(head);
      if (whole) this.responseDone();
      return STREAM;
    }
    const expected = this.inflight.firstCorrelationId();
    const got = size >= 4 ? head.readInt32BE(4) : NaN;
    if (got !== expected) {
      const api = apiName(this.inflight.firstApiKey());
      throw new UnexpectedResponseError(`correlation id ${got} does not match the ${api} request in flight (${expected})`);
    }
    const apiKey = this.inflight.firstApiKey();
    const version = this.inflight.firstApiVersion();
    let header;
    try {
      header = readResponseHeader(head, apiKey, version, this.responseHeader, this.reader, 4);
    } catch (err) {
      if (err instanceof ProtocolError && !whole) return Math.min(size, (head.length - 4) * 8); // header tagged fields beyond the head
      throw err;
    }
    const bodyAt = 4 + header.length;
    const api = this.ctx.metrics.api(apiKey);
    api.latency.observe((this.ctx.now() - this.inflight.firstStartMs()) / 1000);
    api.responseBytes.inc(size + 4);
    if (apiKey === ApiKey.SaslHandshake && version === 0 && this.handshakeV0 !== undefined) {
      if (head.length >= bodyAt + 2 && head.readInt16BE(bodyAt) === ErrorCode.NONE) this.rawTokensLeft = RAW_TOKENS[this.handshakeV0] ?? Infinity;
      this.handshakeV0 = undefined;
    } else if (apiKey === ApiKey.SaslAuthenticate && head.length >= bodyAt + 2) {
      this.saslServerToken(head.readInt16BE(bodyAt) === ErrorCode.NONE);
    }

    let throttle = this.inflight.firstThrottleMs();
    if (apiKey === ApiKey.Fetch && this.ctx.quotas.active) {
      const t = this.ctx.quotas.chargeFetchResponse(this.tenant, size);
      if (t > 0) {
        this.ctx.quotas.throttled(this.tenant, t, (this.inflight.firstFlags() & THROTTLE_COUNTED) === 0);
        this.mute(t, this.requests.frameBytesLeft > 0);
        throttle = Math.max(throttle, t);
      }
    }
    if (throttle > 0 && !clientBacksOff(apiKey, version)) this.holdResponses(this.mutedUntil);

    if (this.ctx.rewriter.needsWhole(apiKey, version, throttle)) {
      if (whole) {
        this.toClient(this.ctx.rewriter.rewrite(head, apiKey, version, throttle));
        this.responseDone();
        return STREAM;
      }
      if (size > this.ctx.limits.maxRewriteFrameBytes) {
        throw new UnexpectedResponseError(`${apiName(apiKey)} response of ${size} bytes exceeds maxRewriteFrameBytes`);
      }
      this.wholeThrottle = throttle;
      return WHOLE;
    }
    if (throttle > 0) this.ctx.rewriter.patchThrottle(head, bodyAt, apiKey, version, throttle);
    this.toClient(head);
    if (whole) this.responseDone();
    return STREAM;
  }

  private onWholeResponse(frame: Buffer): void {
    this.toClient(this.ctx.rewriter.rewrite(frame, this.inflight.firstApiKey(), this.inflight.firstApiVersion(), this.wholeThrottle));
    this.responseDone();
  }

  private responseDone(): void {
    this.inflight.shift();
    if (!this.inflight.full) this.resume(Pause.InflightFull);
    if (this.closing && this.inflight.size === 0 && this.heldResponses.pieces.length === 0) this.close('shutdown');
  }
}

/** The broker sent a response the proxy did not expect (no request in flight, wrong correlation id, too large to rewrite). */
export class UnexpectedResponseError extends ProtocolError {
  readonly code = 'KQP_UNEXPECTED_RESPONSE';
  override readonly name = 'UnexpectedResponseError';

  constructor(detail: string) {
    super('Response', -1, '', detail);
  }
}
