// The sidecar's own Metadata requests to its broker (logged in with upstream.sasl when the broker's listener is a SASL
// one): what the broker knows of some topics now (their partition counts, whether it has applied a topic's creation or
// deletion). Their connections are kept between lookups, so that a storm's lookups (up to 10 a second with
// admin.holdUntilAppliedMs) do not each open a connection and log in: a broker counts both (KIP-612's connection
// creation rate per IP, its login work).
import type { Socket } from 'node:net';
import type { UpstreamDialer } from './upstream-dialer.js';
import { REQUEST_CODECS, RESPONSE_CODECS } from '../protocol/generated/codecs.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import { requestHeaderVersion } from '../protocol/api.js';
import { ErrorCode, KAFKA_ERRORS } from '../protocol/generated/error-codes.js';
import type { MetadataRequest } from '../protocol/generated/metadata-request.js';
import type { MetadataResponse } from '../protocol/generated/metadata-response.js';
import type { SaslAuthenticateRequest } from '../protocol/generated/sasl-authenticate-request.js';
import type { SaslAuthenticateResponse } from '../protocol/generated/sasl-authenticate-response.js';
import type { SaslHandshakeResponse } from '../protocol/generated/sasl-handshake-response.js';
import { readResponseHeader, writeRequestHeader } from '../protocol/headers.js';
import { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { SIZE_PREFIX } from '../protocol/frame-splitter.js';
import { startSasl, type SaslLogin } from './sasl-client.js';

/** Metadata v12: topics by name or by id, supported by every broker from 3.1 on. */
const METADATA_VERSION = 12;
/** SaslHandshake v1: the mechanism, its exchange then in SaslAuthenticate requests (KIP-152; v0, raw tokens, is deprecated). */
const SASL_HANDSHAKE_VERSION = 1;
/** SaslAuthenticate v2 (flexible): every Kafka 3 and 4 broker. */
const SASL_AUTHENTICATE_VERSION = 2;
/** The largest response a lookup reads. */
const MAX_LOOKUP_RESPONSE = 16 * 1024 * 1024;
/** Connections kept between lookups; the connections of more lookups at once than that are closed after their answer. */
export const MAX_KEPT_CONNECTIONS = 4;
/** A kept connection unused this long is closed: well under the broker's connections.max.idle.ms (10 minutes by default). */
const KEPT_IDLE_MS = 60_000;
/**
 * A login the broker gave a session lifetime (connections.max.reauth.ms, KIP-368) is used for this share of it: the
 * broker closes a connection whose session has expired when its next request comes, and Kafka's own clients
 * re-authenticate at 85-95 % of the lifetime (SaslClientAuthenticator).
 */
const SESSION_USE_SHARE = 0.85;

/** A topic by name, or by id (16 bytes) when its name is null. */
export interface TopicRef {
  name: string | null;
  topicId?: Buffer;
}

/** Whether a topic id is all zeros: no id (a name-only request, an older version's answer). */
export function isZeroId(id: Buffer): boolean {
  for (const b of id) if (b !== 0) return false;
  return true;
}

let correlationIds = 0;

export class MetadataLookups {
  /** Idle connections, the most recently used last (at most MAX_KEPT_CONNECTIONS). */
  private readonly kept: OwnConnection[] = [];
  /** Raised by forget(): a connection opened before it is not kept. */
  private generation = 0;
  private stopped = false;

  constructor(
    private readonly upstream: UpstreamDialer,
    /** How long a kept connection may go unused. */
    private readonly idleMs = KEPT_IDLE_MS,
  ) {}

  /**
   * Asks the broker about `topics` (`clientId` names the asker in the broker's logs and metrics) on a kept connection,
   * or on a new one logged in first with upstream.sasl when it is set. Resolves to its answer, or undefined when there
   * was none within `timeoutMs`, the connection failed, the broker refused the login (the dialer's loginRefused says
   * why), or the answer could not be read.
   */
  async lookUp(topics: TopicRef[], clientId: string, timeoutMs: number): Promise<MetadataResponse | undefined> {
    const request: MetadataRequest = {
      topics: topics.map((t) => ({ name: t.name, topicId: t.topicId ?? Buffer.alloc(16), unknownTaggedFields: undefined })),
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
      unknownTaggedFields: undefined,
    };
    const ask = (c: OwnConnection) => c.call(ApiKey.Metadata, METADATA_VERSION, request, clientId) as Promise<MetadataResponse | undefined>;
    const started = Date.now();
    const reused = this.take();
    if (reused) {
      const answer = await within(reused, timeoutMs, () => ask(reused));
      // a connection the broker closed while it was kept (connections.max.idle.ms, a restart): once more, anew
      const closedByBroker = !answer && reused.closed && !reused.timedOut;
      this.done(reused, answer);
      if (!closedByBroker) return answer;
    }
    const fresh = new OwnConnection(this.upstream.connect(), this.generation, (c) => this.drop(c));
    const answer = await within(fresh, timeoutMs - (Date.now() - started), async () => {
      const login = this.upstream.sasl;
      if (login) {
        const outcome = await logIn(fresh, login, clientId);
        if (typeof outcome === 'string') {
          // a listener that is not a SASL one answers the handshake so and serves the connection as it is
          const goesOn = outcome === NOT_SASL;
          this.upstream.loginRefused(outcome, goesOn);
          if (!goesOn) return undefined;
        } else if (outcome.lifetimeMs > 0) {
          fresh.usableUntil = Date.now() + outcome.lifetimeMs * SESSION_USE_SHARE;
        }
      }
      return ask(fresh);
    });
    this.done(fresh, answer);
    return answer;
  }

  /** New upstream settings (a reload): kept connections are closed, and those under way not kept, so the next lookups use them. */
  forget(): void {
    this.generation++;
    for (const c of this.kept.splice(0)) c.close();
  }

  /** The sidecar stops. */
  stop(): void {
    this.stopped = true;
    this.forget();
  }

  /** The most recently used kept connection still usable. */
  private take(): OwnConnection | undefined {
    for (let c = this.kept.pop(); c; c = this.kept.pop()) {
      c.idle(undefined);
      if (Date.now() < c.usableUntil) return c;
      c.close();
    }
    return undefined;
  }

  /** A lookup is over: its connection is kept when it answered and may be used again, else closed. */
  private done(c: OwnConnection, answer: MetadataResponse | undefined): void {
    if (!answer || c.closed || this.stopped || c.generation !== this.generation || this.kept.length >= MAX_KEPT_CONNECTIONS) {
      c.close();
      return;
    }
    this.kept.push(c);
    c.idle(this.idleMs);
  }

  private drop(c: OwnConnection): void {
    const at = this.kept.indexOf(c);
    if (at >= 0) this.kept.splice(at, 1);
  }
}

/** Runs `work` on `c`, closing `c` if it has not finished within `ms`. */
async function within<T>(c: OwnConnection, ms: number, work: () => Promise<T>): Promise<T> {
  const timer = setTimeout(() => {
    c.timedOut = true;
    c.close();
  }, Math.max(0, ms));
  try {
    return await work();
  } finally {
    clearTimeout(timer);
  }
}

/** What a listener that is not a SASL one answers a SaslHandshake with (KafkaApis' handleSaslHandshakeRequest). */
const NOT_SASL = "ILLEGAL_SASL_STATE: the broker's listener is not a SASL one, upstream.sasl is not needed";

/**
 * Kafka's SASL login (KIP-152): SaslHandshake, then SaslAuthenticate until the mechanism is done. Resolves to why the
 * broker refused (or the exchange failed), or to the session's lifetime (0: none): logged in, or the connection ended
 * (timed out, closed), which the request after it finds.
 */
async function logIn(connection: OwnConnection, login: SaslLogin, clientId: string): Promise<string | { lifetimeMs: number }> {
  const handshake = (await connection.call(ApiKey.SaslHandshake, SASL_HANDSHAKE_VERSION, { mechanism: login.mechanism }, clientId)) as SaslHandshakeResponse | undefined;
  if (!handshake) return connection.closed ? { lifetimeMs: 0 } : 'a SaslHandshake response that could not be read';
  if (handshake.errorCode === ErrorCode.ILLEGAL_SASL_STATE) return NOT_SASL;
  if (handshake.errorCode === ErrorCode.UNSUPPORTED_SASL_MECHANISM) return `mechanism ${login.mechanism} not enabled (the listener offers ${handshake.mechanisms.join(', ') || 'none'})`;
  if (handshake.errorCode !== ErrorCode.NONE) return `SaslHandshake answered ${KAFKA_ERRORS.get(handshake.errorCode)?.name ?? `error code ${handshake.errorCode}`}`;
  const conversation = startSasl(login);
  let lifetimeMs = 0;
  try {
    for (let out: Buffer | undefined = conversation.first; out;) {
      const request: SaslAuthenticateRequest = { authBytes: out, unknownTaggedFields: undefined };
      const answer = (await connection.call(ApiKey.SaslAuthenticate, SASL_AUTHENTICATE_VERSION, request, clientId)) as SaslAuthenticateResponse | undefined;
      if (!answer) return connection.closed ? { lifetimeMs: 0 } : 'a SaslAuthenticate response that could not be read';
      if (answer.errorCode !== ErrorCode.NONE) return answer.errorMessage ?? `error code ${answer.errorCode}`;
      lifetimeMs = Number(answer.sessionLifetimeMs);
      out = await conversation.next(answer.authBytes);
    }
  } catch (err) {
    return (err as Error).message;
  }
  return { lifetimeMs };
}

/** A connection of the sidecar's own to its broker: one request at a time, its answer read whole. */
class OwnConnection {
  private readonly chunks: Buffer[] = [];
  private got = 0;
  /** The size of the frame being read (-1: not known yet). */
  private size = -1;
  private waiting: ((frame: Buffer | undefined) => void) | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  closed = false;
  /** Closed because a lookup did not finish in time (not by the broker). */
  timedOut = false;
  /** Until when its login may be used (the session's lifetime, when the broker gave one). */
  usableUntil = Infinity;

  constructor(private readonly socket: Socket, readonly generation: number, private readonly onClose: (c: OwnConnection) => void) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.got += c.length;
      this.deliver();
    });
    socket.once('error', () => this.close());
    socket.once('close', () => this.close());
  }

  close(): void {
    if (this.closed) return; // the 'close' that destroy() brings
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.socket.destroy();
    this.answer(undefined);
    this.onClose(this);
  }

  /** Kept (closed after `ms` unless used again), or (undefined) taken for a lookup. */
  idle(ms: number | undefined): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = ms === undefined ? undefined : setTimeout(() => this.close(), ms).unref();
    // a kept connection does not keep the process alive
    if (ms === undefined) this.socket.ref();
    else this.socket.unref();
  }

  /** Sends a request; resolves to its response decoded, or undefined when there was none or it could not be read. */
  async call(apiKey: number, version: number, body: object, clientId: string): Promise<unknown> {
    if (this.closed) return undefined;
    const w = new Writer(256);
    w.int32(0);
    const correlationId = (correlationIds = (correlationIds + 1) | 0);
    writeRequestHeader(w, { apiKey, apiVersion: version, correlationId, clientId, headerVersion: requestHeaderVersion(apiKey, version)!, unknownTaggedFields: undefined });
    REQUEST_CODECS.get(apiKey)!.encode(w, version, body);
    const frame = w.finish();
    frame.writeInt32BE(frame.length - SIZE_PREFIX, 0);
    const answered = new Promise<Buffer | undefined>((resolve) => (this.waiting = resolve));
    this.socket.write(frame);
    const response = await answered;
    return response && decode(response, apiKey, version, correlationId);
  }

  private answer(frame: Buffer | undefined): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(frame);
  }

  private deliver(): void {
    if (this.got < SIZE_PREFIX) return;
    if (this.size < 0) {
      const head = this.chunks[0]!.length >= SIZE_PREFIX ? this.chunks[0]! : Buffer.concat(this.chunks);
      this.size = head.readInt32BE(0);
      if (this.size < 0 || this.size > MAX_LOOKUP_RESPONSE || !this.waiting) {
        this.close(); // too large, or an answer to nothing asked
        return;
      }
    }
    if (this.got < this.size + SIZE_PREFIX) return;
    const all = Buffer.concat(this.chunks);
    const rest = all.subarray(this.size + SIZE_PREFIX);
    const frame = all.subarray(0, this.size + SIZE_PREFIX);
    this.chunks.splice(0, this.chunks.length, ...(rest.length > 0 ? [rest] : []));
    this.got = rest.length;
    this.size = -1;
    this.answer(frame);
  }
}

function decode(frame: Buffer, apiKey: number, version: number, correlationId: number): unknown {
  try {
    const header = readResponseHeader(frame, apiKey, version, undefined, new Reader(frame), SIZE_PREFIX);
    if (header.correlationId !== correlationId) return undefined;
    return RESPONSE_CODECS.get(apiKey)!.decode(new Reader(frame, SIZE_PREFIX + header.length), version);
  } catch {
    return undefined; // a response the codec cannot read teaches nothing
  }
}
