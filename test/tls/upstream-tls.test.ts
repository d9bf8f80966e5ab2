// TLS to the broker (upstream.tls) against an in-process fake broker that only offers TLS: the broker's certificate
// is verified against the configured CA and its host name (or serverName) checked; a broker the sidecar cannot verify
// closes only the client's connection, counted as kqp_upstream_errors_total{kind="tls"}; the readiness probe speaks
// TLS too.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { configFromObject } from '../../src/config/load-config.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { FakeBroker, proxyBefore, answerApiVersions } from '../support/fake-broker.js';
import { RawClient, API_VERSIONS_V3 } from '../support/raw-client.js';
import { makeCertificates } from '../support/tls-certificates.js';

const certs = makeCertificates();
t.teardown(() => certs.cleanup());

async function setup(t: Test, tls: Record<string, unknown>) {
  const broker = new FakeBroker(answerApiVersions, { cert: readFileSync(certs.server.cert), key: readFileSync(certs.server.key) });
  const { proxy, port } = await proxyBefore(broker, { upstream: { tls } });
  const client = await RawClient.open(port);
  t.teardown(async () => {
    client.close();
    await proxy.stop();
    await broker.close();
  });
  const tlsErrors = async () => Number((await proxy.metrics.registry.getSingleMetricAsString('kqp_upstream_errors_total')).split('\n').find((l) => l.includes('kind="tls"'))?.split(' ').pop() ?? 0);
  return { proxy, client, tlsErrors };
}

t.test("a broker whose certificate the configured CA signed, for the address's host, is served; the probe is ready", async (t) => {
  const { proxy, client } = await setup(t, { truststoreCertificates: certs.ca });
  t.ok(await client.response(client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3)), 'a request round trip through TLS to the broker');
  t.ok(proxy.ready(), '/readyz: the probe reached the broker over TLS');
});

t.test('a broker signed by a CA the sidecar does not trust: the client connection is closed, counted as a TLS upstream error', async (t) => {
  const { proxy, client, tlsErrors } = await setup(t, { truststoreCertificates: certs.otherCa });
  client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
  await client.closedWithin(5_000);
  t.equal(await tlsErrors(), 1, 'kqp_upstream_errors_total{kind="tls"} 1');
  t.notOk(proxy.ready(), 'not ready: the probe cannot verify the broker either');
});

t.test('a reload applies a new upstream.tls to new broker connections (a rotated CA file, say)', async (t) => {
  const { proxy, client, tlsErrors } = await setup(t, { truststoreCertificates: certs.ca });
  t.ok(await client.response(client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3)), 'served');
  const { host, port } = proxy.config.upstream;
  const kept = proxy.reload(configFromObject({
    listen: `${proxy.config.listen.host}:${proxy.config.listen.port}`, metrics: `${proxy.config.metrics.host}:${proxy.config.metrics.port}`, logLevel: 'silent',
    upstream: { address: `${host}:${port}`, tls: { truststoreCertificates: certs.otherCa } },
  }));
  t.same(kept, [], 'nothing that needs a restart changed');
  t.ok(await client.response(client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3)), 'the open connection keeps its broker connection');
  const next = await RawClient.open(proxy.address().port);
  t.teardown(() => next.close());
  next.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
  await next.closedWithin(5_000);
  t.equal(await tlsErrors(), 1, 'a new one is verified against the new CA (which did not sign the broker)');
});

t.test('a reload that asks for another upstream address keeps the address and the TLS checks made for it', async (t) => {
  const { proxy, client } = await setup(t, { truststoreCertificates: certs.ca });
  const { host, port } = proxy.config.upstream;
  const kept = proxy.reload(configFromObject({
    listen: `${proxy.config.listen.host}:${proxy.config.listen.port}`, metrics: `${proxy.config.metrics.host}:${proxy.config.metrics.port}`, logLevel: 'silent',
    upstream: { address: `kafka.invalid:${port}`, tls: { truststoreCertificates: certs.ca } },
  }));
  t.same(kept, ['upstream'], 'the address needs a restart');
  t.equal(proxy.config.upstream.host, host);
  const next = await RawClient.open(proxy.address().port);
  t.teardown(() => next.close());
  t.ok(await next.response(next.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3)), `a new connection still reaches ${host}, its certificate checked for ${host}, not kafka.invalid`);
  t.notOk(client.closed);
});

t.test('the host name is checked (serverName), unless endpointIdentificationAlgorithm is empty', async (t) => {
  const wrong = await setup(t, { truststoreCertificates: certs.ca, serverName: 'broker.elsewhere.example' });
  wrong.client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
  await wrong.client.closedWithin(5_000);
  t.equal(await wrong.tlsErrors(), 1, 'a certificate for another name is refused');
  const unchecked = await setup(t, { truststoreCertificates: certs.ca, serverName: 'broker.elsewhere.example', endpointIdentificationAlgorithm: '' });
  t.ok(await unchecked.client.response(unchecked.client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3)), 'with the check off, the same broker is served (its CA still verified)');
});
