// The per-API request metrics (requests, their bytes, response bytes, broker latency), which the relay updates for
// every request and response: kept as plain numbers, so the hot path does no label hashing or bucket search through
// prom-client, and turned into Prometheus samples only when /metrics is scraped. The label set is bounded by the API
// table (unknown keys share one label).
import type { Registry } from 'prom-client';
import { apiSchema } from '../protocol/api.js';
import { registerScrapedMetric, type Sample } from './scraped-metric.js';

export interface ApiMetrics {
  requests: { inc(n?: number): void };
  requestBytes: { inc(n?: number): void };
  responseBytes: { inc(n?: number): void };
  latency: { observe(seconds: number): void };
}

/** kqp_request_duration_seconds' buckets (upper bounds, seconds). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

class Count {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

class Latency {
  /** Observations per bucket (not cumulative; the last one is +Inf). */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

interface Children {
  api: string;
  requests: Count;
  requestBytes: Count;
  responseBytes: Count;
  latency: Latency;
}

export class ApiMetricsTable {
  private readonly byKey: (Children | undefined)[] = [];
  private unknown: Children | undefined;
  /** In the order first used (the order they are listed in). */
  private readonly all: Children[] = [];

  constructor(registry: Registry) {
    const counter = (name: string, help: string, of: (c: Children) => Count) => registerScrapedMetric(registry, name, help, 'counter',
      () => this.all.map((c) => ({ labels: { api: c.api }, value: of(c).value })));
    counter('kqp_requests_total', 'Requests relayed, by API', (c) => c.requests);
    counter('kqp_request_bytes_total', 'Request bytes relayed, by API', (c) => c.requestBytes);
    counter('kqp_response_bytes_total', 'Response bytes relayed, by API', (c) => c.responseBytes);
    registerScrapedMetric(registry, 'kqp_request_duration_seconds', 'Time from forwarding a request to the broker to receiving the start of its response, by API', 'histogram',
      () => this.all.flatMap((c) => histogram('kqp_request_duration_seconds', c.api, c.latency)));
  }

  /** An API key's metrics (made once per key, so the hot path does no lookup). */
  api(key: number): ApiMetrics {
    const known = apiSchema(key);
    if (!known) return (this.unknown ??= this.children('unknown'));
    return (this.byKey[key] ??= this.children(known.name));
  }

  private children(api: string): Children {
    const c = { api, requests: new Count(), requestBytes: new Count(), responseBytes: new Count(), latency: new Latency() };
    this.all.push(c);
    return c;
  }
}

/** A histogram's samples as prom-client lists them: cumulative buckets (le), then _sum and _count. */
function histogram(name: string, api: string, h: Latency): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i <= LATENCY_BUCKETS.length; i++) {
    cumulative += h.buckets[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { le: i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i]! : '+Inf', api }, value: cumulative });
  }
  out.push({ metricName: `${name}_sum`, labels: { api }, value: h.sum });
  out.push({ metricName: `${name}_count`, labels: { api }, value: h.count });
  return out;
}
