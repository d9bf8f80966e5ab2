// Only the trust store is trusted, as in Kafka (ssl.truststore.*): a PKCS#12 keystore packed with its CA chain makes
// Node trust that CA too (crypto_context.cc, LoadPKCS12: "Add CA certs too"), so a peer certificate signed by the
// sidecar's own CA passed OpenSSL's check. On the listener: with the clients' CA as truststoreCertificates and the
// server's CA in the keystore, mallory (signed by the server's CA) is refused as tls_client_certificate_untrusted,
// with one log line and a count, while a client of the clients' CA is served; so is mallory sending a forged
// intermediate that names the clients' CA as its issuer (Node links a chain by names: only signatures prove it). A
// client whose certificate an intermediate CA signed is served again when it offers to resume its session (a resumed
// session has lost the chain the check needs: the listener does not resume sessions when it judges certificates). Upstream: a broker signed by the CA in
// the sidecar's keystore, not by upstream.tls.truststoreCertificates, is refused by the relay, the probe and the
// coordination client's TLS.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { configFromObject } from '../../src/config/load-config.js';
import { createLogger } from '../../src/observability/logger.js';
import type { ProxyServer } from '../../src/proxy/proxy-server.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { FakeBroker, answerApiVersions, proxyBefore } from '../support/fake-broker.js';
import { RawClient, API_VERSIONS_V3, served } from '../support/raw-client.js';
import { makeCertificates, type KeyPair } from '../support/tls-certificates.js';

const certs = makeCertificates();
t.teardown(() => certs.cleanup());
const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: certs.dir, stdio: ['ignore', 'pipe', 'pipe'] });
const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
openssl(['req', '-x509', ...ecKey, '-keyout', 'clients-ca.key', '-out', 'clients-ca.crt', '-days', '2', '-subj', '/CN=kqp clients CA']);
const signed = (name: string, subject: string, by: string, extensions: string[] = []): KeyPair => {
  openssl(['req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  if (extensions.length) writeFileSync(join(certs.dir, `${name}.ext`), extensions.join('\n'));
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.crt`, '-CAkey', `${by}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.crt`,
    ...(extensions.length ? ['-extfile', `${name}.ext`] : [])]);
  return { cert: join(certs.dir, `${name}.crt`), key: join(certs.dir, `${name}.key`) };
};
/** A PKCS#12 keystore of `pair` with the chain up to the server's CA (certs.ca), as `openssl pkcs12 -export -certfile` packs it. */
const keystoreWithChain = (pair: KeyPair, name: string) => {
  openssl(['pkcs12', '-export', '-in', pair.cert, '-inkey', pair.key, '-certfile', certs.ca, '-out', `${name}.p12`, '-passout', 'pass:changeit']);
  return { keystoreType: 'PKCS12', keystoreLocation: join(certs.dir, `${name}.p12`), keystorePassword: 'changeit' };
};
const client = signed('client', '/O=Org/CN=client', 'clients-ca');
signed('clients-intermediate', '/CN=kqp clients intermediate CA', 'clients-ca', ['basicConstraints=critical,CA:TRUE']);
const viaIntermediate = signed('client-2', '/O=Org/CN=client-2', 'clients-intermediate');
const mallory = signed('mallory-by-server-ca', '/O=Org/CN=mallory', 'ca');
/**
 * Mallory's chain with a forged intermediate: the server CA's name and public key (so that it seems to have signed
 * mallory), no authority key id, issued in the clients' CA's name by a key that is not the clients' CA's.
 */
const forgedChain = (() => {
  openssl(['req', '-x509', ...ecKey, '-keyout', 'forger.key', '-out', 'forger.crt', '-days', '2', '-subj', '/CN=kqp clients CA']);
  openssl(['x509', '-in', 'ca.crt', '-pubkey', '-noout', '-out', 'ca.pub']);
  openssl(['req', ...ecKey, '-keyout', 'forged.key', '-out', 'forged.csr', '-subj', '/CN=kqp test CA']);
  writeFileSync(join(certs.dir, 'forged.ext'), 'basicConstraints=critical,CA:TRUE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=none\n');
  openssl(['x509', '-req', '-in', 'forged.csr', '-CA', 'forger.crt', '-CAkey', 'forger.key', '-CAcreateserial', '-force_pubkey', 'ca.pub', '-days', '2', '-extfile', 'forged.ext', '-out', 'forged.crt']);
  return Buffer.concat([readFileSync(mallory.cert), readFileSync(join(certs.dir, 'forged.crt'))]);
})();
const ca = readFileSync(certs.ca);
const pem = (pair: KeyPair) => ({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) });

const metric = async (proxy: ProxyServer, name: string, label: string) =>
  Number((await proxy.metrics.registry.getSingleMetricAsString(name)).split('\n').find((l) => l.includes(label))?.split(' ').pop() ?? 0);

async function listener(t: Test, clientAuth: 'required' | 'requested') {
  const broker = new FakeBroker(answerApiVersions);
  const lines: { kind?: string }[] = [];
  const logger = createLogger('warn', new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(JSON.parse(chunk.toString())), done()) }));
  const tls = { ...keystoreWithChain(certs.server, 'server'), truststoreCertificates: join(certs.dir, 'clients-ca.crt'), clientAuth };
  const { proxy, port } = await proxyBefore(broker, { listen: { tls } }, logger);
  t.teardown(async () => {
    await proxy.stop();
    await broker.close();
  });
  return { proxy, port, lines };
}

for (const clientAuth of ['required', 'requested'] as const) {
  t.test(`clientAuth ${clientAuth}: a client certificate signed by the CA in the server's PKCS#12 keystore is refused; the clients' CA's is served`, async (t) => {
    const { proxy, port, lines } = await listener(t, clientAuth);
    const legitimate = await RawClient.openTls(port, { ca, ...pem(client) });
    t.teardown(() => legitimate.close());
    t.ok(await served(legitimate), 'a client certificate of the clients\' CA (truststoreCertificates) is served');
    const isServed = async (cert: Buffer) => {
      try {
        const c = await RawClient.openTls(port, { ca, cert, key: readFileSync(mallory.key) });
        const ok = await served(c, 2_000);
        c.close();
        return ok;
      } catch {
        return false; // refused during the handshake
      }
    };
    t.notOk(await isServed(readFileSync(mallory.cert)), "mallory, signed by the server's own CA (in its keystore, not in truststoreCertificates), is not served");
    t.notOk(await isServed(forgedChain), "nor with a forged intermediate in the clients' CA's name");
    for (let i = 0; i < 100 && (await metric(proxy, 'kqp_connections_rejected_total', 'tls_client_certificate_untrusted')) < 2; i++) await new Promise((r) => setTimeout(r, 20));
    t.equal(await metric(proxy, 'kqp_connections_rejected_total', 'reason="tls_client_certificate_untrusted"'), 2, 'each counted as tls_client_certificate_untrusted');
    t.equal(lines.filter((l) => l.kind === 'tls_client_certificate_untrusted').length, 2, 'one log line each (rate-limited, as every refusal)');
    t.ok(await served(legitimate), 'the legitimate client is still served');
  });
}

