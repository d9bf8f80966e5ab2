// The server side of a TLS listener's handshake, for a client connection the connection guard has admitted: the
// client's first bytes are checked to be a TLS record (a plaintext Kafka client is told apart from a failed
// handshake), the socket is secured with the certificates and settings in force, and the client's
// certificate is judged as Kafka's ssl.client.auth does: `required` needs a trusted, valid certificate; `requested`
// takes a connection without one (ANONYMOUS) but not one with a bad one (Java's TrustManager fails the handshake
// either way); `none` asks for none. A trusted certificate chains to the trust store itself (trust-anchors.ts: Node
// also trusts a PKCS#12 keystore's CAs). On an SSL listener the certificate's subject (RFC 2253, as Java writes it)
// goes through ssl.principal.mapping.rules to the connection's user; on SASL_SSL the connection has no certificate
// principal (Kafka's DefaultKafkaPrincipalBuilder takes the principal from SASL and never applies the rules there).
// Renegotiation is refused, as Kafka's SslTransportLayer does ("Renegotiation is not supported"). Only then is the
// broker connection opened (by the caller).
import { constants } from 'node:crypto';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { ListenerTls } from './tls-settings.js';
import { subjectDn } from './x500-name.js';
import { ANONYMOUS } from '../quota/tenant-resolver.js';

/** Why a connection was closed over TLS (kqp_connections_rejected_total{reason}): on a TLS listener, before it reached the broker. */
export type TlsRejection =
  | 'tls_plaintext_client'
  | 'tls_handshake_failed'
  | 'tls_handshake_timeout'
  | 'tls_client_certificate_missing'
  | 'tls_client_certificate_expired'
  | 'tls_client_certificate_untrusted'
  | 'tls_principal_unmapped'
  /** Found by the relay on a plaintext listener: a first frame size that reads as a TLS record header. */
  | 'tls_client_on_plaintext_port';

/** A TLS record's first byte: a handshake message (the ClientHello). */
const TLS_HANDSHAKE_RECORD = 0x16;

export type HandshakeOutcome =
  | { ok: true; socket: TLSSocket; user: string }
  /** The client went away before sending anything (a TCP health check, a port scan): not worth a log line. */
  | { ok: false; reason: undefined; detail: string }
  | { ok: false; reason: TlsRejection; detail: string };

type Finish = (outcome: HandshakeOutcome) => void;

/**
 * The handshakes of one listen.tls (a reload makes a new one: new handshakes use it, sockets already secured keep
 * theirs). A tls.Server that never listens: admitted sockets are handed to it (its 'connection' event, Node's way to
 * secure a socket accepted elsewhere), so that it judges the client's certificate as any Node TLS server does.
 */
export class TlsListener {
  private readonly server: TlsServer;
  /** Handshakes handed to the server, by the client's address and port (unique among open connections to one port). */
  private readonly pending = new Map<string, Finish>();

  constructor(private readonly settings: ListenerTls) {
    const requestCert = settings.clientAuth !== 'none';
    // a resumed session keeps the client's certificate but not its chain, which trust-anchors.ts needs: no session
    // tickets when it judges certificates (Node keeps no session cache of its own, so no resumption at all)
    const noTickets = requestCert && settings.trust !== undefined;
    this.server = createTlsServer({ ...settings.options, requestCert, rejectUnauthorized: false, ...(noTickets ? { secureOptions: constants.SSL_OP_NO_TICKET } : {}) });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      socket.disableRenegotiation();
      const finish = this.take(socket);
      if (finish) judge(socket, settings, finish);
      else socket.destroy();
    });
  }

  private take(socket: TLSSocket): Finish | undefined {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    const finish = this.pending.get(key);
    this.pending.delete(key);
    return finish;
  }

  /** Secures an admitted socket; `done` is called once, with the secured socket and its user, or why it was closed. */
  handshake(raw: Socket, done: Finish): void {
    const key = `${raw.remoteAddress}|${raw.remotePort}`;
    let finished = false;
    const finish: Finish = (outcome) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.pending.delete(key);
      raw.off('error', onError);
      raw.off('close', onClose);
      if (!outcome.ok) raw.destroy();
      done(outcome);
    };
    const reject = (reason: TlsRejection | undefined, detail: string) => finish({ ok: false, reason, detail } as HandshakeOutcome);
    const onError = (err: Error) => reject(raw.bytesRead > 0 ? 'tls_handshake_failed' : undefined, err.message);
    // a handshake that fails closes the socket (the server's TLS socket has lost its address by the time it reports why)
    const onClose = () => reject(raw.bytesRead > 0 ? 'tls_handshake_failed' : undefined, 'closed during the handshake (the client refused the certificate, no common protocol or cipher suite, or it went away)');
    const timer = setTimeout(() => reject('tls_handshake_timeout', `no handshake within ${this.settings.handshakeTimeoutMs} ms`), this.settings.handshakeTimeoutMs);
    raw.on('error', onError);
    raw.once('close', onClose);
    raw.once('data', (first: Buffer) => {
      raw.pause();
      if (first[0] !== TLS_HANDSHAKE_RECORD) {
        reject('tls_plaintext_client', 'the first bytes are not a TLS handshake (a plaintext client on a TLS listener?)');
        return;
      }
      // the TLS socket the server makes reads what is buffered on the socket first (the ClientHello just read)
      raw.unshift(first);
      this.pending.set(key, finish);
      this.server.emit('connection', raw);
    });
  }
}

function judge(socket: TLSSocket, settings: ListenerTls, finish: (outcome: HandshakeOutcome) => void): void {
  const fail = (reason: TlsRejection, detail: string) => {
    socket.destroy();
    finish({ ok: false, reason, detail });
  };
  const cert = settings.clientAuth === 'none' ? undefined : socket.getPeerCertificate(true);
  if (!cert?.raw) {
    if (settings.clientAuth === 'required') fail('tls_client_certificate_missing', 'no client certificate (listen.tls.clientAuth: required)');
    else finish({ ok: true, socket, user: ANONYMOUS });
    return;
  }
  if (!socket.authorized) {
    const error = String((socket.authorizationError as unknown as { code?: string } | undefined)?.code ?? socket.authorizationError);
    const expired = error === 'CERT_HAS_EXPIRED' || error === 'CERT_NOT_YET_VALID';
    fail(expired ? 'tls_client_certificate_expired' : 'tls_client_certificate_untrusted', `client certificate refused: ${error}`);
    return;
  }
  if (settings.trust && !settings.trust.reaches(cert)) {
    fail('tls_client_certificate_untrusted', "client certificate refused: it chains to a CA of the keystore, not of the trust store (listen.tls.truststoreCertificates, or the bundled CAs without it)");
    return;
  }
  if (settings.securityProtocol === 'SASL_SSL') {
    finish({ ok: true, socket, user: ANONYMOUS });
    return;
  }
  let dn: string;
  try {
    dn = subjectDn(cert.raw);
  } catch (err) {
    fail('tls_principal_unmapped', `client certificate subject unreadable: ${(err as Error).message}`);
    return;
  }
  let user: string;
  try {
    user = settings.mapper.name(dn);
  } catch (err) {
    fail('tls_principal_unmapped', `${(err as Error).message} (listen.tls.principalMappingRules)`);
    return;
  }
  finish({ ok: true, socket, user });
}
