// Starting and stopping in-process, against a fake broker: a stop asked for while the proxy is still starting (a
// SIGTERM during start-up) waits for the start and ends it early, and every stop() call waits for the same end (a
// second signal does not cut the drain short); readiness in the start line, and a change of it logged once.
import t from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import { configFromObject } from '../../src/config/load-config.js';
import { createLogger } from '../../src/observability/logger.js';
import { freePorts } from '../../src/local-kafka/ports.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { FakeBroker, answerApiVersions, proxyBefore } from '../support/fake-broker.js';
import { RawClient, API_VERSIONS_V3 } from '../support/raw-client.js';

t.test('a stop during start-up: the start ends early without an error, the stop waits for it, the listener is closed', async (t) => {
  // stop() asked for at once: the start is still at its first step (listening)
  const [port, metrics, upstream] = await freePorts(3);
  const proxy = new ProxyServer(configFromObject({ listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${upstream}`, metrics: `127.0.0.1:${metrics}`, logLevel: 'silent' }),
    { logger: createLogger('silent') });
  const starting = proxy.start();
  const stopping = proxy.stop();
  t.equal(proxy.stop(), stopping, 'a second stop() is the same stop');
  let started: unknown = 'pending';
  await starting.then(() => (started = 'resolved'), (err: Error) => (started = err.message));
  t.equal(started, 'resolved', 'the start ends without an error');
  await stopping;
  t.notOk(proxy.ready(), 'stopped: not ready');
  await t.rejects(RawClient.open(port!), 'the listener is closed');
});

t.test('every stop() call waits for the drain: a request in flight is answered before any of them resolves', async (t) => {
  // the client's requests answered 300 ms after they came (the readiness probe's at once, by FakeBroker itself)
  const broker = new FakeBroker((frame, socket) => {
    setTimeout(() => answerApiVersions(frame, socket)?.forEach((b) => socket.write(b)), 300);
    return undefined;
  });
  const { proxy, port } = await proxyBefore(broker, { limits: { shutdownGraceMs: 5000 } });
  t.teardown(() => broker.close());
  const client = await RawClient.open(port);
  const id = client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
  // in flight: at the broker (which answers it 300 ms after)
  while (broker.received.length === 0) await new Promise((r) => setTimeout(r, 5));
  let answered = false;
  const response = client.response(id).then(() => (answered = true));
  const first = proxy.stop();
  await proxy.stop();
  t.ok(answered, 'the second stop() resolved only after the request in flight was answered');
  await Promise.all([first, response]);
  client.close();
});

t.test('readiness: the start line says it; a broker that stops answering is one warning, not one per probe', async (t) => {
  const lines: { msg: string; ready?: boolean; upstream?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as (typeof lines)[number]);
      done();
    },
  });
  const broker = new FakeBroker(answerApiVersions);
  const { proxy } = await proxyBefore(broker, { logLevel: 'info' }, pino({ level: 'info' }, sink));
  t.teardown(() => proxy.stop());
  t.match(lines.find((l) => l.msg === 'proxy started'), { ready: true }, 'the start line: ready');
  await broker.close();
  const deadline = Date.now() + 15_000;
  while (proxy.ready() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.notOk(proxy.ready(), 'the broker gone: not ready');
  await new Promise((r) => setTimeout(r, 4500)); // two more probes
  const warned = lines.filter((l) => l.msg.startsWith('not ready'));
  t.equal(warned.length, 1, `one warning: ${warned[0]?.msg}`);
  t.match(warned[0], { upstream: `${proxy.config.upstream.host}:${proxy.config.upstream.port}` }, 'naming the upstream');
});

t.test('cluster-scoped quotas have their shares before the first client is accepted', async (t) => {
  // without them, a cluster-scoped quota was served whole (share 1) until the start-up's broker probe was done
  const [port, metrics, upstream] = await freePorts(3);
  const proxy = new ProxyServer(configFromObject({
    listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${upstream}`, metrics: `127.0.0.1:${metrics}`, logLevel: 'silent',
    quotas: [{ clientId: 'everyone', produceBytesPerSec: 1_048_576, scope: 'cluster' }],
  }), { logger: createLogger('silent') });
  const starting = proxy.start();
  t.teardown(() => proxy.stop());
  t.ok(proxy.quotas.cluster, 'the shares exist as the listener opens');
  t.equal(proxy.quotas.cluster?.mode(), 'starting', 'serving the starting floor');
  await starting;
});
