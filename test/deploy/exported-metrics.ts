// What a running proxy exports, for the deploy kit's tests: the `# TYPE` lines of /metrics from an in-process proxy
// with a quota (so the quota table's and tenants' metrics exist) in front of a fake broker, and the kqp_* names a
// PromQL expression uses.
import { FakeBroker, proxyBefore } from '../support/fake-broker.js';

/** Metric name → type (counter, gauge, histogram, ...), as a running proxy's /metrics declares them. */
export async function exportedMetricTypes(): Promise<Map<string, string>> {
  const broker = new FakeBroker(() => undefined);
  const { proxy } = await proxyBefore(broker, { quotas: [{ clientId: '<default>', produceBytesPerSec: 1048576 }] });
  try {
    const { host, port } = proxy.metricsAddress();
    const text = await (await fetch(`http://${host}:${port}/metrics`)).text();
    return new Map(text.split('\n').flatMap((line) => {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      return m ? [[m[1]!, m[2]!] as const] : [];
    }));
  } finally {
    await proxy.stop();
    await broker.close();
  }
}

/** The proxy's metric names in a PromQL expression. */
export function metricNamesIn(expr: string): string[] {
  return [...new Set(expr.match(/\bkqp_[a-zA-Z0-9_:]*/g) ?? [])];
}

/** Of `names`, those the proxy does not export: neither declared, nor a histogram's _bucket, _sum or _count series. */
export function unexported(names: Iterable<string>, types: Map<string, string>): string[] {
  return [...names].filter((name) => {
    if (types.has(name)) return false;
    const series = /^(.+)_(bucket|sum|count)$/.exec(name);
    return !(series && ['histogram', 'summary'].includes(types.get(series[1]!) ?? ''));
  });
}
