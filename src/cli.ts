#!/usr/bin/env -S node --single-threaded-gc
// kafka-quota-proxy --config FILE (SIGHUP re-reads FILE: config-reloader.ts)
// kafka-quota-proxy --check-config FILE [--explain USER:CLIENT-ID ...]: validates FILE (exit 0, or 2 with the error)
// and says which quota of each kind applies to each pair, and why.
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError } from './config/load-config.js';
import { explainQuotas, parsePair } from './config/explain-quotas.js';
import { ConfigReloader } from './config/config-reloader.js';
import { ProxyServer } from './proxy/proxy-server.js';

const USAGE = 'usage: kafka-quota-proxy --config FILE\n       kafka-quota-proxy --check-config FILE [--explain USER:CLIENT-ID ...]';
let values: { config?: string; 'check-config'?: string; explain?: string[] };
try {
  ({ values } = parseArgs({
    options: { config: { type: 'string', short: 'c' }, 'check-config': { type: 'string' }, explain: { type: 'string', multiple: true } },
  }));
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values['check-config'] !== undefined) checkConfig(values['check-config'], values.explain ?? []);
if (!values.config) {
  console.error(USAGE);
  process.exit(2);
}

function checkConfig(file: string, explain: string[]): never {
  const pairs = explain.map((text) => ({ text, pair: parsePair(text) }));
  const bad = pairs.find((p) => !p.pair);
  if (bad) {
    console.error(`--explain ${bad.text}: expected USER:CLIENT-ID (an empty user is an unauthenticated connection)\n${USAGE}`);
    process.exit(2);
  }
  try {
    const config = loadConfig(file);
    console.log(`${file}: valid`);
    for (const { pair } of pairs) console.log(explainQuotas(config, pair!.user, pair!.clientId).join('\n'));
    process.exit(0);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`${file}: ${err.message}`);
    process.exit(2);
  }
}

let proxy: ProxyServer | undefined;
let stopping = false;
// until the proxy runs, a SIGHUP is ignored (by default it would end the process)
process.on('SIGHUP', () => undefined);
// Installed first, so a SIGTERM during start-up (PID 1 in a container ignores it otherwise) still stops us; kept, so
// that a second signal during the drain (Ctrl-C twice, an impatient supervisor) does not end it by default
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    if (!proxy) process.exit(0);
    proxy.log.info({ signal }, 'stopping');
    void proxy.stop().then(() => process.exit(0));
  });
}
try {
  proxy = new ProxyServer(loadConfig(values.config));
  await proxy.start();
  new ConfigReloader(values.config, proxy).start();
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `kafka-quota-proxy failed to start: ${(err as Error).message}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
if (stopping) await proxy.stop().then(() => process.exit(0));
