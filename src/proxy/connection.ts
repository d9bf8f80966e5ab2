// The relay: one client connection and its own upstream connection to the broker. Requests and responses are split
// into frames and forwarded as the pieces they arrived in (views, no copies), except the few responses that are
// rewritten whole. In-flight requests are tracked in order; backpressure pauses the reading side when the writing side
// is full. What is decided about each request comes from its API key's stage (request-stages.ts), which the relay
// carries out (hold, mute, throttle_time_ms, no response, take the whole frame, answer locally); the SASL exchange is
// followed by sasl-tracker.ts.
//
// Quotas are enforced the way a Kafka broker enforces them, without buffering what a tenant sends: a request that puts
// its tenant in debt is still forwarded at once and its bytes are not kept; the client's socket is then not read for
// the throttle time (muted). A produce that would take its tenant more than a quarter of the burst into debt is held
// first (its head and what was read of it; the rest stays in the socket) until it would not. A response carries
// throttle_time_ms = max(broker's, proxy's); for versions whose clients back off by themselves (KIP-219) it goes out
// at once, for older versions it is held until the mute ends (by not reading it from the broker). A fetch's max_bytes
// is capped to what the tenant may take, its response is charged and throttles the same way; a fetch from a tenant
// already in debt (through another connection) is held, unforwarded, until the debt is paid. Held and capped fetches
// count as throttled in the metrics.
import type { Socket } from 'node:net';
import { FrameSplitter, STREAM, WHOLE, type FrameHandler } from '../protocol/frame-splitter.js';
import { emptyRequestHeader, emptyResponseHeader, readRequestHeader, readResponseHeader } from '../protocol/headers.js';
import { FrameTooLargeError, ProtocolError } from '../protocol/errors.js';
import { Reader } from '../protocol/reader.js';
import { apiName } from '../protocol/api.js';
import type { Logger, RateLimitedLog } from '../observability/logger.js';
import { upstreamErrorKind, type ProxyMetrics } from '../observability/metrics.js';
import type { Limits } from '../config/load-config.js';
import type { HoldCheck, QuotaEnforcer, TenantState } from '../quota/quota-enforcer.js';
import { clientBacksOff } from '../quota/client-backoff.js';
import { GATED, InflightQueue, LOCAL_ANSWER, MERGE, RAW_SASL_TOKEN, REPLICATION, THROTTLE_COUNTED, type Merge } from './inflight-queue.js';
import type { AdminGate } from './admin-gate.js';
import type { ResponseRewriter } from './response-rewriter.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import { SaslTracker } from './sasl-tracker.js';
import type { ConnectionGuard, RefusalReason } from './connection-guard.js';
import type { TlsRejection } from '../tls/tls-listener.js';
import { emptyDecision, resetDecision, type StageTable, type RequestView } from './request-stages.js';
import { DeadlineTimer } from './deadline-timer.js';

/**
 * Bytes of each request read before it is forwarded. Headers and the fields the proxy peeks at nearly always fit; when
 * they do not (a client id of kilobytes), the head is grown, up to MAX_REQUEST_HEAD (client id and transactional id
 * are at most 32 KiB each).
 */
export const REQUEST_HEAD = 512;
const MAX_REQUEST_HEAD = 72 * 1024;
/** Responses: the correlation id and the first fields of the body. */
export const RESPONSE_HEAD = 64;
/** The most of a response read to find the end of its header (its tagged fields; a few bytes in practice). */
const MAX_RESPONSE_HEAD = 64 * 1024;
/** The largest response frame: what its int32 size can say (streamed through; see maxRewriteFrameBytes for those taken whole). */
const MAX_RESPONSE_BYTES = 0x7fffffff;
/**
 * What the proxy keeps back (held requests, a muted client's unread requests) goes to the broker this long before the
 * broker's SASL session ends (KIP-368), at most: time for it to reach the broker, which checks the session when it has
 * read a request. No more than 5% of the session either: clients re-authenticate at 85-95% of it
 * (SaslClientAuthenticator.ReauthInfo), and what they send before that must reach the broker in that session.
 */
