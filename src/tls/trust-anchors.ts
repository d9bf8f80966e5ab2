// The certificates a peer may chain to: ssl.truststore.certificates, or, without it, the bundled CAs (Kafka's JVM
// default trust store). Kafka trusts only its trust store (SslFactory's TrustManagerFactory is built from
// ssl.truststore.*; the keystore's chain is what it presents, never what it trusts), but Node adds every extra
// certificate of a PKCS#12 keystore (`pfx`) to the context's trust store too (src/crypto/crypto_context.cc,
// LoadPKCS12: "Add CA certs too"): a peer certificate signed by the keystore's CA passes OpenSSL's verification. So a
// peer OpenSSL accepted is also asked to chain, signature by signature, to a certificate of the trust store.
import { X509Certificate } from 'node:crypto';
import { rootCertificates, type DetailedPeerCertificate } from 'node:tls';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
/** Longer chains are not followed (OpenSSL's default verify depth is 100; real ones are a few certificates long). */
const MAX_CHAIN = 16;

let bundled: Set<string> | undefined;

export class TrustAnchors {
  private constructor(private readonly fingerprints: Set<string>) {}

  /** The trust store's certificates (a PEM file's contents), or Node's bundled CAs when there is none. */
  static of(truststore: Buffer | undefined): TrustAnchors {
    if (truststore) return new TrustAnchors(fingerprints(truststore.toString('latin1').match(PEM_CERTIFICATE) ?? []));
    bundled ??= fingerprints(rootCertificates);
    return new TrustAnchors(bundled);
  }

  /**
   * Whether the chain Node built for a peer (getPeerCertificate(true): the peer's certificates, then issuers from the
   * context's store) reaches a trusted certificate, each certificate up to it issued and signed by the next: the
   * chain's links are found by name, so a certificate the peer sent with a trusted issuer's name proves nothing unless
   * its signature does.
   */
  reaches(peer: DetailedPeerCertificate): boolean {
    let at = peer;
    let cert = new X509Certificate(at.raw);
    for (let depth = 0; depth < MAX_CHAIN; depth++) {
      if (this.fingerprints.has(cert.fingerprint256)) return true;
      const up = at.issuerCertificate as DetailedPeerCertificate | undefined;
      if (!up?.raw || up === at || up.fingerprint256 === at.fingerprint256) return false;
      const issuer = new X509Certificate(up.raw);
      if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) return false;
      at = up;
      cert = issuer;
    }
    return false;
  }
}

function fingerprints(pems: readonly string[]): Set<string> {
  return new Set(pems.map((pem) => new X509Certificate(pem).fingerprint256));
}
