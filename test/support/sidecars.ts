// In-process sidecars for tests: one proxy per broker of a cluster, each rewriting broker addresses to the sidecars'.
import { configFromObject, type HostPort, type ProxyConfig } from '../../src/config/load-config.js';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import { createLogger } from '../../src/observability/logger.js';
import { freePorts } from '../../src/local-kafka/ports.js';
import type { ClusterInfo } from '../../src/local-kafka/kafka-cluster.js';

export interface Sidecars {
  proxies: ProxyServer[];
  /** Sidecar addresses, host:port,... in node order. */
  bootstrap: string;
  addresses: HostPort[];
  stop(): Promise<void>;
}

export interface SidecarOptions {
  /** 'map' rewrites broker addresses to the sidecars' (brokers advertise themselves); 'none' leaves them. */
  advertise?: 'map' | 'none';
  limits?: Record<string, number>;
  /** Extra top-level config (quotas, tenants, ...). */
  extra?: Record<string, unknown>;
  /** Fixed listen ports, in node order. */
  ports?: number[];
}

export function sidecarConfig(upstream: string, listenPort: number, metricsPort: number, map: Record<string, string> | undefined, o: SidecarOptions): ProxyConfig {
  return configFromObject({
    listen: `127.0.0.1:${listenPort}`,
    upstream,
    metrics: `127.0.0.1:${metricsPort}`,
    advertise: map ? { mode: 'map', map } : { mode: 'none' },
    limits: o.limits ?? {},
    logLevel: process.env.KQP_TEST_LOG ?? 'silent',
    ...o.extra,
  });
}

export async function startSidecars(cluster: ClusterInfo, o: SidecarOptions = {}): Promise<Sidecars> {
  const n = cluster.nodes.length;
  const ports = o.ports ?? (await freePorts(n));
  const metricsPorts = await freePorts(n);
  const map = (o.advertise ?? 'map') === 'map' ? Object.fromEntries(cluster.nodes.map((node, i) => [String(node.id), `127.0.0.1:${ports[i]}`])) : undefined;
  const proxies: ProxyServer[] = [];
  for (let i = 0; i < n; i++) {
    const node = cluster.nodes[i]!;
    const config = sidecarConfig(`${node.host}:${node.port}`, ports[i]!, metricsPorts[i]!, map, o);
    const proxy = new ProxyServer(config, { logger: createLogger(config.logLevel, process.stderr) });
    await proxy.start();
    proxies.push(proxy);
  }
  const addresses = proxies.map((p) => ({ host: '127.0.0.1', port: p.address().port }));
  return {
    proxies,
    addresses,
    bootstrap: addresses.map((a) => `${a.host}:${a.port}`).join(','),
    stop: async () => {
      await Promise.all(proxies.map((p) => p.stop()));
    },
  };
}
