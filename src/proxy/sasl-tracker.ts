// One connection's SASL exchange, followed as it passes (the proxy does not terminate SASL): the mechanism a
// SaslHandshake names, the username in the client's first token, and the broker's verdicts. The principal is bound
// (the callback) only once the broker has accepted every client token of the exchange; an exchange whose user the
// proxy cannot read (GSSAPI, a SCRAM delegation token) binds none, which releases a client certificate's
// principal (Kafka's SASL_SSL principal comes from the SASL exchange alone: SaslServerAuthenticator.principal()). After a v0 handshake the
// client's tokens come unframed by any request header (each still size-prefixed, each answered by one frame). A broker
// with connections.max.reauth.ms (KIP-368) says in its last SaslAuthenticate response (v1+) how long the session
// lasts, whatever the mechanism (GSSAPI's exchange included): a second callback gets that. A re-authentication is
// followed like the first exchange. An OAUTHBEARER login names the token's principal claim (tenants.oauthbearerSubClaim);
// its broker answers a token it refuses with an error challenge (OAuthBearerSaslServer), not an error code, so only an
// empty answer accepts it.
import { ApiKey } from '../protocol/generated/api-table.js';
import { ErrorCode } from '../protocol/generated/error-codes.js';
import { apiSchema } from '../protocol/api.js';
import { Reader } from '../protocol/reader.js';
import { decodeSaslAuthenticateResponse, type SaslAuthenticateResponse } from '../protocol/generated/sasl-authenticate-response.js';
import { clientTokens, scramServerFinalOk, usernameOf } from '../quota/sasl-principal.js';
import { saslAuthBytes, saslHandshakeMechanism } from './request-peek.js';

/** SASL mechanisms whose v0 (unframed) exchange has a known number of client tokens. */
const RAW_TOKENS: Record<string, number> = { PLAIN: 1, 'SCRAM-SHA-256': 2, 'SCRAM-SHA-512': 2, OAUTHBEARER: 1 };

export class SaslTracker {
  /** SaslHandshake v0 sent: its mechanism, until the response arrives. */
  private handshakeV0: string | undefined;
  /** Unframed SASL tokens still expected from the client after a v0 handshake (Infinity: unknown mechanism). */
  private rawTokensLeft = 0;
  /** The exchange under way: mechanism, the user its first token names, tokens sent and accepted so far. */
  private exchange: { mechanism: string; user: string | undefined; sent: number; accepted: number } | undefined;

  /**
   * `bind` gets the principal an accepted exchange named (undefined when the proxy could not read it); `session` the
   * lifetime (ms) of a session the broker started (none when it asks for no re-authentication).
   */
  constructor(
    private readonly bind: (principal: string | undefined) => void,
    private readonly session: (lifetimeMs: number) => void,
    /** The JWT claim an OAUTHBEARER login's principal is (the broker's sasl.oauthbearer.sub.claim.name), as configured now. */
    private readonly oauthbearerClaim: () => string,
  ) {}

  /**
   * Whether a frame (its head, size prefix included) is an unframed client token after a v0 handshake; if so it is
   * taken as the exchange's next token. Asked before the frame is read as a request.
   */
  rawToken(head: Buffer): boolean {
    if (this.rawTokensLeft === 0 || (this.rawTokensLeft === Infinity && looksLikeRequest(head))) return false;
    this.rawTokensLeft--;
    this.clientToken(head.subarray(4));
    return true;
  }

  /**
   * A request whose header was read (its body from `bodyAt` in `head`; -1 when its header version is unknown):
   * SaslHandshake and SaslAuthenticate are followed, and any request ends the unframed tokens. Throws a ProtocolError,
   * before changing anything, when a field it reads lies beyond the head (the caller then reads more and asks again).
   */
  request(apiKey: number, version: number, head: Buffer, bodyAt: number): void {
    let mechanism: string | undefined;
    let token: Buffer | undefined;
    if (apiKey === ApiKey.SaslHandshake && bodyAt >= 0) mechanism = saslHandshakeMechanism(head, bodyAt, version);
    else if (apiKey === ApiKey.SaslAuthenticate && bodyAt >= 0) token = saslAuthBytes(head, bodyAt, version);
    this.rawTokensLeft = 0;
    if (mechanism !== undefined) {
      this.exchange = { mechanism, user: undefined, sent: 0, accepted: 0 };
      if (version === 0) this.handshakeV0 = mechanism;
    }
    if (token !== undefined) this.clientToken(token);
  }

  /** The broker's answer to an unframed token (its head, size prefix included). */
  rawTokenResponse(head: Buffer): void {
    const s = this.exchange;
    if (!s) return;
    if (s.mechanism === 'OAUTHBEARER') this.serverToken(head.length === 4);
    else this.serverToken(!s.mechanism.startsWith('SCRAM-') || s.accepted === 0 || scramServerFinalOk(head.subarray(4)));
  }

  /** A response to a request of (apiKey, version), its body from `bodyAt` in `head`. */
  response(apiKey: number, version: number, head: Buffer, bodyAt: number): void {
    if (apiKey === ApiKey.SaslHandshake && version === 0 && this.handshakeV0 !== undefined) {
      if (head.length >= bodyAt + 2 && head.readInt16BE(bodyAt) === ErrorCode.NONE) this.rawTokensLeft = RAW_TOKENS[this.handshakeV0] ?? Infinity;
      this.handshakeV0 = undefined;
    } else if (apiKey === ApiKey.SaslAuthenticate && head.length >= bodyAt + 2) {
      const r = authenticateResponse(head, bodyAt, version);
      const ok = head.readInt16BE(bodyAt) === ErrorCode.NONE && (this.exchange?.mechanism !== 'OAUTHBEARER' || r?.authBytes.length === 0);
      const lifetimeMs = ok && r ? Number(r.sessionLifetimeMs) : 0;
      if (lifetimeMs > 0) this.session(lifetimeMs);
      this.serverToken(ok);
    }
  }

  private clientToken(token: Buffer): void {
    const s = this.exchange;
    if (!s) return;
    if (s.sent === 0) s.user = usernameOf(s.mechanism, token, this.oauthbearerClaim());
    s.sent++;
  }

  /** The broker accepted (ok) or refused a token; the principal (or none) is bound once the whole exchange succeeded. */
  private serverToken(ok: boolean): void {
    const s = this.exchange;
    if (!s) return;
    if (!ok) {
      this.exchange = undefined;
      return;
    }
    s.accepted++;
    if (s.accepted >= clientTokens(s.mechanism)) {
      this.exchange = undefined;
      this.bind(s.user);
    }
  }
}

/** A SaslAuthenticate response's body, or undefined when the head does not hold it (a token over 64 KB). */
function authenticateResponse(head: Buffer, bodyAt: number, version: number): SaslAuthenticateResponse | undefined {
  try {
    return decodeSaslAuthenticateResponse(new Reader(head, bodyAt, head.length), version);
  } catch {
    return undefined;
  }
}

/** After an unknown mechanism's v0 handshake: does this frame read as a Kafka request rather than a SASL token? */
function looksLikeRequest(head: Buffer): boolean {
  if (head.length < 12) return false;
  const api = apiSchema(head.readInt16BE(4));
  const version = head.readInt16BE(6);
  return api !== undefined && version >= api.minVersion && version <= api.maxVersion;
}
