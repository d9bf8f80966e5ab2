// The metrics port: GET /metrics (Prometheus), /healthz (the process runs), /readyz (the broker answers),
// /quota?user=U&clientId=C (the quotas that apply to that entity and the state of its buckets, as JSON),
// /tenants?top=N (the quota entities throttled most over the last minute, at most MAX_TOP of them, as JSON), and
// /debug/heap (memory after a full garbage collection, only in a process started with node's --expose-gc: tests and
// memory investigations; a production process answers 404, so nobody can make it collect on demand).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { getHeapStatistics } from 'node:v8';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { HostPort } from '../config/load-config.js';

export interface HttpEndpoints {
  registry: Registry;
  ready(): boolean;
  quota(user: string, clientId: string): object;
  tenants(top: number): object;
}

/** The most /tenants lists (its scan of the bucket table is the same for any N; the answer's size is not). */
export const MAX_TOP = 100;
/**
 * The most connections the metrics port keeps open. One more makes room by closing the oldest connection that is not
 * in the middle of a request: idle connections (a scraper's keep-alive, or someone holding sockets open and silent)
 * cannot keep the liveness and readiness probes out.
 */
export const MAX_HTTP_CONNECTIONS = 64;

export function startHttpServer(at: HostPort, endpoints: HttpEndpoints): Promise<Server> {
  // a connection that never finishes a request's head is closed after headersTimeout, checked every second
  const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    // a handler that throws would take the process, and every Kafka connection through it, down with it (each
    // endpoint works out its answer before it writes the head, so that a throw can still be answered 500)
    try {
      answer(req, res, endpoints);
    } catch (err) {
      if (res.headersSent) res.destroy();
      else res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  boundConnections(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve(server));
  });
}

/** At most MAX_HTTP_CONNECTIONS open: a new one closes the oldest that is not serving a request (or itself, if all are). */
function boundConnections(server: Server): void {
  const open = new Set<Socket>();
  const busy = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      busy.delete(socket);
    });
    if (open.size <= MAX_HTTP_CONNECTIONS) return;
    let victim = socket;
    for (const s of open) {
      if (!busy.has(s) && s !== socket) {
        victim = s;
        break;
      }
    }
    open.delete(victim);
    victim.destroy();
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    busy.add(req.socket);
    res.once('close', () => busy.delete(req.socket));
  });
}

function answer(req: IncomingMessage, res: ServerResponse, endpoints: HttpEndpoints): void {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('not a request target this server reads\n');
    return;
  }
  const path = url.pathname;
  if (req.method !== 'GET') {
    res.writeHead(405).end();
  } else if (path === '/metrics') {
    endpoints.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': endpoints.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  } else if (path === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  } else if (path === '/quota') {
    const user = url.searchParams.get('user') ?? 'ANONYMOUS';
    const clientId = url.searchParams.get('clientId') ?? '';
    const body = `${JSON.stringify(endpoints.quota(user, clientId), null, 2)}\n`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  } else if (path === '/tenants') {
    const top = Number(url.searchParams.get('top') ?? 10);
    if (!Number.isInteger(top) || top < 1 || top > MAX_TOP) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`top must be an integer from 1 to ${MAX_TOP}\n`);
    } else {
      const body = `${JSON.stringify(endpoints.tenants(top), null, 2)}\n`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    }
  } else if (path === '/debug/heap' && typeof globalThis.gc === 'function') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(heapAfterGc(globalThis.gc))}\n`);
  } else if (path === '/readyz') {
    const ready = endpoints.ready();
    res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
  } else {
    res.writeHead(404).end();
  }
}

/** Bytes in use after a full (major) collection: what the process holds, not what V8 has yet to collect. */
function heapAfterGc(gc: () => void): object {
  gc();
  const heap = getHeapStatistics();
  const usage = process.memoryUsage();
  return {
    heapUsed: heap.used_heap_size,
    heapTotal: heap.total_heap_size,
    heapLimit: heap.heap_size_limit,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    rss: usage.rss,
  };
}
