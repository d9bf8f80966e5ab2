// One client connection and its own upstream connection to the broker. Requests and responses are split into frames
// and forwarded as the pieces they arrived in (views, no copies), except the few responses that are rewritten whole.
// In-flight requests are tracked in order; backpressure pauses the reading side when the writing side is full.
import type { Socket } from 'node:net';
import { FrameSplitter, STREAM, WHOLE, type FrameHandler } from '../protocol/frame-splitter.js';
import { emptyRequestHeader, readRequestHeader } from '../protocol/headers.js';
import { ProtocolError } from '../protocol/errors.js';
import { Reader } from '../protocol/reader.js';
import { apiName, apiSchema } from '../protocol/api.js';
import type { Logger, RateLimitedLog } from '../observability/logger.js';
import { upstreamErrorKind, type ProxyMetrics } from '../observability/metrics.js';
import type { Limits } from '../config/load-config.js';
import { InflightQueue, RAW_SASL_TOKEN } from './inflight-queue.js';
import { produceAcks, saslHandshakeMechanism } from './request-peek.js';
import { PRODUCE, type ResponseRewriter } from './response-rewriter.js';

const SASL_HANDSHAKE = 17;

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
}

export interface ConnectionContext {
  limits: Limits;
  metrics: ProxyMetrics;
  rewriter: ResponseRewriter;
  warn: RateLimitedLog;
  now(): number;
  closed(conn: Connection): void;
}

/** SASL mechanisms whose v0 (unframed) exchange has a known number of client tokens. */
const RAW_TOKENS: Record<string, number> = { PLAIN: 1, 'SCRAM-SHA-256': 2, 'SCRAM-SHA-512': 2, OAUTHBEARER: 1 };

export class Connection {
  private readonly requests: FrameSplitter;
  private readonly responses: FrameSplitter;
  private readonly inflight: InflightQueue;
  private readonly header = emptyRequestHeader();
  private readonly reader = new Reader(Buffer.alloc(0));
  private paused = 0;
  private closing = false;
  private done = false;
  /** SaslHandshake v0 sent: its mechanism, until the response arrives. */
  private handshakeV0: string | undefined;
  /** Unframed SASL tokens still expected from the client after a v0 handshake (Infinity: unknown mechanism). */
  private rawTokensLeft = 0;

  constructor(
    readonly id: number,
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly ctx: ConnectionContext,
    readonly log: Logger,
  ) {
    const { limits } = ctx;
    this.inflight = new InflightQueue(limits.maxInFlightPerConnection);
    this.requests = new FrameSplitter(this.requestHandler(), limits.maxFrameBytes, REQUEST_HEAD);
    this.responses = new FrameSplitter(this.responseHandler(), limits.maxFrameBytes, RESPONSE_HEAD);

    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.setTimeout(limits.idleTimeoutMs, () => this.close('idle timeout'));
    client.on('data', (chunk: Buffer) => this.onClientData(chunk));
    upstream.on('data', (chunk: Buffer) => this.onUpstreamData(chunk));
    upstream.on('drain', () => this.resume(Pause.UpstreamFull));
    client.on('drain', () => this.upstream.resume());
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
    if (this.inflight.size === 0) this.close('shutdown');
  }

  /** Closes both sockets (once). */
  close(reason: string): void {
    if (this.done) return;
    this.done = true;
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

  private pause(reason: Pause): void {
    if (this.paused === 0) this.client.pause();
    this.paused |= reason;
  }

  private resume(reason: Pause): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0 && !this.done) this.client.resume();
  }

  private onClientData(chunk: Buffer): void {
    this.upstream.cork();
    try {
      this.requests.push(chunk);
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
    if (!this.upstream.write(piece)) this.pause(Pause.UpstreamFull);
  }

  private toClient(piece: Buffer): void {
    if (!this.client.write(piece)) this.upstream.pause();
  }

  private requestHandler(): FrameHandler {
    return {
      onFrame: (size, head) => this.onRequest(size, head),
      onWhole: () => undefined,
      onBody: (chunk) => this.toBroker(chunk),
      onEnd: () => undefined,
    };
  }

  /** Reads what the proxy needs from a request's head, tracks it and forwards the head; returns how to take the rest. */
  private onRequest(size: number, head: Buffer): number {
    const now = this.ctx.now();
    if (this.rawTokensLeft > 0 && !(this.rawTokensLeft === Infinity && this.looksLikeRequest(head))) {
      // an unframed SASL token after a v0 handshake: one response frame comes back for it
      this.rawTokensLeft--;
      this.inflight.push(-1, -1, 0, now, RAW_SASL_TOKEN);
      this.toBroker(head);
      return STREAM;
    }
    let acks = -1;
    let mechanism: string | undefined;
    const h = this.header;
    try {
      readRequestHeader(head, h, this.reader, 4);
      if (h.apiKey === PRODUCE && h.length >= 0) acks = produceAcks(head, 4 + h.length, h.apiVersion);
      else if (h.apiKey === SASL_HANDSHAKE && h.apiVersion === 0) mechanism = saslHandshakeMechanism(head, 4 + h.length, 0);
    } catch (err) {
      const payload = head.length - 4;
      if (err instanceof ProtocolError && payload < size && payload < MAX_REQUEST_HEAD) return Math.min(size, payload * 8);
      throw err;
    }
    this.rawTokensLeft = 0;
    if (mechanism !== undefined) this.handshakeV0 = mechanism;
    const api = this.ctx.metrics.api(h.apiKey);
    api.requests.inc();
    api.requestBytes.inc(size + 4);
    if (acks !== 0) {
      // acks=0 produce gets no response, so it is not tracked
      this.inflight.push(h.apiKey, h.apiVersion, h.correlationId, now);
      if (this.inflight.full) this.pause(Pause.InflightFull);
    }
    this.toBroker(head);
    return STREAM;
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

  /** Checks a response against the request in flight; returns WHOLE for responses to rewrite, else STREAM. */
  private onResponse(size: number, head: Buffer): number {
    if (this.inflight.size === 0) throw new UnexpectedResponseError('a response with no request in flight');
    const whole = head.length === size + 4;
    if ((this.inflight.firstFlags() & RAW_SASL_TOKEN) !== 0) {
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
    const api = this.ctx.metrics.api(apiKey);
    api.latency.observe((this.ctx.now() - this.inflight.firstStartMs()) / 1000);
    api.responseBytes.inc(size + 4);
    if (apiKey === SASL_HANDSHAKE && version === 0 && this.handshakeV0 !== undefined) {
      if (size >= 6 && head.readInt16BE(8) === 0) this.rawTokensLeft = RAW_TOKENS[this.handshakeV0] ?? Infinity;
      this.handshakeV0 = undefined;
    }
    if (this.ctx.rewriter.needsWhole(apiKey, version)) {
      if (whole) {
        this.onWholeResponse(head);
        return STREAM;
      }
      if (size > this.ctx.limits.maxRewriteFrameBytes) {
        throw new UnexpectedResponseError(`${apiName(apiKey)} response of ${size} bytes exceeds maxRewriteFrameBytes`);
      }
      return WHOLE;
    }
    this.toClient(head);
    if (whole) this.responseDone();
    return STREAM;
  }

  private onWholeResponse(frame: Buffer): void {
    this.toClient(this.ctx.rewriter.rewrite(frame, this.inflight.firstApiKey(), this.inflight.firstApiVersion()));
    this.responseDone();
  }

  private responseDone(): void {
    this.inflight.shift();
    if (!this.inflight.full) this.resume(Pause.InflightFull);
    if (this.closing && this.inflight.size === 0) this.close('shutdown');
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
