// The TLS settings of the listener (listen.tls) and of the broker connection (upstream.tls), read from the config into
// what each handshake uses: a SecureContext built from the certificate, key and CA files (read at load, so a bad file
// fails the config like any bad setting, and a reload re-reads them), plus the principal mapping rules. Names mirror
// Kafka's ssl.* settings (ssl.keystore.type, ssl.keystore.location, ssl.keystore.password, ssl.key.password,
// ssl.keystore.certificate.chain, ssl.keystore.key, ssl.truststore.certificates, ssl.client.auth,
// ssl.enabled.protocols, ssl.cipher.suites, ssl.principal.mapping.rules, ssl.endpoint.identification.algorithm), here
// with file paths where Kafka's PEM settings hold the PEM text itself; securityProtocol is the listener's
// security.protocol (SSL or SASL_SSL).
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity, createSecureContext, type ConnectionOptions, type DetailedPeerCertificate, type PeerCertificate, type SecureContext, type SecureContextOptions } from 'node:tls';
import { SslPrincipalMapper } from './ssl-principal-mapper.js';
import { TrustAnchors } from './trust-anchors.js';

export type ClientAuth = 'none' | 'requested' | 'required';
/** Kafka's security.protocol of the listener the sidecar stands for: on SASL_SSL the principal comes from SASL only. */
export type SecurityProtocol = 'SSL' | 'SASL_SSL';

/** listen.tls, as each new handshake uses it (file contents read at load, checked by building a SecureContext). */
export interface ListenerTls {
  options: SecureContextOptions;
  clientAuth: ClientAuth;
  /** With a PKCS#12 keystore: what a client certificate must also chain to (the trust store, not the keystore's CAs). */
  trust: TrustAnchors | undefined;
  securityProtocol: SecurityProtocol;
  mapper: SslPrincipalMapper;
  handshakeTimeoutMs: number;
}

/** upstream.tls: the options of tls.connect (the broker's certificate and host name are always verified, unless ssl.endpoint.identification.algorithm is empty: then the name is not). */
export interface UpstreamTls {
  options: ConnectionOptions;
  /** With a PKCS#12 keystore: what the broker's certificate must also chain to (the trust store, not the keystore's CAs). */
  trust: TrustAnchors | undefined;
}

/** The config file's form of both (file paths; defaults applied here). */
export interface TlsFileSettings {
  keystoreType?: 'PEM' | 'PKCS12';
  keystoreCertificateChain?: string;
  keystoreKey?: string;
  keyPassword?: string;
  keystoreLocation?: string;
  keystorePassword?: string;
  truststoreCertificates?: string;
  enabledProtocols?: ('TLSv1.2' | 'TLSv1.3')[];
  cipherSuites?: string[];
  // listener only
  securityProtocol?: SecurityProtocol;
  clientAuth?: ClientAuth;
  principalMappingRules?: string;
  handshakeTimeoutMs?: number;
  // upstream only
  endpointIdentificationAlgorithm?: 'https' | '';
  serverName?: string;
}

