// The metrics port survives what a scanner or a typo sends it: a request target that is no URL (`//`, `//a:99999`)
// gets 400, an endpoint that throws gets 500, and the server (and the proxy with it) goes on answering.
import t from 'tap';
import { request } from 'node:http';
import { Registry } from 'prom-client';
import { startHttpServer } from '../../src/observability/http-server.js';
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