const SESSION_MARGIN_MS = 1000;
const SESSION_MARGIN_SHARE = 0.05;
/**
 * A TLS handshake record's first two bytes (type 22, major version 3): what a TLS client's ClientHello looks like when
 * read as a frame size (0x1603xxxx, about 369 MB: above limits.maxFrameBytes unless it is raised that far).
 */
const TLS_RECORD_PREFIX = 0x1603;
/** What the request view and the reader hold before the first request (one for every connection). */
const EMPTY = Buffer.alloc(0);

/** Why the client socket is not being read (a bit each; reading resumes when none is left). */
export const enum Pause {
  UpstreamFull = 1,
  InflightFull = 2,
  Draining = 4,
  Throttled = 8,
  HoldingRequests = 16,
  Parked = 32,
  /**
   * A SASL token is at the broker: what the client sent after it is read once the broker's verdict has bound (or not)
   * the principal, so that it is charged as the broker will serve it (Kafka reads one receive per authentication step:
   * SaslServerAuthenticator). Clients send nothing in between; one that does could otherwise be charged as ANONYMOUS.
   */
  Authenticating = 64,
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
  stages: StageTable;
  guard: ConnectionGuard;
  gate: AdminGate;
  /** tenants.oauthbearerSubClaim: the JWT claim that names an OAUTHBEARER login's user. */
  oauthbearerClaim: string;
  /** A SASL login has succeeded on some connection of this sidecar: its broker's listener is a SASL one. */
  saslLogins: boolean;
  warn: RateLimitedLog;
  now(): number;
  closed(conn: Connection): void;
  refused(reason: RefusalReason, remote: string, limit: number): void;
  rejected(reason: TlsRejection, remote: string, detail: string): void;
}

/** Pieces held back in one direction until a time, with the socket that feeds them paused. */
interface Held {
  until: number;
  pieces: Buffer[];
  timer: DeadlineTimer;
}

export class Connection {
  readonly tenant: TenantState;
  private readonly requests: FrameSplitter;
  private readonly responses: FrameSplitter;
  private readonly inflight: InflightQueue;
  private readonly header = emptyRequestHeader();
  private readonly responseHeader = emptyResponseHeader();
  private readonly reader = new Reader(EMPTY);
  private paused = 0;
  private upstreamPaused = 0;
  private closing = false;
  private done = false;
  private readonly sasl: SaslTracker;
  private readonly view: RequestView;
  private readonly decision = emptyDecision();
  /** The rest of the request being read is dropped: the proxy answered it. */
  private discarding = false;
  /** The principal counted against connections.maxPerPrincipal for this connection (its certificate's, then its SASL one). */
  private principal: string | undefined;
  /** The client is not read before this time (throttled). */
  private mutedUntil = 0;
  /**
   * When its throttle ends (mutedUntil may end sooner, at sessionEnd): a client that does not back off waits for its
   * responses till then.
   */
  private throttledUntil = 0;
  /**
   * Pauses (a mute, a full in-flight queue, a drain) decided while a request was being forwarded: they start when that
   * request's last byte is forwarded (stopping mid-request would leave the broker waiting for the rest, and the client
   * waiting for a response that cannot come).
   */
  private pauseAtFrameEnd = 0;
  /** The parked request's wait ended while the in-flight queue was full: it goes once a response makes room. */
  private unparkOnRoom = false;
  private readonly muteTimer: DeadlineTimer;
  private readonly heldRequests: Held;
  /** When the broker-budget part of the requests' hold ends (a reload does not shorten that). */
  private budgetUntil = 0;
  /** What was charged for the held requests: checked again when the hold ends (recheck), refunded if never forwarded. */
  private readonly holdChecks: HoldCheck[] = [];
  private readonly heldResponses: Held;
  /** A chunk from the broker is being handed over: toClient gathers adjacent pieces (outPiece, to outEnd). */
  private coalescing = false;
  private outPiece: Buffer | undefined;
  /** Where the gathered bytes end, as a byte offset in outPiece's ArrayBuffer. */
  private outEnd = 0;
  /** Request pieces toBroker gathered (inPiece, to inEnd), written when the chunk or the release is handled. */
  private inPiece: Buffer | undefined;
  private inEnd = 0;
  /** The throttle given to the response being taken whole. */
  private wholeThrottle = 0;
  /** A whole request its stage parked (it waits for view.resume). */
  private parked: Buffer | undefined;
  /**
   * The SASL session the broker gave this connection (connections.max.reauth.ms, KIP-368): when it expires, and the time
   * before that by which what the proxy keeps back is let go (Infinity: no session lifetime). Kafka closes a connection
   * whose session has expired when it reads any request but a SaslHandshake (SocketServer's Processor, "Disconnecting
   * expired channel"); a client re-authenticates before it sends, but what it sent before that and the proxy holds, or
   * has not read while muting it, must reach the broker in the old session. From sessionEnd to the expiry nothing is
   * held and the client is not muted (what it is told to wait stands; its debt stays owed).
   */
  private sessionEnd = Infinity;
  private sessionExpiry = Infinity;
  /** A SASL exchange of this connection has succeeded. */
  private loggedIn = false;

