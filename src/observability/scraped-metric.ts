// A metric kept as plain numbers by its owner and turned into samples only when /metrics is scraped: registered with
// prom-client's registry in the shape its own metrics have (Metric.get()), so that the exposition, getSingleMetric and
// getSingleMetricAsString read it as they read prom-client's. For metrics updated on the relay's hot path, where
// prom-client's labelled children hash their labels on every update.
import type { Registry } from 'prom-client';

/** One sample, as prom-client lists them (metricName for a histogram's _bucket, _sum and _count). */
export interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

export function registerScrapedMetric(registry: Registry, name: string, help: string, type: 'counter' | 'gauge' | 'histogram', samples: () => Sample[]): void {
  const metric = { name, help, type, aggregator: 'sum', get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: samples() }) };
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}