/** A TLS setting that cannot be used: `field` names it under listen.tls or upstream.tls. */
export class TlsSettingError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** Kafka's (Java's, IANA) names of the TLS 1.2 suites worth enabling, to OpenSSL's; TLS 1.3 names are the same in both. */
const OPENSSL_NAMES: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384: 'ECDHE-ECDSA-AES256-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384: 'ECDHE-RSA-AES256-SHA384',
  TLS_DHE_RSA_WITH_AES_128_GCM_SHA256: 'DHE-RSA-AES128-GCM-SHA256',
  TLS_DHE_RSA_WITH_AES_256_GCM_SHA384: 'DHE-RSA-AES256-GCM-SHA384',
  TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'DHE-RSA-CHACHA20-POLY1305',
};
const TLS13_SUITES = new Set(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']);

/** A cipher suite as OpenSSL names it: Kafka's IANA names translated, OpenSSL's own names kept. */
export function openSslCipher(name: string): string | undefined {
  if (TLS13_SUITES.has(name)) return name;
  if (name.startsWith('TLS_')) return OPENSSL_NAMES[name];
  return name;
}

function read(field: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TlsSettingError(field, `cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The SecureContext options both sides share: keystore (own certificate), truststore, protocols, cipher suites. */
function contextOptions(s: TlsFileSettings, ownCertificateRequired: boolean): SecureContextOptions {
  const o: SecureContextOptions = {};
  const protocols = [...new Set(s.enabledProtocols ?? ['TLSv1.2', 'TLSv1.3'] as const)].sort();
  o.minVersion = protocols[0]!;
  o.maxVersion = protocols[protocols.length - 1]!;
  if ((s.keystoreType ?? 'PEM') === 'PKCS12') {
    if (!s.keystoreLocation) throw new TlsSettingError('keystoreLocation', 'is required when keystoreType is PKCS12');
    o.pfx = read('keystoreLocation', s.keystoreLocation);
    o.passphrase = s.keystorePassword ?? '';
  } else if (s.keystoreCertificateChain || s.keystoreKey) {
    if (!s.keystoreCertificateChain || !s.keystoreKey) throw new TlsSettingError(s.keystoreKey ? 'keystoreCertificateChain' : 'keystoreKey', 'keystoreCertificateChain and keystoreKey go together');
    o.cert = read('keystoreCertificateChain', s.keystoreCertificateChain);
    o.key = read('keystoreKey', s.keystoreKey);
    if (s.keyPassword !== undefined) o.passphrase = s.keyPassword;
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(o.cert);
    } catch (err) {
      throw new TlsSettingError('keystoreCertificateChain', `${s.keystoreCertificateChain}: not a PEM certificate (${(err as Error).message})`);
    }
    const now = Date.now();
    if (Date.parse(leaf.validTo) < now || Date.parse(leaf.validFrom) > now) {
      throw new TlsSettingError('keystoreCertificateChain', `${s.keystoreCertificateChain}: the certificate is valid from ${leaf.validFrom} to ${leaf.validTo}, not now`);
    }
  } else if (ownCertificateRequired) {
    throw new TlsSettingError('keystoreCertificateChain', 'the listener needs a certificate: keystoreCertificateChain and keystoreKey (PEM), or keystoreType PKCS12 and keystoreLocation');
  }
  if (s.truststoreCertificates) {
    o.ca = read('truststoreCertificates', s.truststoreCertificates);
    // Node takes a file with no PEM certificate in it (DER, empty, cut short) as an empty trust store, silently
    if (!o.ca.includes('-----BEGIN CERTIFICATE-----')) throw new TlsSettingError('truststoreCertificates', `${s.truststoreCertificates}: no PEM certificate in it`);
  }
  if (s.cipherSuites?.length) {
    const names = s.cipherSuites.map((c) => {
      const n = openSslCipher(c);
      if (n === undefined) throw new TlsSettingError('cipherSuites', `${c}: not a cipher suite this proxy knows by its IANA name (use its OpenSSL name)`);
      return n;
    });
    o.ciphers = names.join(':');
  }
  return o;
}

function secureContext(options: SecureContextOptions): SecureContext {
  try {
    return createSecureContext(options);
  } catch (err) {
    const field = options.pfx ? 'keystoreLocation' : /cipher/i.test((err as Error).message) ? 'cipherSuites' : options.cert ? 'keystoreKey' : 'truststoreCertificates';
    throw new TlsSettingError(field, (err as Error).message);
  }
}

/**
 * With a PKCS#12 keystore (`pfx`), the certificates a peer must also chain to: Node trusts the keystore's CAs too, Kafka
 * its trust store alone (trust-anchors.ts). Without one, OpenSSL's verification against the trust store is Kafka's, and
 * nothing more is asked (a walk of Node's chain would refuse chains OpenSSL rightly accepts: a cross-signed root sent
 * by the peer, a CA added with NODE_EXTRA_CA_CERTS).
 */
function trustAnchors(options: SecureContextOptions): TrustAnchors | undefined {
  if (options.pfx === undefined) return undefined;
  try {
    return TrustAnchors.of(options.ca as Buffer | undefined);
  } catch (err) {
    throw new TlsSettingError('truststoreCertificates', (err as Error).message);
  }
}

/** An Error for a broker certificate OpenSSL accepted through a PKCS#12 keystore's CA, not the trust store (tls.connect's checkServerIdentity gets the detailed certificate). */
export function untrustedBroker(trust: TrustAnchors | undefined, cert: PeerCertificate): Error | undefined {
  if (!trust || trust.reaches(cert as DetailedPeerCertificate)) return undefined;
  return Object.assign(new Error("the broker's certificate chains to a CA of the keystore, not of the trust store (upstream.tls.truststoreCertificates, or the bundled CAs without it)"), { code: 'CERT_UNTRUSTED' });
}

/** listen.tls: reads the files now (throws TlsSettingError naming the field). */
export function listenerTls(s: TlsFileSettings): ListenerTls {
  let mapper: SslPrincipalMapper;
  try {
    mapper = SslPrincipalMapper.fromRules(s.principalMappingRules ?? 'DEFAULT');
  } catch (err) {
    throw new TlsSettingError('principalMappingRules', (err as Error).message);
  }
  const options = contextOptions(s, true);
  secureContext(options);
  return {
    options,
    clientAuth: s.clientAuth ?? 'none',
    trust: trustAnchors(options),
    securityProtocol: s.securityProtocol ?? 'SSL',
    mapper,
    handshakeTimeoutMs: s.handshakeTimeoutMs ?? 10_000,
  };
}

/** upstream.tls for a broker at `host`: reads the files now (throws TlsSettingError naming the field). */
export function upstreamTls(s: TlsFileSettings, host: string): UpstreamTls {
  const name = s.serverName ?? host;
  const verifyName = (s.endpointIdentificationAlgorithm ?? 'https') === 'https';
  const options = contextOptions(s, false);
  const trust = trustAnchors(options);
  return {
    options: {
      secureContext: secureContext(options),
      rejectUnauthorized: true,
      // SNI carries host names only
      ...(isIP(name) ? {} : { servername: name }),
      checkServerIdentity: (_host, cert) => untrustedBroker(trust, cert) ?? (verifyName ? checkServerIdentity(name, cert) : undefined),
    },
    trust,
  };
}
