// `kafka-quota-proxy --check-config FILE [--explain USER:CLIENT-ID ...]`, run as a CI pipeline would: exit 0 and the
// quota of each kind that applies to each pair with its precedence level, or exit 2 and the field's error.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
// The CLI beside this file: src/cli.js when the tests run as JavaScript (test/transpile.ts), src/cli.ts under tsx.
const self = fileURLToPath(import.meta.url);
const cli = [...(self.endsWith('.ts') ? ['--import=tsx'] : []), join(dirname(self), '../../src', `cli${extname(self)}`)];
// tap's process tracking (its --import, in NODE_OPTIONS) is of no use in the CLI and would add half a CPU-second to each
const env = { ...process.env, NODE_OPTIONS: '' };
const dir = mkdtempSync(join(tmpdir(), 'kqp-check-config-'));
t.jobs = 4; // each subtest waits on CLI processes of its own
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function checkConfig(text: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  try {
    const { stdout, stderr } = await run(process.execPath, [...cli, '--check-config', file, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const CONFIG = `listen: 127.0.0.1:9092
upstream: 127.0.0.1:9093
tenants: { user: sasl, clientIdPattern: '^(?<tenant>[a-z]+)-' }
quotas:
  - { clientId: '<default>', produceBytesPerSec: 1000 }
  - { user: alice, requestsPerSec: 5 }
  - { user: alice, clientId: etl, requestsPerSec: 50, requestBurst: 100 }
  - { user: '<default>', clientId: storm, partitionMutationsPerSec: 10 }
`;

t.test('a valid file: each kind of quota for each pair, with its precedence level', async (t) => {
  const r = await checkConfig(CONFIG, '--explain', 'alice:storm-admin', '--explain', 'alice:etl-7', '--explain', ':web-1');
  t.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  t.match(out, /: valid\n/);
  t.match(out, /user "alice", client id "storm-admin" \(client-id entity "storm", from tenants.clientIdPattern\)\n/);
  // alice with storm-*: her user quota for requests (level 3) and the <default>-user quota on storm (level 4)
  t.match(out, /storm-admin[^]*?requests: 5 requests\/s, burst 5, from the quota on user=alice \(level 3 of 8: user\)/);
  t.match(out, /storm-admin[^]*?partitionMutations: 10 partitions\/s, burst 10, from the quota on user=<default>,client-id=storm \(level 4 of 8/);
  t.match(out, /storm-admin[^]*?produce: 1000 bytes\/s, burst 1000, from the quota on client-id=<default> \(level 8 of 8/);
  t.match(out, /storm-admin[^]*?fetch: none/);
  // alice with etl-*: the (user, client id) entry wins over her user entry (level 1)
  t.match(out, /etl-7[^]*?requests: 50 requests\/s, burst 100, from the quota on user=alice,client-id=etl \(level 1 of 8/);
  // an unauthenticated client: ANONYMOUS, only the <default> client-id quota
  t.match(out, /user "ANONYMOUS", client id "web-1"[^]*?requests: none[^]*?partitionMutations: none/);
});

t.test('with tenants.user none, every connection is ANONYMOUS to the quotas, and the explanation says so', async (t) => {
  const r = await checkConfig(CONFIG.replace('user: sasl', 'user: none'), '--explain', 'alice:etl-7');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /tenants.user is none: the proxy sees this connection's user as ANONYMOUS/);
  t.match(r.stdout, /requests: none/, "alice's quotas do not apply");
});

t.test('an invalid file: exit 2, and the error names the field', async (t) => {
  const [r, missing, notYaml] = await Promise.all([
    checkConfig(CONFIG.replace('requestsPerSec: 5', 'requestsPerSecc: 5')),
    checkConfig('listen: 127.0.0.1:9092\n'),
    checkConfig('listen: [\n'),
  ]);
  t.equal(r.code, 2);
  t.match(r.stderr, /quotas\.1\.requestsPerSecc \(line \d+\): unknown setting/, 'the field and its line');
  t.equal(r.stdout, '');
  t.equal(missing.code, 2);
  t.match(missing.stderr, /upstream: is required/);
  t.equal(notYaml.code, 2);
  t.match(notYaml.stderr, /is not valid YAML/);
});

t.test('a malformed --explain pair: exit 2 with the usage', async (t) => {
  const r = await checkConfig(CONFIG, '--explain', 'alice');
  t.equal(r.code, 2);
  t.match(r.stderr, /--explain alice: expected USER:CLIENT-ID/);
});
