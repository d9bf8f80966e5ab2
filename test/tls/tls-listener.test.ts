// The TLS listener against an in-process fake broker, with certificates openssl made for the test: a client
// certificate's subject, through ssl.principal.mapping.rules, is the tenant's user (produce and fetch quotas charged
// and throttled as on plaintext; address rewriting and ApiVersions go through); clientAuth requested and none give
// ANONYMOUS without a certificate; a SASL principal wins over the certificate's; securityProtocol SASL_SSL maps and
// counts no certificate name (an unmapped DN is served, as ANONYMOUS until SASL); a SASL login whose user the proxy
// cannot read leaves the certificate's name behind (Kafka's SASL_SSL principal is the exchange's); a client's renegotiation closes its
// connection (Kafka refuses renegotiation); every rejection closes
// only its connection, with one log line and a kqp_connections_rejected_total{reason} count, while another client is
// served; a reload re-reads the certificate (new handshakes use it, an open connection is untouched) and a bad file
// changes nothing; SIGTERM's drain lets an in-flight request finish over TLS.
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { stringify } from 'yaml';
import { Writer } from '../../src/protocol/writer.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import * as ProduceRes from '../../src/protocol/generated/produce-response.js';
import * as FetchRes from '../../src/protocol/generated/fetch-response.js';
import * as MetadataRes from '../../src/protocol/generated/metadata-response.js';
import * as Handshake from '../../src/protocol/generated/sasl-handshake-response.js';
import * as Authenticate from '../../src/protocol/generated/sasl-authenticate-response.js';
import { defaultMetadataRequest } from '../../src/protocol/generated/metadata-request.js';
import { encodeApiVersionsResponse, defaultApiVersionsResponse, type ApiVersionsResponse } from '../../src/protocol/generated/api-versions-response.js';
import { createLogger } from '../../src/observability/logger.js';
import { ConfigReloader } from '../../src/config/config-reloader.js';
import type { ProxyServer } from '../../src/proxy/proxy-server.js';
import { FakeBroker, apiKeyOf, correlationOf, responseFrame, proxyBefore } from '../support/fake-broker.js';
import { RawClient, API_VERSIONS_V3, served } from '../support/raw-client.js';
import { fetchRequest, produceRequest } from '../support/requests.js';
import { makeCertificates, type KeyPair } from '../support/tls-certificates.js';

const certs = makeCertificates();
t.teardown(() => certs.cleanup());
const ca = readFileSync(certs.ca);

const encode = (f: (w: Writer) => void) => {
  const w = new Writer();
  f(w);
  return Buffer.from(w.finish());
};

/** Answers ApiVersions, Metadata (a broker at 10.0.0.1:9092), Produce, Fetch (150 KB) and SASL (accepting); a produce's answer waits `produceDelayMs`. */
function broker(o: { produceDelayMs?: number } = {}): FakeBroker {
  return new FakeBroker((frame, socket) => {
    const id = correlationOf(frame);
    const version = frame.readInt16BE(6);
    switch (apiKeyOf(frame)) {
      case ApiKey.ApiVersions:
        return [responseFrame(id, encode((w) => encodeApiVersionsResponse(w, 3, { ...defaultApiVersionsResponse(), apiKeys: [{ apiKey: 0, minVersion: 0, maxVersion: 99, unknownTaggedFields: undefined }] })))];
      case ApiKey.Metadata: {
        const body = { ...MetadataRes.defaultMetadataResponse(), brokers: [{ ...MetadataRes.defaultMetadataResponseBroker(), nodeId: 1, host: '10.0.0.1', port: 9092 }] };
        return [responseFrame(id, encode((w) => MetadataRes.encodeMetadataResponse(w, version, body)), version >= 9)];
      }
      case ApiKey.Produce: {
        const out = responseFrame(id, encode((w) => ProduceRes.encodeProduceResponse(w, version, ProduceRes.defaultProduceResponse())), version >= 9);
        if (!o.produceDelayMs) return [out];
        setTimeout(() => socket.write(out), o.produceDelayMs);
        return undefined;
      }
      case ApiKey.Fetch: {
        const part = { ...FetchRes.defaultPartitionData(), records: Buffer.alloc(150_000, 1) };
        const body = { ...FetchRes.defaultFetchResponse(), responses: [{ ...FetchRes.defaultFetchableTopicResponse(), topic: 't', partitions: [part] }] };
        return [responseFrame(id, encode((w) => FetchRes.encodeFetchResponse(w, version, body)), version >= 12)];
      }
      case ApiKey.SaslHandshake:
        return [responseFrame(id, encode((w) => Handshake.encodeSaslHandshakeResponse(w, version, { ...Handshake.defaultSaslHandshakeResponse(), mechanisms: ['PLAIN'] })))];
      case ApiKey.SaslAuthenticate:
        return [responseFrame(id, encode((w) => Authenticate.encodeSaslAuthenticateResponse(w, version, Authenticate.defaultSaslAuthenticateResponse())), version >= 2)];
      default:
        return undefined;
    }
  });
}

