// The per-API request metrics are plain numbers on the hot path; scraped, they must read exactly as the prom-client
// Counter and Histogram they replace would for the same updates.
import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { ApiMetricsTable, LATENCY_BUCKETS } from '../../src/observability/api-metrics.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';

t.test('scraped, the table reads as prom-client counters and a histogram fed the same updates', async (t) => {
  const ours = new Registry();
  const table = new ApiMetricsTable(ours);
  const theirs = new Registry();
  const registers = [theirs];
  const requests = new Counter({ name: 'kqp_requests_total', help: 'Requests relayed, by API', labelNames: ['api'], registers });
  const requestBytes = new Counter({ name: 'kqp_request_bytes_total', help: 'Request bytes relayed, by API', labelNames: ['api'], registers });
  const responseBytes = new Counter({ name: 'kqp_response_bytes_total', help: 'Response bytes relayed, by API', labelNames: ['api'], registers });
  const latency = new Histogram({
    name: 'kqp_request_duration_seconds', help: 'Time from forwarding a request to the broker to receiving the start of its response, by API',
    labelNames: ['api'], buckets: [...LATENCY_BUCKETS], registers,
  });
  // every bucket's bound exactly, either side of it, beyond the last, for three APIs and an unknown key
  const seconds = LATENCY_BUCKETS.flatMap((b) => [b * 0.999, b, b * 1.001]).concat([0, 11, 1e6]);
  const names: [number, string][] = [[ApiKey.Produce, 'Produce'], [ApiKey.Fetch, 'Fetch'], [ApiKey.Metadata, 'Metadata'], [9999, 'unknown']];
  seconds.forEach((s, i) => {
    const [key, api] = names[i % names.length]!;
    const m = table.api(key);
    m.requests.inc();
    m.requestBytes.inc(100 + i);
    m.responseBytes.inc(7 * i);
    m.latency.observe(s);
    requests.labels(api).inc();
    requestBytes.labels(api).inc(100 + i);
    responseBytes.labels(api).inc(7 * i);
    latency.labels(api).observe(s);
  });
  const lines = async (r: Registry) => (await r.metrics()).split('\n').sort();
  t.strictSame(await lines(ours), await lines(theirs), 'the same exposition, line for line');
  t.equal(table.api(ApiKey.Produce), table.api(ApiKey.Produce), 'one set of children per key');
});
