// listen.tls and upstream.tls as the config file gives them: errors name the field (a missing file, a file that is
// not a certificate, an expired certificate, a key that is not the certificate's, a bad principal rule, an unknown
// suite); a PKCS#12 keystore serves; enabledProtocols and cipherSuites (Kafka's IANA names) are what is negotiated;
// the IANA to OpenSSL names agree with openssl's own table.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { configFromObject } from '../../src/config/load-config.js';
import { openSslCipher } from '../../src/tls/tls-settings.js';
import { FakeBroker, proxyBefore } from '../support/fake-broker.js';
import { RawClient } from '../support/raw-client.js';
import { makeCertificates } from '../support/tls-certificates.js';
import type { TLSSocket } from 'node:tls';

const certs = makeCertificates();
t.teardown(() => certs.cleanup());
const pem = { keystoreCertificateChain: certs.server.cert, keystoreKey: certs.server.key };
const errorOf = (tls: Record<string, unknown>, side: 'listen' | 'upstream' = 'listen') => {
  try {
    configFromObject({ listen: 'a:1', upstream: 'b:1', [side]: { address: 'a:1', tls } });
    return '';
  } catch (err) {
    return (err as Error).message;
  }
};

t.test('errors name the field', async (t) => {
  t.match(errorOf({}), /listen\.tls\.keystoreCertificateChain: the listener needs a certificate/);
  t.match(errorOf({ ...pem, keystoreCertificateChain: join(certs.dir, 'missing.crt') }), /listen\.tls\.keystoreCertificateChain: cannot read .*missing\.crt/);
  t.match(errorOf({ ...pem, keystoreCertificateChain: certs.notACertificate }), /listen\.tls\.keystoreCertificateChain: .*not a PEM certificate/);
  t.match(errorOf({ keystoreCertificateChain: certs.expiredServer.cert, keystoreKey: certs.expiredServer.key }), /listen\.tls\.keystoreCertificateChain: .*valid from .* not now/);
  t.match(errorOf({ ...pem, keystoreKey: certs.alice.key }), /listen\.tls\.keystoreKey: .*key values mismatch/);
  t.match(errorOf({ ...pem, principalMappingRules: 'RULE:^CN=(.*)$/$1/X' }), /listen\.tls\.principalMappingRules: Invalid rule/);
  t.match(errorOf({ ...pem, cipherSuites: ['TLS_RSA_WITH_NULL_MD5'] }), /listen\.tls\.cipherSuites: TLS_RSA_WITH_NULL_MD5: not a cipher suite/);
  t.match(errorOf({ ...pem, clientAuth: 'want' }), /listen\.tls\.clientAuth: must be one of none, requested, required/);
  t.match(errorOf({ keystoreType: 'PKCS12' }), /listen\.tls\.keystoreLocation: is required when keystoreType is PKCS12/);
  t.match(errorOf({ truststoreCertificates: join(certs.dir, 'missing.crt') }, 'upstream'), /upstream\.tls\.truststoreCertificates: cannot read/);
  t.equal(errorOf({ truststoreCertificates: certs.ca }, 'upstream'), '', 'upstream needs no certificate of its own');
  // a DER file, or any with no PEM certificate, would be taken as an empty trust store: every peer refused
  const der = join(certs.dir, 'ca.der');
  writeFileSync(der, new X509Certificate(readFileSync(certs.ca)).raw);
  t.match(errorOf({ truststoreCertificates: der }, 'upstream'), /upstream\.tls\.truststoreCertificates: .*ca\.der: no PEM certificate in it/);
});

t.test("the IANA names of TLS 1.2 suites (Kafka's) map to OpenSSL's as openssl itself names them", async (t) => {
  const table = new Map(execFileSync('openssl', ['ciphers', '-stdname', 'ALL'], { encoding: 'utf8' }).split('\n').map((l) => l.split(/\s+-\s+|\s+/)).filter((p) => p.length > 2).map((p) => [p[0]!, p[1]!]));
  const known = [...table].filter(([iana]) => openSslCipher(iana) !== undefined);
  t.ok(known.length >= 16, `${known.length} suites known by their IANA name`);
  t.same(known.filter(([iana, openssl]) => openSslCipher(iana) !== openssl), [], 'each one as openssl names it');
  t.equal(openSslCipher('ECDHE-RSA-AES128-GCM-SHA256'), 'ECDHE-RSA-AES128-GCM-SHA256', "OpenSSL's own names are kept");
});

t.test('a PKCS#12 keystore serves; enabledProtocols and cipherSuites are what is negotiated', async (t) => {
  const p12 = join(certs.dir, 'server.p12');
  execFileSync('openssl', ['pkcs12', '-export', '-in', certs.server.cert, '-inkey', certs.server.key, '-out', p12, '-passout', 'pass:changeit']);
  const broker = new FakeBroker(() => undefined);
  const { proxy, port } = await proxyBefore(broker, {
    listen: { tls: { keystoreType: 'PKCS12', keystoreLocation: p12, keystorePassword: 'changeit', enabledProtocols: ['TLSv1.2'], cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'] } },
  });
  t.teardown(async () => {
    await proxy.stop();
    await broker.close();
  });
  const c = await RawClient.openTls(port, { ca: readFileSync(certs.ca) });
  const s = c.socket as TLSSocket;
  t.equal(s.getProtocol(), 'TLSv1.2', 'TLS 1.2 only');
  t.equal(s.getCipher().standardName, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'the one suite offered');
  t.equal(s.getPeerCertificate().subject.CN, 'localhost', "the PKCS#12 file's certificate");
  c.close();
  await RawClient.openTls(port, { ca: readFileSync(certs.ca), minVersion: 'TLSv1.3' }).then(() => t.fail('a TLS 1.3-only client connected'), () => t.pass('a TLS 1.3-only client is refused'));
});