/** listen.tls with the test server certificate and CA, and these settings. */
const listenTls = (tls: Record<string, unknown> = {}, server: KeyPair = certs.server) => ({
  tls: { keystoreCertificateChain: server.cert, keystoreKey: server.key, truststoreCertificates: certs.ca, ...tls },
});

async function setup(t: Test, config: Record<string, unknown>, o: { produceDelayMs?: number } = {}) {
  const b = broker(o);
  const lines: { kind?: string; msg: string }[] = [];
  const logger = createLogger('warn', new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(JSON.parse(chunk.toString())), done()) }));
  const { proxy, port } = await proxyBefore(b, { quotaTable: { newBucketShare: 1 }, ...config }, logger);
  const clients: RawClient[] = [];
  const tlsClient = async (client?: KeyPair, options: ConnectionOptions = {}) => {
    const c = await RawClient.openTls(port, { ca, ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}), ...options });
    clients.push(c);
    return c;
  };
  t.teardown(async () => {
    for (const c of clients) c.close();
    await proxy.stop();
    await b.close();
  });
  return { proxy, port, tlsClient, lines, broker: b };
}

const metric = async (proxy: ProxyServer, name: string, ...labels: string[]) =>
  (await proxy.metrics.registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#') && labels.every((x) => l.includes(x)))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);

t.test('mutual TLS: the certificate subject, through the principal rules, is the user; quotas, rewriting and ApiVersions as on plaintext', async (t) => {
  const { proxy, tlsClient } = await setup(t, {
    listen: listenTls({ clientAuth: 'required', principalMappingRules: 'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT' }),
    advertise: { mode: 'pattern', pattern: 'kafka-{nodeId}.example:9093' },
    // 10 KB/s of produce, 100 KB/s of fetch, both with a one-second burst
    quotas: [{ user: 'alice', produceBytesPerSec: 10_240, fetchBytesPerSec: 102_400 }],
  });
  const alice = await tlsClient(certs.alice);
  t.equal((alice.socket as TLSSocket).getProtocol(), 'TLSv1.3', 'TLS 1.3 by default');
  const versions = decodeResponseFrame((await alice.response(alice.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3))).subarray(4), ApiKey.ApiVersions, 3).body as ApiVersionsResponse;
  const produce = versions.apiKeys.find((k) => k.apiKey === 0)!;
  t.ok(produce.maxVersion < 99, `ApiVersions capped: Produce offered up to v${produce.maxVersion}, not the broker's v99`);
  const metadata = decodeResponseFrame((await alice.response(alice.send(ApiKey.Metadata, 12, { ...defaultMetadataRequest(), topics: [] }))).subarray(4), ApiKey.Metadata, 12).body as MetadataRes.MetadataResponse;
  t.same(metadata.brokers.map((b) => `${b.host}:${b.port}`), ['kafka-1.example:9093'], 'broker addresses rewritten');

  // a 30 KB produce leaves 20 KB of debt: 2 s
  const p = decodeResponseFrame((await alice.response(alice.send(0, 9, produceRequest('t', 0, Buffer.alloc(30_000, 1), 1)))).subarray(4), 0, 9).body as ProduceRes.ProduceResponse;
  t.ok(p.throttleTimeMs >= 1900 && p.throttleTimeMs <= 2100, `the produce carries throttle_time_ms ${p.throttleTimeMs} (alice's 10 KB/s quota)`);
  t.ok((await metric(proxy, 'kqp_tenant_bytes_total', 'tenant="alice"', 'kind="produce"')) > 30_000, 'charged to alice (the certificate CN, lower-cased by /L)');

  const fetcher = await tlsClient(certs.alice);
  const f = await fetcher.response(fetcher.send(1, 12, fetchRequest('t', { maxBytes: 50_000_000 })), 20_000);
  const fetched = decodeResponseFrame(f.subarray(4), 1, 12).body as FetchRes.FetchResponse;
  t.ok(fetched.throttleTimeMs > 0, `a 150 KB fetch response over alice's 100 KB burst carries throttle_time_ms ${fetched.throttleTimeMs}`);
  t.ok((await metric(proxy, 'kqp_tenant_bytes_total', 'tenant="alice"', 'kind="fetch"')) > 150_000, 'and is charged to alice');
  t.equal(await metric(proxy, 'kqp_requests_total', 'api="Produce"'), 1, 'request metrics count as on plaintext');
});