t.test('a client certificate an intermediate CA signed is served, and again when the client offers to resume its session', async (t) => {
  const { port } = await listener(t, 'required');
  const options = { ca, cert: Buffer.concat([readFileSync(viaIntermediate.cert), readFileSync(join(certs.dir, 'clients-intermediate.crt'))]), key: readFileSync(viaIntermediate.key) };
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    let session: Buffer | undefined;
    for (const attempt of ['first', 'resuming']) {
      const c = await RawClient.openTls(port, { ...options, maxVersion, ...(session ? { session } : {}) });
      t.ok(await served(c), `${maxVersion}, ${attempt} connection: served`);
      session ??= (c.socket as TLSSocket).getSession(); // TLS 1.3's ticket comes after the handshake: there by the response
      c.close();
    }
    t.ok(session, `${maxVersion}: the client had a session to offer`);
  }
});

/** A broker signed by the server's CA; the sidecar's keystore holds that CA, its trust store another. */
async function upstream(t: Test, truststore: string) {
  const broker = new FakeBroker(answerApiVersions, pem(certs.server));
  const sidecar = signed('sidecar', '/O=Org/CN=sidecar', 'ca');
  const tls = { ...keystoreWithChain(sidecar, 'sidecar'), truststoreCertificates: truststore };
  const { proxy, port } = await proxyBefore(broker, { upstream: { tls } });
  const c = await RawClient.open(port);
  t.teardown(async () => {
    c.close();
    await proxy.stop();
    await broker.close();
  });
  return { proxy, client: c, brokerPort: proxy.config.upstream.port, tls };
}

t.test("upstream: a broker signed by the CA in the sidecar's own PKCS#12 keystore, not in truststoreCertificates, is refused", async (t) => {
  const { proxy, client: c, brokerPort, tls } = await upstream(t, certs.otherCa);
  c.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
  await c.closedWithin(5_000);
  t.equal(await metric(proxy, 'kqp_upstream_errors_total', 'kind="tls"'), 1, 'the client connection closed, kqp_upstream_errors_total{kind="tls"} 1');
  t.notOk(proxy.ready(), 'the probe does not trust the broker either');
  // the coordination client's TLS (kafkajs' ssl options) too
  const coordination = configFromObject({ listen: 'a:1', upstream: { address: `127.0.0.1:${brokerPort}`, tls } }).coordination.tls!;
  const refused = await new Promise<string>((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port: brokerPort, ...coordination });
    s.once('secureConnect', () => (s.destroy(), resolve('connected')));
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  t.equal(refused, 'CERT_UNTRUSTED', "the coordination client's TLS refuses it");
});

t.test('upstream: the same keystore with the broker\'s CA in truststoreCertificates is served', async (t) => {
  const { proxy, client: c } = await upstream(t, certs.ca);
  t.ok(await c.response(c.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3)), 'a round trip to the broker');
  t.ok(proxy.ready(), 'ready');
});
