// Subject DNs as Java's X500Principal.getName() writes them (what Kafka's principal mapping rules see), read from
// certificates openssl made: most specific RDN first, RFC 2253 escaping, a multi-valued RDN joined by "+", and an
// attribute without an RFC 2253 keyword (emailAddress) as its OID and the hex of its DER value.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { subjectDn, CertificateParseError } from '../../src/tls/x500-name.js';
import { makeCertificates } from '../support/tls-certificates.js';

const certs = makeCertificates();
t.teardown(() => certs.cleanup());
const dn = (file: string) => subjectDn(new X509Certificate(readFileSync(file)).raw);

t.test('RFC 2253 as Java writes it', async (t) => {
  t.equal(dn(certs.alice.cert), 'CN=Alice,OU=ServiceUsers,O=Org,C=US', 'most specific first');
  t.equal(dn(certs.tkac.cert), String.raw`CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz`, 'a comma in a value escaped; DC by its keyword');
  const email = Buffer.from('carol@example.com');
  t.equal(dn(certs.carol.cert), `1.2.840.113549.1.9.1=#16${email.length.toString(16)}${email.toString('hex')},CN=carol+UID=c1,O=Org`,
    'emailAddress as OID=#DER hex (Java has no RFC 2253 keyword for it); a multi-valued RDN joined by +');
  t.equal(dn(certs.ca), 'CN=kqp test CA');
});

t.test('a truncated certificate is an error, not a wrong name', async (t) => {
  const raw = new X509Certificate(readFileSync(certs.alice.cert)).raw;
  t.throws(() => subjectDn(raw.subarray(0, 60)), CertificateParseError);
});
