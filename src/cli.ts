#!/usr/bin/env node
// kafka-quota-proxy --config FILE
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError } from './config/load-config.js';
import { ProxyServer } from './proxy/proxy-server.js';

const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } } });
if (!values.config) {
  console.error('usage: kafka-quota-proxy --config FILE');
  process.exit(2);
}
let proxy: ProxyServer | undefined;
let stopping = false;
// Installed first, so a SIGTERM during start-up (PID 1 in a container ignores it otherwise) still stops us.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    stopping = true;
    if (!proxy) process.exit(0);
    proxy.log.info({ signal }, 'stopping');
    void proxy.stop().then(() => process.exit(0));
  });
}
try {
  proxy = new ProxyServer(loadConfig(values.config));
  await proxy.start();
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `kafka-quota-proxy failed to start: ${(err as Error).message}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
if (stopping) await proxy.stop().then(() => process.exit(0));