  constructor(
    readonly id: number,
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly ctx: ConnectionContext,
    readonly log: Logger,
    /** The client's source address, as the connection limits count it. */
    readonly ip: string,
    /** On a TLS listener, the client certificate's mapped name (already counted against connections.maxPerPrincipal). */
    certificatePrincipal?: string,
  ) {
    const { limits } = ctx;
    this.muteTimer = new DeadlineTimer(ctx);
    this.heldRequests = { until: 0, pieces: [], timer: new DeadlineTimer(ctx) };
    this.heldResponses = { until: 0, pieces: [], timer: new DeadlineTimer(ctx) };
    this.principal = certificatePrincipal;
    this.tenant = ctx.quotas.newTenant(client.remoteAddress, certificatePrincipal);
    this.sasl = new SaslTracker((principal) => {
      this.loggedIn = true;
      ctx.saslLogins = true;
      this.bindPrincipal(principal);
    }, (lifetimeMs) => {
      this.sessionExpiry = ctx.now() + lifetimeMs;
      this.sessionEnd = this.sessionExpiry - Math.min(SESSION_MARGIN_MS, lifetimeMs * SESSION_MARGIN_SHARE);
    }, () => ctx.oauthbearerClaim);
    this.view = {
      head: EMPTY, size: 0, header: this.header, bodyAt: -1, tenant: this.tenant,
      resume: () => this.unpark(), ticket: undefined, lookedUp: false, wake: undefined, forwardBy: Infinity, forwardLeftMs: Infinity,
      beforeLogin: false,
    };
    this.inflight = new InflightQueue(limits.maxInFlightPerConnection);
    this.requests = new FrameSplitter(this.requestHandler(), limits.maxFrameBytes, REQUEST_HEAD);
    // responses are not held to maxFrameBytes (a request limit, Kafka's socket.request.max.bytes: clients take responses
    // of any size, a fetch with a raised fetch.max.bytes among them); what is taken whole is bounded by maxRewriteFrameBytes
    this.responses = new FrameSplitter(this.responseHandler(), MAX_RESPONSE_BYTES, RESPONSE_HEAD);

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
  /** New limits (a reload): frame size, requests in flight and idle timeout apply from now on. */
  applyLimits(limits: Limits): void {
    this.requests.maxFrameSize = limits.maxFrameBytes;
    this.inflight.capacity = limits.maxInFlightPerConnection;
    if (this.inflight.full) this.pauseAfterRequest(Pause.InflightFull, this.requests.inBody);
    else this.unpauseInflight();
    this.client.setTimeout(limits.idleTimeoutMs);
  }

  drain(): void {
    this.closing = true;
    this.pauseAfterRequest(Pause.Draining, this.requests.inBody);
    if (this.inflight.size === 0 && this.heldResponses.pieces.length === 0) this.close('shutdown');
  }

  /** Closes both sockets (once). */
  close(reason: string): void {
    if (this.done) return;
    this.flushToClient(); // what was handed over before the close goes out, as it would have unbatched
    this.done = true;
    this.muteTimer.cancel();
    this.heldRequests.timer.cancel();
    this.heldResponses.timer.cancel();
    // held requests never reached the broker: what they were charged goes back
    for (const check of this.holdChecks) this.ctx.quotas.refundHeld(check);
    this.holdChecks.length = 0;
    this.heldRequests.pieces.length = 0;
    this.heldResponses.pieces.length = 0;
    const ticket = this.parked && this.view.ticket;
    // a parked request admitted by the gate holds a place until it is forwarded (it may wait for in-flight room)
    if (ticket && ticket.state === 'admitted') this.ctx.gate.release();
    else if (ticket) this.ctx.gate.cancel(ticket);
    clearTimeout(this.view.wake);
    this.parked = undefined;
    for (let n = this.inflight.countFlagged(GATED); n > 0; n--) this.ctx.gate.release();
    if (this.principal !== undefined) this.ctx.guard.principalClosed(this.principal);
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

  /**
   * The broker accepted a SASL exchange for `principal`: counted per principal (over the limit, closed), and the
   * tenant's; undefined (a user the proxy could not read) releases the certificate's principal, if any.
   */
  private bindPrincipal(principal: string | undefined): void {
    if (principal === this.principal) return;
    if (this.principal !== undefined) this.ctx.guard.principalClosed(this.principal);
    this.principal = undefined;
    if (principal === undefined) {
      this.ctx.quotas.bindPrincipal(this.tenant, undefined);
      return;
    }
    if (!this.ctx.guard.bindPrincipal(principal)) {
      this.ctx.refused('per_principal_limit', principal, this.ctx.guard.maxPerPrincipal);
      this.close('too many connections for its principal');
      return;
    }
    this.principal = principal;
    this.ctx.quotas.bindPrincipal(this.tenant, principal);
  }

  private fail(err: unknown, side: 'client' | 'broker'): void {
    if (side === 'client' && err instanceof FrameTooLargeError && err.frameSize >>> 16 === TLS_RECORD_PREFIX) {
      this.ctx.rejected('tls_client_on_plaintext_port', this.ip, err.message);
    } else if (err instanceof ProtocolError) {
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

  /** Pauses now, or once the request being forwarded is (`midRequest`). */
  private pauseAfterRequest(reason: Pause, midRequest: boolean): void {
    if (midRequest) this.pauseAtFrameEnd |= reason;
    else this.pause(reason);
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
    this.flushToBroker();
    this.forgetChunk();
    this.upstream.uncork();
  }

  /**
   * Drops the last head's view once a chunk is handled: a view keeps its whole chunk (up to 64 KB as the socket read
   * it) in memory, for as long as the connection then stays idle. A parked request is kept by `parked`.
   */
  private forgetChunk(): void {
    this.view.head = EMPTY;
    this.reader.reset(EMPTY, 0, 0);
  }

  private onUpstreamData(chunk: Buffer): void {
    this.client.cork();
    this.coalescing = true;
    try {
      this.responses.push(chunk);
    } catch (err) {
      this.fail(err, 'broker');
    }
    this.coalescing = false;
    this.flushToClient();
    this.forgetChunk();
    this.client.uncork();
  }

  /**
   * To the broker, in order; called only while a chunk from the client or released requests are handed over, which
   * then flush. A piece that continues the last one in memory extends it: a request that came in one chunk (its head
   * and body are handed over as two pieces) or a chunk of small requests goes out in one write, as through a plain
   * pipe. (A writev of the pieces cost the proxy more per request than one write of the same bytes: bench/RESULTS.md,
   * peers run 7.)
   */
  private toBroker(piece: Buffer): void {
    if (this.heldRequests.until > 0) {
      this.heldRequests.pieces.push(piece);
    } else if (continues(this.inPiece, this.inEnd, piece)) {
      this.inEnd += piece.length;
    } else {
      this.flushToBroker();
      this.inPiece = piece;
      this.inEnd = piece.byteOffset + piece.length;
    }
  }

  /** Writes what toBroker gathered. */
  private flushToBroker(): void {
    const first = this.inPiece;
    if (first === undefined) return;
    this.inPiece = undefined;
    if (!this.done && !this.upstream.write(gathered(first, this.inEnd))) this.pause(Pause.UpstreamFull);
  }

  /**
   * To the client, in order. While a chunk from the broker is handed over, a piece that continues the last one in
   * memory (the next response of the same chunk, passed on as it came or patched in place) extends it, so that a chunk
   * of many small responses goes out in one write, as a plain pipe's would, instead of one per response.
   */
  private toClient(piece: Buffer): void {
    if (this.heldResponses.until > 0) {
      this.flushToClient();
      this.heldResponses.pieces.push(piece);
    } else if (!this.coalescing) {
      this.writeToClient(piece);
    } else if (continues(this.outPiece, this.outEnd, piece)) {
      this.outEnd += piece.length;
    } else {
      this.flushToClient();
      this.outPiece = piece;
      this.outEnd = piece.byteOffset + piece.length;
    }
  }

  /** Writes what toClient gathered. */
  private flushToClient(): void {
    const first = this.outPiece;
    if (first === undefined) return;
    this.outPiece = undefined;
    if (!this.done) this.writeToClient(gathered(first, this.outEnd));
  }

  private writeToClient(piece: Buffer): void {
    if (!this.client.write(piece)) this.pauseUpstream(UpstreamPause.ClientFull);
  }

  /**
   * Does not read the client until now + ms (a throttle); extends a mute already running. A request being forwarded
   * is forwarded to its end first (as a broker reads a whole request before it mutes the channel), so the broker is
   * never left holding half a request.
   */
  private mute(ms: number, midRequest: boolean): void {
    const now = this.ctx.now();
    this.throttledUntil = Math.max(this.throttledUntil, now + ms);
    const until = Math.min(now + ms, this.keepBackLimit(now));
    if (until <= now || until <= this.mutedUntil) return;
    this.mutedUntil = until;
    this.pauseAfterRequest(Pause.Throttled, midRequest);
    this.muteTimer.set(until, this.unmute);
  }

  private readonly unmute = () => {
    this.pauseAtFrameEnd &= ~Pause.Throttled;
    this.resume(Pause.Throttled);
  };

  /**
   * The quotas were reloaded: a throttle running here (a mute, held requests, held responses) ends no later than its
   * tenant's debt under the quotas now in force is paid, at once when none of them is enforced any more (a quota
   * removed, or turned to shadow mode). A wait for the broker budget keeps its end; a longer debt extends nothing.
   */
  quotasChanged(): void {
    const now = this.ctx.now();
    if (this.mutedUntil <= now && this.heldRequests.until <= now && this.heldResponses.until <= now) return;
    const until = now + this.ctx.quotas.owedMs(this.tenant);
    this.throttledUntil = Math.min(this.throttledUntil, until);
    if (this.mutedUntil > until) {
      this.mutedUntil = until;
      this.muteTimer.set(until, this.unmute);
    }
    const requestsUntil = Math.max(until, this.budgetUntil);
    if (this.heldRequests.until > requestsUntil) {
      this.heldRequests.until = requestsUntil;
      this.heldRequests.timer.set(requestsUntil, () => this.releaseRequests());
    }
    if (this.heldResponses.until > until) {
      this.heldResponses.until = until;
      this.heldResponses.timer.set(until, () => this.releaseResponses());
    }
  }

  /** How long what the client sends may be kept back from the broker, from now: see sessionEnd. */
  private keepBackLimit(now: number): number {
    if (now < this.sessionEnd) return this.sessionEnd;
    return now < this.sessionExpiry ? now : Infinity;
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
    held.timer.set(until, release);
  }

  private releaseRequests(): void {
    // a hold cut to one coordination interval: on while the tenant still owes more than a request may leave
    let more = 0;
    for (const check of this.holdChecks) more = Math.max(more, this.ctx.quotas.holdLeft(check));
    const now = this.ctx.now();
    const until = Math.min(now + more, this.keepBackLimit(now));
    if (until > now) {
      this.heldRequests.until = until;
      this.heldRequests.timer.set(until, () => this.releaseRequests());
      return;
    }
    // the client went away meanwhile (its end read behind what it sent, while under 16 KB of that waits): what it sent
    // goes nowhere, and what that was charged goes back (close)
    if (endOfStreamRead(this.client)) {
      this.close('the client left while its requests were held');
      return;
    }
    this.holdChecks.length = 0;
    const pieces = this.heldRequests.pieces.splice(0);
    this.heldRequests.until = 0;
    this.budgetUntil = 0;
    this.upstream.cork();
    for (const p of pieces) this.toBroker(p);
    this.flushToBroker();
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
      onWhole: (frame) => this.onRequest(frame.length - 4, frame),
      onBody: (chunk) => {
        if (!this.discarding) this.toBroker(chunk);
      },
      onEnd: () => {
        this.discarding = false;
        const reasons = this.pauseAtFrameEnd;
        if (reasons === 0) return;
        this.pauseAtFrameEnd = 0;
        this.pause(reasons);
      },
    };
  }

  /**
   * Reads a request's header, follows SASL, asks the request's stage what to do and does it, tracks the request and
   * forwards its head; returns how to take the rest.
   */
  private onRequest(size: number, head: Buffer): number {
    const now = this.ctx.now();
    if (this.sasl.rawToken(head)) {
      // an unframed SASL token after a v0 handshake: one response frame comes back for it
      this.track(-1, -1, 0, now, RAW_SASL_TOKEN, 0, head.length < size + 4);
      this.toBroker(head);
      this.pauseAfterRequest(Pause.Authenticating, head.length < size + 4);
      return STREAM;
    }
    const h = this.header;
    const d = this.decision;
    const view = this.view;
    const rerun = head === this.parked;
    this.parked = undefined;
    if (!rerun) {
      view.ticket = undefined;
      view.lookedUp = false;
      view.wake = undefined;
      view.forwardBy = this.keepBackLimit(now);
    }
    view.forwardLeftMs = view.forwardBy - now;
    view.beforeLogin = this.ctx.saslLogins && !this.loggedIn;
    try {
      readRequestHeader(head, h, this.reader, 4);
      view.head = head;
      view.size = size;
      view.bodyAt = h.length >= 0 ? 4 + h.length : -1;
      if (!rerun) this.sasl.request(h.apiKey, h.apiVersion, head, view.bodyAt);
      resetDecision(d);
      this.ctx.stages.of(h.apiKey)(view, d);
    } catch (err) {
      const payload = head.length - 4;
      if (err instanceof ProtocolError && payload < size && payload < MAX_REQUEST_HEAD) return Math.min(size, MAX_REQUEST_HEAD, payload * 8);
      throw err;
    }
    const partial = head.length < size + 4;
    if (d.whole && partial) {
      if (size > this.ctx.limits.maxRewriteFrameBytes) throw new RequestTooLargeError(h.apiKey, h.apiVersion, size);
      return WHOLE;
    }
    if (d.park) {
      if (partial) throw new Error('a stage parked a request it did not take whole');
      this.parked = head;
      this.pause(Pause.Parked);
      return STREAM;
    }
    const api = this.ctx.metrics.api(h.apiKey);
    api.requests.inc();
    api.requestBytes.inc(size + 4);
    const holdMs = Math.max(d.holdMs, d.budgetWaitMs);
    // held until its debt is paid or, sooner, until the end of its SASL session: what it could not wait is added to
    // what its response tells the client to wait
    const heldFor = Math.min(holdMs, Math.max(0, view.forwardLeftMs));
    if (heldFor < holdMs) d.responseThrottleMs += holdMs - heldFor;
    if (heldFor > 0) {
      this.holdRequests(now + heldFor);
      this.budgetUntil = Math.max(this.budgetUntil, now + Math.min(d.budgetWaitMs, heldFor));
      if (d.holdCheck) this.holdChecks.push(d.holdCheck);
    }
    if (d.muteMs > 0) this.mute(d.muteMs, partial);
    if (d.answer) {
      this.discarding = partial;
      // nothing ahead of it: it goes at once; else when its turn comes (responseDone)
      if (this.inflight.size === 0) this.toClient(d.answer);
      else this.track(h.apiKey, h.apiVersion, h.correlationId, now, d.flags | LOCAL_ANSWER, d.responseThrottleMs, partial, d.answer);
      return STREAM;
    }
    // its latency (kqp_request_duration_seconds) counts from when it goes to the broker: after a hold, not before
    const sent = this.heldRequests.until > 0 ? Math.max(now, this.heldRequests.until) : now;
    if (!d.noResponse) this.track(h.apiKey, h.apiVersion, h.correlationId, sent, d.merge ? d.flags | MERGE : d.flags, d.responseThrottleMs, partial, d.merge);
    this.toBroker(d.forward ?? head);
    if (h.apiKey === ApiKey.SaslAuthenticate) this.pauseAfterRequest(Pause.Authenticating, partial);
    return STREAM;
  }

  /** The broker answered a SASL token (the principal bound, or not): reading the client goes on. */
  private authenticated(): void {
    this.pauseAtFrameEnd &= ~Pause.Authenticating;
    this.resume(Pause.Authenticating);
  }

  /** The parked request's wait is over: its stage decides again (it may park it again); then reading goes on. */
  private unpark(): void {
    const frame = this.parked;
    if (!frame || this.done) return;
    // a reload lowered maxInFlightPerConnection below what this connection has in flight: it waits for room
    if (this.inflight.full) {
      this.unparkOnRoom = true;
      return;
    }
    this.feedRequests(() => this.onRequest(frame.length - 4, frame));
    if (!this.parked) this.resume(Pause.Parked);
  }

  /**
   * Tracks a request whose response is awaited; at the limit, stops reading the client (after the rest of this request,
   * when `partial`) until a response frees a place.
   */
  private track(
    apiKey: number, version: number, correlationId: number, now: number, flags: number, throttle: number, partial: boolean, attachment?: Buffer | Merge,
  ): void {
    // reading stops when the queue fills (at the end of the request that filled it), so a request never finds it full
    if (!this.inflight.push(apiKey, version, correlationId, now, flags, throttle, attachment)) throw new Error('in-flight queue overflow');
    if (this.inflight.full) this.pauseAfterRequest(Pause.InflightFull, partial);
  }

  private unpauseInflight(): void {
    this.pauseAtFrameEnd &= ~Pause.InflightFull;
    this.resume(Pause.InflightFull); // a parked request keeps the client unread (Pause.Parked) until it goes
    if (this.unparkOnRoom) {
      this.unparkOnRoom = false;
      this.unpark();
    }
  }

  private responseHandler(): FrameHandler {
    return {
      onFrame: (size, head) => this.onResponse(size, head),
      onWhole: (frame) => this.onWholeResponse(frame),
      onBody: (chunk) => {
        if (!this.done) this.toClient(chunk);
      },
      onEnd: () => this.responseDone(),
    };
  }

  /** Checks a response against the request in flight, applies throttles; returns WHOLE for responses to rewrite. */
  private onResponse(size: number, head: Buffer): number {
    // closed while the broker's chunk was being handed over (a principal over its limit): the rest of it is dropped
    if (this.done) return STREAM;
    if (this.inflight.size === 0) throw new UnexpectedResponseError('a response with no request in flight');
    const whole = head.length === size + 4;
    if ((this.inflight.firstFlags() & RAW_SASL_TOKEN) !== 0) {
      this.sasl.rawTokenResponse(head);
      this.authenticated();
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
      // header tagged fields beyond the head: read more, up to MAX_RESPONSE_HEAD (a header that never parses is no header)
      const payload = head.length - 4;
      if (err instanceof ProtocolError && !whole && payload < MAX_RESPONSE_HEAD) return Math.min(size, MAX_RESPONSE_HEAD, payload * 8);
      throw err;
    }
    const bodyAt = 4 + header.length;
    // a SaslAuthenticate response is read whole (its session lifetime follows the server's token), up to MAX_RESPONSE_HEAD
    if (apiKey === ApiKey.SaslAuthenticate && !whole && size <= MAX_RESPONSE_HEAD) return size;
    const api = this.ctx.metrics.api(apiKey);
    api.latency.observe((this.ctx.now() - this.inflight.firstStartMs()) / 1000);
    api.responseBytes.inc(size + 4);
    this.sasl.response(apiKey, version, head, bodyAt);
    if (apiKey === ApiKey.SaslAuthenticate) this.authenticated();

    let throttle = this.inflight.firstThrottleMs();
    if ((apiKey === ApiKey.Fetch || apiKey === ApiKey.ShareFetch) && this.ctx.quotas.active && (this.inflight.firstFlags() & REPLICATION) === 0) {
      const t = this.ctx.quotas.chargeFetchResponse(this.tenant, size);
      if (t > 0) {
        this.ctx.quotas.throttled(this.tenant, t, (this.inflight.firstFlags() & THROTTLE_COUNTED) === 0);
        // a request whose head is still being read has had nothing forwarded: the mute starts at once
        this.mute(t, this.requests.inBody);
        throttle = Math.max(throttle, t);
      }
    }
    if (throttle > 0 && !clientBacksOff(apiKey, version)) this.holdResponses(this.throttledUntil);

    const merge = this.firstMerge();
    if (merge || this.ctx.rewriter.needsWhole(apiKey, version, throttle)) {
      if (whole) {
        this.toClient(this.ctx.rewriter.rewrite(head, apiKey, version, throttle, merge));
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
    if (this.done) return;
    this.toClient(this.ctx.rewriter.rewrite(frame, this.inflight.firstApiKey(), this.inflight.firstApiVersion(), this.wholeThrottle, this.firstMerge()));
    this.responseDone();
  }

  private firstMerge(): Merge | undefined {
    return (this.inflight.firstFlags() & MERGE) !== 0 ? (this.inflight.firstAttachment() as Merge) : undefined;
  }

  /** A response went to the client; so do the proxy's own answers that were waiting for it. */
  private responseDone(): void {
    if (this.done) return; // closed meanwhile: close() released its gate places
    // shifted before the place is given back: release() may admit this connection's own waiting request at once and
    // read on, and a close() meanwhile must not find this entry still GATED and release its place a second time
    const gated = (this.inflight.firstFlags() & GATED) !== 0;
    this.inflight.shift();
    if (gated) this.ctx.gate.release();
    while (this.inflight.size > 0 && (this.inflight.firstFlags() & LOCAL_ANSWER) !== 0) {
      this.toClient(this.inflight.firstAttachment() as Buffer);
      this.inflight.shift();
    }
    if (!this.inflight.full) this.unpauseInflight();
    if (this.closing && this.inflight.size === 0 && this.heldResponses.pieces.length === 0) this.close('shutdown');
  }
}

/**
 * The client's end of stream has been read, maybe behind data not yet consumed (Readable's state: Node has no public
 * flag for it before 'end' is emitted, which a paused socket holding data never does).
 */
export function endOfStreamRead(socket: Socket): boolean {
  return (socket as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true;
}

/** Whether `piece` starts where the gathered bytes (`first`, to byte offset `end` of its ArrayBuffer) end. */
function continues(first: Buffer | undefined, end: number, piece: Buffer): boolean {
  return first !== undefined && first.buffer === piece.buffer && end === piece.byteOffset;
}

/** The gathered bytes as one buffer: `first` extended to byte offset `end` of its ArrayBuffer. */
function gathered(first: Buffer, end: number): Buffer {
  const length = end - first.byteOffset;
  return length === first.length ? first : Buffer.from(first.buffer, first.byteOffset, length);
}

/** A request a stage needed whole is larger than limits.maxRewriteFrameBytes. */
export class RequestTooLargeError extends ProtocolError {
  readonly code = 'KQP_REQUEST_TOO_LARGE_TO_INSPECT';
  override readonly name = 'RequestTooLargeError';

  constructor(apiKey: number, version: number, size: number) {
    super('Request', version, '', `${apiName(apiKey)} request of ${size} bytes exceeds maxRewriteFrameBytes`);
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
