// The config reloader with reload.watch, in front of a fake broker: a file replaced by an editor's rename-over is put in
// force without a signal (200 ms after the last change; asserted within FOLLOW_MS); a file that fails validation
// changes nothing, and its time is kept (kqp_config_last_reload_failure_timestamp_seconds). (A Kubernetes ConfigMap volume's
// update, the ..data symlink swapped, is tested with the deploy kit's config in test/deploy/kubernetes.test.ts.)
import t, { type Test } from 'tap';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { ConfigReloader } from '../../src/config/config-reloader.js';
import { FakeBroker, proxyBefore } from '../support/fake-broker.js';

/** How long a change may take to be followed: measured 224 ms alone, 2,161 ms with the machine at load average ~20. */
const FOLLOW_MS = 10_000;

const config = (requestsPerSec: number) => ({ reload: { watch: true }, quotas: [{ clientId: 'app', requestsPerSec }] });

async function setup(t: Test, layout: (dir: string, text: string) => string) {
  const broker = new FakeBroker(() => undefined);
  const { proxy } = await proxyBefore(broker, config(10));
  const dir = mkdtempSync(join(tmpdir(), 'kqp-reloader-'));
  const addresses = { listen: `127.0.0.1:${proxy.config.listen.port}`, upstream: `127.0.0.1:${proxy.config.upstream.port}`, metrics: `127.0.0.1:${proxy.config.metrics.port}`, logLevel: 'silent' };
  const text = (rate: number | string) => stringify({ ...addresses, ...config(rate as number) });
  const file = layout(dir, text(10));
  const reloader = new ConfigReloader(file, proxy);
  reloader.start();
  t.teardown(async () => {
    reloader.stop();
    await proxy.stop();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const rate = () => (proxy.quotas.inspect('ANONYMOUS', 'app') as { requests: { quota: { ratePerSec: number } } }).requests.quota.ratePerSec;
  const followed = async (expected: number) => {
    const started = Date.now();
    while (rate() !== expected && Date.now() - started < FOLLOW_MS) await sleep(20);
    return Date.now() - started;
  };
  return { dir, text, rate, followed, proxy };
}

t.test("an editor's rename-over", async (t) => {
  const { dir, text, rate, followed, proxy } = await setup(t, (dir, text) => {
    writeFileSync(join(dir, 'proxy.yaml'), text);
    return join(dir, 'proxy.yaml');
  });
  writeFileSync(join(dir, '.proxy.yaml.swp'), text(20));
  renameSync(join(dir, '.proxy.yaml.swp'), join(dir, 'proxy.yaml'));
  const ms = await followed(20);
  t.ok(rate() === 20 && ms < FOLLOW_MS, `the new quota in force ${ms} ms after the rename`);
  writeFileSync(join(dir, 'proxy.yaml'), text('fast'));
  const failed = /^kqp_config_reload_total\{result="failure"\} 1$/m;
  const started = Date.now();
  while (!failed.test(await proxy.metrics.registry.metrics()) && Date.now() - started < FOLLOW_MS) await sleep(20);
  t.match(await proxy.metrics.registry.metrics(), failed, `a file that fails validation is counted as a failed reload (after ${Date.now() - started} ms)`);
  t.equal(rate(), 20, 'and changes nothing');
  const gauge = async (name: string) => (await proxy.metrics.registry.getSingleMetric(name)!.get()).values[0]!.value;
  const [success, failure] = [await gauge('kqp_config_last_reload_success_timestamp_seconds'), await gauge('kqp_config_last_reload_failure_timestamp_seconds')];
  t.ok(failure > success, `its time is after the last success's (${(failure - success).toFixed(3)} s): the file is not the config in force`);
  writeFileSync(join(dir, 'proxy.yaml'), text(30));
  await followed(30);
  t.ok(rate() === 30 && (await gauge('kqp_config_last_reload_success_timestamp_seconds')) > failure, 'a good file again: the last success is after the failure');
});
