// Certificates for TLS tests, made with openssl into a temporary directory: a CA, another CA nobody trusts, server
// certificates for 127.0.0.1 and localhost, and client certificates (valid, expired, signed by the other CA, and some
// with subjects that test how a DN is written). For the Java client, a certificate as a PKCS#12 keystore and the CA as a
// PKCS#12 truststore (keytool).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  cert: string;
  key: string;
}

export interface Certificates {
  dir: string;
  ca: string;
  otherCa: string;
  server: KeyPair;
  /** Another server certificate (the reload test's new one): subject CN=localhost-2. */
  server2: KeyPair;
  /** CN=Alice,OU=ServiceUsers,O=Org,C=US */
  alice: KeyPair;
  /** CN=Bob,OU=ServiceUsers,O=Org,C=US */
  bob: KeyPair;
  /** CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz */
  tkac: KeyPair;
  /** 1.2.840.113549.1.9.1=#1611...(carol@example.com),CN=carol+UID=c1,O=Org */
  carol: KeyPair;
  /** CN=old,O=Org: its validity ended a day before it began. */
  expired: KeyPair;
  /** CN=mallory,O=Org, signed by the other CA. */
  stranger: KeyPair;
  /** Server certificates: expired, and an unreadable file. */
  expiredServer: KeyPair;
  notACertificate: string;
  cleanup(): void;
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

export function makeCertificates(): Certificates {
  const dir = mkdtempSync(join(tmpdir(), 'kqp-tls-'));
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const selfSigned = (name: string, subject: string) => {
    openssl(dir, ['req', '-x509', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', subject]);
    return join(dir, `${name}.crt`);
  };
  const ca = selfSigned('ca', '/CN=kqp test CA');
  const otherCa = selfSigned('other-ca', '/CN=kqp other CA');
  const signed = (name: string, subject: string, o: { by?: string; days?: number; san?: string; multiRdn?: boolean } = {}): KeyPair => {
    openssl(dir, ['req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject, ...(o.multiRdn ? ['-multivalue-rdn'] : [])]);
    const ext = join(dir, `${name}.ext`);
    writeFileSync(ext, o.san ? `subjectAltName=${o.san}\n` : 'basicConstraints=CA:FALSE\n');
    const by = o.by ?? 'ca';
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.crt`, '-CAkey', `${by}.key`, '-CAcreateserial', '-days', String(o.days ?? 2), '-extfile', ext, '-out', `${name}.crt`]);
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  };
  const san = 'DNS:localhost,IP:127.0.0.1';
  const notACertificate = join(dir, 'not-a-certificate.crt');
  writeFileSync(notACertificate, 'this is not a certificate\n');
  return {
    dir,
    ca,
    otherCa,
    server: signed('server', '/CN=localhost', { san }),
    server2: signed('server2', '/CN=localhost-2', { san }),
    alice: signed('alice', '/C=US/O=Org/OU=ServiceUsers/CN=Alice'),
    bob: signed('bob', '/C=US/O=Org/OU=ServiceUsers/CN=Bob'),
    tkac: signed('tkac', '/DC=cz/DC=geodis/OU=ITZ/CN=Tkac\\, Adam'),
    carol: signed('carol', '/O=Org/CN=carol+UID=c1/emailAddress=carol@example.com', { multiRdn: true }),
    expired: signed('expired', '/O=Org/CN=old', { days: -1 }),
    stranger: signed('stranger', '/O=Org/CN=mallory', { by: 'other-ca' }),
    expiredServer: signed('expired-server', '/CN=localhost', { san, days: -1 }),
    notACertificate,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The password of the Java client's stores. */
export const STORE_PASSWORD = 'kqp-test';

/**
 * The Java client's SSL properties: `pair` as a PKCS#12 keystore (openssl), the CA as a PKCS#12 truststore (keytool),
 * both made once into the certificates' directory.
 */
export function javaSslProperties(certs: Pick<Certificates, 'dir' | 'ca'>, pair?: KeyPair): Record<string, string> {
  const truststore = join(certs.dir, 'truststore.p12');
  if (!existsSync(truststore)) {
    execFileSync('keytool', ['-importcert', '-noprompt', '-storetype', 'PKCS12', '-keystore', truststore, '-storepass', STORE_PASSWORD,
      '-alias', 'ca', '-file', certs.ca], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  const props: Record<string, string> = {
    'security.protocol': 'SSL', 'ssl.truststore.type': 'PKCS12', 'ssl.truststore.location': truststore, 'ssl.truststore.password': STORE_PASSWORD,
  };
  if (!pair) return props;
  const keystore = pair.cert.replace(/\.crt$/, '.p12');
  if (!existsSync(keystore)) {
    openssl(certs.dir, ['pkcs12', '-export', '-in', pair.cert, '-inkey', pair.key, '-out', keystore, '-passout', `pass:${STORE_PASSWORD}`, '-name', 'client']);
  }
  return { ...props, 'ssl.keystore.type': 'PKCS12', 'ssl.keystore.location': keystore, 'ssl.keystore.password': STORE_PASSWORD, 'ssl.key.password': STORE_PASSWORD };
}

/** librdkafka's (kcat's) SSL settings for a client with `pair`'s certificate. */
export function kcatSslConfig(certs: Pick<Certificates, 'ca'>, pair: KeyPair): Record<string, string> {
  return { 'security.protocol': 'ssl', 'ssl.ca.location': certs.ca, 'ssl.certificate.location': pair.cert, 'ssl.key.location': pair.key };
}
