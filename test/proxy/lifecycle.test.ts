// Lifecycle and faults, on a 1-node cluster of this test's own: a broker that dies takes its clients' connections
// with it at once and they reconnect when it is back; SIGTERM drains; a malformed frame closes only its connection;
// the connection limit and the idle timeout hold; /readyz follows the broker.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaCluster } from '../../src/local-kafka/kafka-cluster.js';
import { freePorts } from '../../src/local-kafka/ports.js';
import { startSidecars } from '../support/sidecars.js';
import { RawClient, API_VERSIONS_V3 } from '../support/raw-client.js';
import { fetchRequest } from '../support/requests.js';
import { kcatConsume, kcatProduce } from '../support/kcat.js';

const cluster = await KafkaCluster.start({ nodes: 1 });
t.teardown(async () => {
  if (!t.passing()) t.comment(cluster.logTails());
  await cluster.stop();
});

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

async function status(port: number, path: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}${path}`)).status;
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

t.test('a broker that dies disconnects its clients at once; they reconnect when it is back', async (t) => {
  const sidecars = await startSidecars(cluster.info);
  t.teardown(() => sidecars.stop());
  const proxy = sidecars.proxies[0]!;
  const metricsPort = proxy.metricsAddress().port;
  const client = await RawClient.open(proxy.address().port);
  await client.response(client.send(18, 3, API_VERSIONS_V3));
  t.equal(await status(metricsPort, '/readyz'), 200, 'ready while the broker answers');
  t.equal(await metric(metricsPort, 'kqp_ready'), 1, 'and kqp_ready says so');

  await cluster.kill(1, 'SIGKILL');
  // Nothing else would close the client for the 600 s idle timeout, so 5 s is still "at once", on any machine.
  const ms = await client.closedWithin(10_000);
  t.ok(ms < 5000, `client disconnected ${ms} ms after the broker died`);
  t.ok(await until(async () => (await status(metricsPort, '/readyz')) === 503, 30_000), '/readyz says not ready');
  t.equal(await metric(metricsPort, 'kqp_ready'), 0, 'and kqp_ready too');
  t.equal(await status(metricsPort, '/healthz'), 200, '/healthz still says the process runs');

  await cluster.restart(1);
  t.ok(await until(async () => (await status(metricsPort, '/readyz')) === 200, 60_000), 'ready again');
  const values = ['after', 'restart'];
  await kcatProduce(sidecars.bootstrap, 'lifecycle-after-restart', values);
  t.same(await kcatConsume(sidecars.bootstrap, 'lifecycle-after-restart'), values, 'clients work through the proxy again');
  t.ok(await until(async () => (await metric(metricsPort, 'kqp_connections_active')) === 0, 15_000), 'no connection left open');
});

t.test('a malformed frame closes only its own connection', async (t) => {
  const sidecars = await startSidecars(cluster.info);
  t.teardown(() => sidecars.stop());
  const port = sidecars.proxies[0]!.address().port;
  const metricsPort = sidecars.proxies[0]!.metricsAddress().port;
  const good = await RawClient.open(port);
  const negative = await RawClient.open(port);
  const short = await RawClient.open(port);
  negative.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xfb]));
  short.socket.write(Buffer.from([0, 0, 0, 3, 0, 18, 0])); // a 3-byte frame cannot hold a request header
  await negative.closedWithin(10_000);
  await short.closedWithin(10_000);
  t.pass('both bad connections were closed');
  const r = await good.response(good.send(18, 3, API_VERSIONS_V3));
  t.ok(r.length > 10, 'the other connection still works');
  t.equal(await metric(metricsPort, 'kqp_protocol_errors_total'), 2, 'two protocol errors counted');
  good.close();
});

t.test('the connection limit holds, and the idle timeout closes quiet connections', async (t) => {
  // Two proxies: with the limit and a short idle timeout on one, a slow machine could let the timeout close some of the
  // five connections before the sixth came, or before the count was checked.
  const limited = await startSidecars(cluster.info, { limits: { maxConnections: 5 } });
  const idling = await startSidecars(cluster.info, { limits: { idleTimeoutMs: 1500 } });
  t.teardown(() => Promise.all([limited.stop(), idling.stop()]));
  const port = limited.proxies[0]!.address().port;
  const metricsPort = limited.proxies[0]!.metricsAddress().port;
  const clients = await Promise.all(Array.from({ length: 5 }, () => RawClient.open(port)));
  for (const c of clients) await c.response(c.send(18, 3, API_VERSIONS_V3));
  const sixth = await RawClient.open(port);
  // Only the limit closes it here (the idle timeout is the default 600 s), so 10 s is still "at once", on any machine.
  await sixth.closedWithin(10_000);
  t.pass('a sixth connection is closed at once');
  t.equal(await metric(metricsPort, 'kqp_connections_rejected_total'), 1, 'and counted');
  clients[0]!.close();
  t.ok(await until(() => limited.proxies[0]!.connectionCount === 4, 10_000), 'closing one leaves four');
  const again = await RawClient.open(port);
  t.ok((await again.response(again.send(18, 3, API_VERSIONS_V3))).length > 0, 'a free slot accepts a connection again');
  for (const c of [...clients, again]) c.close();

  // Timed from before the request: the proxy's last activity on the connection comes after it, so the connection
  // cannot close before 1500 ms have passed; 1000 leaves room for the timer's lag.
  const quiet = await RawClient.open(idling.proxies[0]!.address().port);
  const sentAt = Date.now();
  t.ok((await quiet.response(quiet.send(18, 3, API_VERSIONS_V3))).length > 0, 'a request is answered');
  await quiet.closedWithin(15_000);
  const idle = Date.now() - sentAt;
  t.ok(idle >= 1000, `an idle connection is closed after the idle timeout (${idle} ms after its request was sent)`);
});

t.test('SIGTERM (twice): stop accepting, let in-flight requests finish, then close and exit', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kqp-sigterm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [port, metricsPort] = await freePorts(2);
  const node = cluster.info.nodes[0]!;
  const configFile = join(dir, 'proxy.yaml');
  // The grace period is far longer than the fetch's wait below; draining ends as soon as the fetch is answered.
  writeFileSync(configFile, `listen: 127.0.0.1:${port}\nupstream: ${node.host}:${node.port}\nmetrics: 127.0.0.1:${metricsPort}\n` +
    `advertise: { mode: map, map: { "1": "127.0.0.1:${port}" } }\nlimits: { shutdownGraceMs: 30000 }\nlogLevel: warn\n`);
  await kcatProduce(`${node.host}:${node.port}`, 'lifecycle-sigterm', ['x']);
  const proxy = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--config', configFile], { stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => proxy.on('exit', (code) => resolve(code)));
  t.teardown(() => void proxy.kill('SIGKILL'));
  t.ok(await until(async () => (await status(metricsPort!, '/readyz').catch(() => 0)) === 200, 60_000), 'the proxy started');

  const client = await RawClient.open(port!);
  // A fetch the broker holds for maxWaitMs (no new data, min_bytes not reached): still in flight when the refusal below
  // is seen, within its 3 s (and inside the 30 s grace).
  const maxWaitMs = 20_000;
  const sentAt = performance.now();
  const id = client.send(1, 12, fetchRequest('lifecycle-sigterm', { offset: 1n, maxWaitMs, minBytes: 1_000_000 }));
  // once the proxy has counted the fetch, it has read and forwarded it: draining waits for its response
  t.ok(await until(async () => (await metric(metricsPort!, 'kqp_requests_total{api="Fetch"}')) === 1, 10_000), 'the fetch reached the proxy');
  proxy.kill('SIGTERM');
  const refused = await until(() => new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: port! });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  }), 3000);
  t.ok(refused, 'new connections are refused once SIGTERM arrived');
  t.equal(client.frames.length, 0, 'while the fetch is still in flight');
  proxy.kill('SIGTERM'); // a second one (an impatient supervisor) does not cut the drain short
  const response = await client.response(id, 30_000);
  // The broker's wait starts after `sentAt`; 50 ms allows for its timer ending a little early.
  const answered = performance.now() - sentAt;
  t.ok(answered >= maxWaitMs - 50, `the in-flight fetch was answered after the broker's wait, ${answered.toFixed(0)} ms after it was sent`);
  t.ok(response.length > 8, 'with its full response');
  await client.closedWithin(10_000);
  t.pass('then the connection was closed');
  t.equal(await exited, 0, 'and the process exited 0');
});
