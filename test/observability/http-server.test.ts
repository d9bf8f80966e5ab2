// The metrics port survives what a scanner or a typo sends it: a request target that is no URL (`//`, `//a:99999`)
// gets 400, an endpoint that throws gets 500, and the server (and the proxy with it) goes on answering; connections
// held open and silent cannot keep the probes out.
import t from 'tap';
import { request } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { MAX_HTTP_CONNECTIONS, startHttpServer } from '../../src/observability/http-server.js';
import { freePorts } from '../../src/local-kafka/ports.js';

/** GET of a raw request target (fetch would normalise it), and the status. */
const statusOf = (port: number, path: string) => new Promise<number>((resolve, reject) => {
  request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
    res.resume();
    resolve(res.statusCode!);
  }).on('error', reject).end();
});

t.test('a request target that is no URL, or an endpoint that throws, gets an error status; the server goes on', async (t) => {
  const [port] = await freePorts(1);
  const server = await startHttpServer({ host: '127.0.0.1', port: port! }, {
    registry: new Registry(),
    ready: () => true,
    quota: () => {
      throw new Error('a bug in /quota');
    },
    tenants: () => ({}),
  });
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  t.equal(await statusOf(port!, '//'), 400, '//: 400');
  t.equal(await statusOf(port!, '//a:99999'), 400, '//a:99999: 400');
  t.equal(await statusOf(port!, '/quota?user=u'), 500, 'an endpoint that throws: 500');
  t.equal(await statusOf(port!, '/healthz'), 200, 'and /healthz still answers');
});

t.test(`${MAX_HTTP_CONNECTIONS} silent connections do not keep the probes out; one serving a request is not the one closed`, async (t) => {
  const [port] = await freePorts(1);
  // a scrape that takes its time: a metric whose collection waits until the test releases it
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const registry = new Registry();
  new Gauge({ name: 'slow', help: 'waits', registers: [registry], collect: () => gate });
  const server = await startHttpServer({ host: '127.0.0.1', port: port! }, {
    registry,
    ready: () => true,
    quota: () => ({}),
    tenants: () => ({}),
  });
  const silent: Socket[] = [];
  t.teardown(async () => {
    release();
    for (const s of silent) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  // a slow scrape in progress on the oldest connection: a request whose answer has not been written
  const slow = connect(port!, '127.0.0.1');
  await once(slow, 'connect');
  slow.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < MAX_HTTP_CONNECTIONS + 10; i++) {
    const s = connect(port!, '127.0.0.1');
    s.on('error', () => undefined);
    await once(s, 'connect');
    silent.push(s);
  }
  const started = performance.now();
  const status = await statusOf(port!, '/healthz');
  t.equal(status, 200, `/healthz answers (in ${(performance.now() - started).toFixed(0)} ms) with ${MAX_HTTP_CONNECTIONS + 10} silent connections opened before it`);
  const closed = silent.filter((s) => s.destroyed || s.readableEnded).length;
  t.ok(closed >= 10, `the oldest silent ones were closed to make room: ${closed}`);
  release();
  const [head] = (await once(slow, 'data')) as [Buffer];
  t.match(head.toString(), /^HTTP\/1.1 200/, 'the connection whose request was under way is still served');
  slow.destroy();
});