t.test('DEFAULT: the user is the subject DN as Java writes it', async (t) => {
  const { proxy, tlsClient } = await setup(t, {
    listen: listenTls({ clientAuth: 'required' }),
    quotas: [{ user: 'CN=Alice,OU=ServiceUsers,O=Org,C=US', produceBytesPerSec: 1e9 }],
  });
  const alice = await tlsClient(certs.alice);
  await alice.response(alice.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
  t.ok((await metric(proxy, 'kqp_tenant_bytes_total', 'tenant="CN=Alice,OU=ServiceUsers,O=Org,C=US"', 'kind="produce"')) > 5000, 'charged to the DN');
});

t.test('clientAuth requested: ANONYMOUS without a certificate, its name with one; SASL over TLS wins over the certificate', async (t) => {
  const { proxy, tlsClient } = await setup(t, {
    listen: listenTls({ clientAuth: 'requested', principalMappingRules: 'RULE:^CN=([^,]+),.*$/$1/L,DEFAULT' }),
    quotas: ['ANONYMOUS', 'alice', 'bob'].map((user) => ({ user, produceBytesPerSec: 1e9 })),
  });
  const charged = (user: string) => metric(proxy, 'kqp_tenant_bytes_total', `tenant="${user}"`, 'kind="produce"');
  const anonymous = await tlsClient();
  await anonymous.response(anonymous.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
  t.ok((await charged('ANONYMOUS')) > 5000 && (await charged('alice')) === 0, 'no certificate: ANONYMOUS');
  const alice = await tlsClient(certs.alice);
  await alice.response(alice.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
  t.ok((await charged('alice')) > 5000, "alice's certificate: alice");
  // SASL_SSL: a PLAIN exchange as bob on alice's certificate
  await alice.response(alice.send(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN', unknownTaggedFields: undefined }));
  await alice.response(alice.send(ApiKey.SaslAuthenticate, 2, { authBytes: Buffer.from('\0bob\0secret'), unknownTaggedFields: undefined }));
  await alice.response(alice.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
  t.ok((await charged('bob')) > 5000, 'after a SASL exchange as bob: bob, as in Kafka');
  t.equal(proxy.guard.stats.principals, 1, "alice's certificate principal was released for bob's (connections.maxPerPrincipal counts one a connection)");
});

t.test("a SASL login whose user the proxy cannot read (OAUTHBEARER) releases the certificate's principal", async (t) => {
  const { proxy, tlsClient } = await setup(t, {
    listen: listenTls({ clientAuth: 'required', principalMappingRules: 'RULE:^CN=([^,]+),.*$/$1/L' }),
    quotas: ['ANONYMOUS', 'alice'].map((user) => ({ user, produceBytesPerSec: 1e9 })),
  });
  const charged = (user: string) => metric(proxy, 'kqp_tenant_bytes_total', `tenant="${user}"`, 'kind="produce"');
  const alice = await tlsClient(certs.alice);
  t.ok(await served(alice), 'served');
  t.equal(proxy.guard.stats.principals, 1, "before SASL, alice's certificate principal counts");
  await alice.response(alice.send(ApiKey.SaslHandshake, 1, { mechanism: 'OAUTHBEARER', unknownTaggedFields: undefined }));
  await alice.response(alice.send(ApiKey.SaslAuthenticate, 2, { authBytes: Buffer.from('n,,\x01auth=Bearer eyJ0b2tlbiI6MX0\x01\x01'), unknownTaggedFields: undefined }));
  await alice.response(alice.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
  t.ok((await charged('ANONYMOUS')) > 5000 && (await charged('alice')) === 0, "charged as ANONYMOUS (the token's principal is the broker's to know), not as alice's certificate");
  t.equal(proxy.guard.stats.principals, 0, "alice's certificate principal no longer counts against connections.maxPerPrincipal");
});

t.test('securityProtocol SASL_SSL: the certificate is checked but names nobody; the principal comes from SASL only', async (t) => {
  const { proxy, tlsClient } = await setup(t, {
    // no DEFAULT: on SSL, a DN no rule maps closes the connection (tls_principal_unmapped)
    listen: listenTls({ securityProtocol: 'SASL_SSL', clientAuth: 'required', principalMappingRules: 'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L' }),
    quotas: ['ANONYMOUS', 'alice', 'bob'].map((user) => ({ user, produceBytesPerSec: 1e9 })),
  });
  const charged = (user: string) => metric(proxy, 'kqp_tenant_bytes_total', `tenant="${user}"`, 'kind="produce"');
  const tkac = await tlsClient(certs.tkac);
  t.ok(await served(tkac), 'a certificate no rule maps is served (Kafka applies no mapping rule on SASL_SSL)');
  const alice = await tlsClient(certs.alice);
  await alice.response(alice.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
  t.ok((await charged('ANONYMOUS')) > 5000 && (await charged('alice')) === 0, "before SASL, alice's certificate is charged as ANONYMOUS, not alice");
  t.equal(proxy.guard.stats.principals, 0, 'no certificate principal counts against connections.maxPerPrincipal');
  await alice.response(alice.send(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN', unknownTaggedFields: undefined }));
  await alice.response(alice.send(ApiKey.SaslAuthenticate, 2, { authBytes: Buffer.from('\0bob\0secret'), unknownTaggedFields: undefined }));
  await alice.response(alice.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
  t.ok((await charged('bob')) > 5000, 'after a SASL exchange as bob: bob');
  t.equal(proxy.guard.stats.principals, 1, 'bob counts');
  t.equal(await metric(proxy, 'kqp_connections_rejected_total'), 0, 'nothing refused');
});

t.test("a TLS 1.2 client's renegotiation is refused: its connection is closed, as Kafka's SslTransportLayer does", async (t) => {
  const { tlsClient } = await setup(t, { listen: listenTls() });
  const c = await tlsClient(undefined, { maxVersion: 'TLSv1.2' });
  t.ok(await served(c), 'served over TLS 1.2');
  const outcome = await new Promise<string>((resolve) => {
    const s = c.socket as TLSSocket;
    s.once('close', () => resolve('closed'));
    if (!s.renegotiate({}, (err) => resolve(err ? `refused: ${err.message}` : 'renegotiated'))) resolve('not started');
  });
  t.not(outcome, 'renegotiated', `the renegotiation does not succeed (${outcome})`);
  await c.closedWithin(5_000);
  t.pass('the connection is closed');
});

t.test('clientAuth none: no certificate is asked for; the user is ANONYMOUS', async (t) => {
  const { proxy, tlsClient } = await setup(t, { listen: listenTls({ clientAuth: 'none' }), quotas: [{ user: 'ANONYMOUS', produceBytesPerSec: 1e9 }] });
  const c = await tlsClient(certs.alice);
  await c.response(c.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
  t.ok((await metric(proxy, 'kqp_tenant_bytes_total', 'tenant="ANONYMOUS"', 'kind="produce"')) > 5000, 'ANONYMOUS, as a Kafka SSL listener with ssl.client.auth=none');
});

t.test('every rejection closes its connection only, with one log line and a count', async (t) => {
  const { proxy, port, tlsClient, lines } = await setup(t, {
    listen: listenTls({ clientAuth: 'required', principalMappingRules: 'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/' }),
  });
  const alice = await tlsClient(certs.alice);
  t.ok(await served(alice), 'alice is served');
  const refusedTls = async (options: ConnectionOptions, client?: KeyPair) => {
    // TLS 1.3: the client finishes its handshake before the server has judged its certificate; it sees the close then
    try {
      const c = await tlsClient(client, options);
      await c.closedWithin(5_000);
    } catch {
      // refused during the handshake
    }
  };
  await refusedTls({}, certs.expired);
  await refusedTls({}, certs.stranger);
  await refusedTls({});
  await refusedTls({}, certs.tkac); // trusted, but no rule maps CN=Tkac\, Adam,...
  await refusedTls({ ca: readFileSync(certs.otherCa) }, certs.alice); // the client does not trust the server: it aborts the handshake
  const plain = await RawClient.open(port);
  plain.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
  await plain.closedWithin(5_000);
  const gone = netConnect({ host: '127.0.0.1', port }); // a TCP health check: connects and goes
  await new Promise((resolve) => gone.once('connect', resolve));
  gone.destroy();

  const reasons = ['tls_client_certificate_expired', 'tls_client_certificate_untrusted', 'tls_client_certificate_missing', 'tls_principal_unmapped', 'tls_handshake_failed', 'tls_plaintext_client'];
  for (let i = 0; i < 100 && (await metric(proxy, 'kqp_connections_rejected_total')) < reasons.length; i++) await new Promise((r) => setTimeout(r, 20));
  for (const reason of reasons) {
    t.equal(await metric(proxy, 'kqp_connections_rejected_total', `reason="${reason}"`), 1, `kqp_connections_rejected_total{reason="${reason}"} 1`);
    t.equal(lines.filter((l) => l.kind === reason).length, 1, `one log line: ${lines.find((l) => l.kind === reason)?.msg}`);
  }
  t.equal(await metric(proxy, 'kqp_connections_rejected_total'), reasons.length, 'nothing else counted (the health check is not a rejection)');
  t.equal(proxy.guard.stats.ips, 1, 'only alice counts against her address: every refused connection was released');
  t.ok(await served(alice), 'alice, connected all along, is still served');
  t.ok(await served(await tlsClient(certs.alice)), 'and a new connection of hers too');
});

t.test('a handshake not done within handshakeTimeoutMs is closed, counted; another client is served', async (t) => {
  const { proxy, port, tlsClient, lines } = await setup(t, { listen: listenTls({ handshakeTimeoutMs: 500 }) });
  const silent = netConnect({ host: '127.0.0.1', port });
  silent.on('error', () => undefined);
  const started = performance.now();
  silent.write(Buffer.from([0x16])); // a TLS record begun, never finished
  await new Promise((resolve) => silent.once('close', resolve));
  t.ok(performance.now() - started >= 500 - 50, 'closed after the timeout (less 50 ms of timer slack)');
  t.equal(await metric(proxy, 'kqp_connections_rejected_total', 'reason="tls_handshake_timeout"'), 1, 'kqp_connections_rejected_total{reason="tls_handshake_timeout"} 1');
  t.equal(lines.filter((l) => l.kind === 'tls_handshake_timeout').length, 1, 'one log line');
  t.ok(await served(await tlsClient()), 'another client is served');
});

t.test('a TLS client on a plaintext listener: closed, with one log line and a count', async (t) => {
  const { proxy, port, lines } = await setup(t, {});
  const plain = await RawClient.open(port);
  await RawClient.openTls(port, { ca }).then((c) => c.closedWithin(5_000)).catch(() => undefined);
  for (let i = 0; i < 100 && (await metric(proxy, 'kqp_connections_rejected_total')) < 1; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(await metric(proxy, 'kqp_connections_rejected_total', 'reason="tls_client_on_plaintext_port"'), 1, 'counted');
  t.equal(lines.filter((l) => l.kind === 'tls_client_on_plaintext_port').length, 1, 'one log line');
  t.ok(await served(plain), 'a plaintext client is served');
});

t.test('a reload re-reads the certificate: new handshakes use it, an open connection is untouched; a bad file changes nothing', async (t) => {
  const { proxy, tlsClient } = await setup(t, { listen: listenTls() });
  const subject = (c: RawClient) => (c.socket as TLSSocket).getPeerCertificate().subject.CN;
  const before = await tlsClient();
  t.equal(subject(before), 'localhost');
  // the config file the reloader reads: the running proxy's addresses, and the new certificate
  const file = join(certs.dir, 'proxy.yaml');
  const write = (server: KeyPair) => writeFileSync(file, stringify({
    listen: { address: `${proxy.config.listen.host}:${proxy.config.listen.port}`, ...listenTls({}, server) },
    upstream: `${proxy.config.upstream.host}:${proxy.config.upstream.port}`,
    metrics: `${proxy.config.metrics.host}:${proxy.config.metrics.port}`,
    logLevel: 'silent',
    quotaTable: { newBucketShare: 1 },
  }));
  const reloader = new ConfigReloader(file, proxy);
  write(certs.server2);
  t.ok(reloader.reload('SIGHUP'), 'reloaded');
  const after = await tlsClient();
  t.equal(subject(after), 'localhost-2', 'a new connection gets the new certificate');
  t.ok(await served(before), 'the connection opened before the reload is still served');
  t.equal(subject(before), 'localhost', 'over its own handshake');
  write({ cert: certs.notACertificate, key: certs.server.key });
  t.notOk(reloader.reload('SIGHUP'), 'a file that is not a certificate fails the reload');
  write(certs.expiredServer);
  t.notOk(reloader.reload('SIGHUP'), 'so does an expired certificate');
  t.equal(await metric(proxy, 'kqp_config_reload_total', 'result="failure"'), 2, 'counted as failed reloads');
  t.equal(subject(await tlsClient()), 'localhost-2', 'the certificate in force is the last good one');
  t.ok(await served(after) && (await served(before)), 'and every connection is served');
});

t.test('SIGTERM drain over TLS: an in-flight request is answered before the connection closes', async (t) => {
  const { proxy, tlsClient, broker: b } = await setup(t, { listen: listenTls() }, { produceDelayMs: 300 });
  const c = await tlsClient();
  const id = c.send(0, 9, produceRequest('t', 0, Buffer.alloc(100, 1), 1));
  for (let i = 0; i < 100 && !b.received.some((f) => apiKeyOf(f) === 0); i++) await new Promise((r) => setTimeout(r, 10));
  const stopped = proxy.stop();
  t.ok(await c.response(id), 'the produce sent before the stop is answered');
  await stopped;
  await c.closedWithin(5_000);
  t.pass('then the connection is closed');
});

t.test('the guard admits before the handshake: over the creation rate a TLS client waits, then its handshake is done', async (t) => {
  const { proxy, tlsClient, broker: b } = await setup(t, { listen: listenTls(), connections: { creationRatePerIp: 0.5, creationBurstPerIp: 1 } });
  t.ok(await served(await tlsClient()), 'the first is served at once');
  const requests = () => b.received.length;
  const started = performance.now();
  const second = await tlsClient();
  const waited = performance.now() - started;
  const wait = (await metric(proxy, 'kqp_connection_wait_seconds_total')) * 1000;
  // one every 2 s: the first's handshake and round trip would have to take that long for the second not to wait
  t.ok(wait > 0, `the second was made to wait ${wait.toFixed(0)} ms (at most 2,000 ms: one every 2 s, burst 1)`);
  t.ok(waited >= wait - 50, `its handshake was done after that wait (${waited.toFixed(0)} ms, less 50 ms of timer slack)`);
  t.ok(await served(second), 'then it is served');
  t.equal(requests(), 2, 'one request each reached the broker');
  t.equal(proxy.guard.waiting, 0, 'nobody waits');
});
