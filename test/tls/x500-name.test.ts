// Subject DNs as Java's X500Principal.getName() writes them (what Kafka's principal mapping rules see), read from
// certificates openssl made: most specific RDN first, RFC 2253 escaping, a multi-valued RDN joined by "+", and an
// attribute without an RFC 2253 keyword (emailAddress) as its OID and the hex of its DER value.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

t.test('BMPString values as Java reads them: their bytes as UTF-8 (what JDK 17 printed for this certificate)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kqp-x500-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // string_mask MASK:0x800: every name attribute a BMPString
  writeFileSync(join(dir, 'req.cnf'), '[req]\ndistinguished_name = dn\nstring_mask = MASK:0x800\nprompt = no\n[dn]\nCN = alice\nO = Org\n');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-config', join(dir, 'req.cnf')], { stdio: 'ignore' });
  t.equal(dn(join(dir, 'c.pem')), String.raw`O=\00O\00r\00g,CN=\00a\00l\00i\00c\00e`);
});

t.test('a truncated certificate is an error, not a wrong name', async (t) => {
  const raw = new X509Certificate(readFileSync(certs.alice.cert)).raw;
  t.throws(() => subjectDn(raw.subarray(0, 60)), CertificateParseError);
});
