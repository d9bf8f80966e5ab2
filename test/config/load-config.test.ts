// The config file: defaults, and errors that name the field and what is wrong.
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { configFromObject, loadConfig, ConfigError } from '../../src/config/load-config.js';

function errorOf(raw: unknown): string {
  try {
    configFromObject(raw);
  } catch (e) {
    t.type(e, ConfigError);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

t.test('the shipped config/proxy.yaml is valid', async (t) => {
  const c = loadConfig('config/proxy.yaml');
  t.match(c, { listen: { host: '0.0.0.0', port: 9092 }, advertise: { mode: 'pattern' }, limits: { maxFrameBytes: 104857600 } });
});

t.test('defaults fill in everything but listen and upstream', async (t) => {
  const c = configFromObject({ listen: '127.0.0.1:9092', upstream: 'broker:19092' });
  t.same(c.limits, { maxFrameBytes: 104857600, maxConnections: 10000, idleTimeoutMs: 600000, maxInFlightPerConnection: 1000, maxRewriteFrameBytes: 16777216, shutdownGraceMs: 10000 });
  t.same(c.advertise, { mode: 'none' });
  t.same(c.connections, {
    maxPerIp: 2000, maxPerIpOverrides: new Map(), creationRatePerIp: 500, creationBurstPerIp: 1000, maxWaiting: 1000, maxPerPrincipal: 5000, rateTableCapacity: 10000,
  });
  t.same(c.brokerBudget, { groupJoins: undefined }, 'no broker-wide budget unless set');
  t.same(configFromObject({ listen: 'a:1', upstream: 'b:1', brokerBudget: { groupJoinsPerSec: 0.5 } }).brokerBudget, { groupJoins: { rate: 0.5, burst: 1 } }, 'a burst of at least one join');
  t.same(c.upstream, { host: 'broker', port: 19092 });
  t.same(configFromObject({ listen: '[::1]:9092', upstream: 'b:1' }).listen, { host: '::1', port: 9092 }, 'IPv6');
});

t.test('errors name the field and what is wrong', async (t) => {
  t.match(errorOf({ upstream: 'b:1' }), /listen: is required/);
  t.match(errorOf({ listen: 'nope', upstream: 'b:1' }), /listen: must be host:port/);
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', limits: { maxFrameBytes: 10 } }), /limits\.maxFrameBytes: must be >= 1024/);
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', limits: { maxConections: 5 } }), /limits\.maxConections: unknown setting/);
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', logLevel: 'loud' }), /logLevel: must be one of fatal, error/);
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', advertise: { mode: 'map' } }), /advertise\.map: is required when advertise\.mode is map/);
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', advertise: { mode: 'pattern', pattern: 'no-node-id:9092' } }), /advertise\.pattern: must match pattern/);
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', advertise: { mode: 'map', map: { x: 'a:1' } } }), /advertise\.map/);
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', connections: { maxPerIpOverrides: { '10.0.0.0': 5 } } }), /connections\.maxPerIpOverrides: property name must be valid/);
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', connections: { maxPerIp: 0 } }), /connections\.maxPerIp: must be >= 1/);
  // CIDRs the schema's pattern lets through, which an address list refuses: an error here, not an exception at start or reload
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', connections: { maxPerIpOverrides: { '10.1/16': 5 } } }),
    /connections\.maxPerIpOverrides: 10\.1\/16: not an IPv4 or IPv6 address/);
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', tenants: { user: 'address', addresses: { a: ['10.0.0.0/8', '10.0.0.0/33', 'fd00::/129'] } } }),
    /tenants\.addresses\.a: 10\.0\.0\.0\/33: prefix length must be 0-32\n {2}tenants\.addresses\.a: fd00::\/129: prefix length must be 0-128/);
  t.same([...configFromObject({ listen: 'a:1', upstream: 'b:1', connections: { maxPerIpOverrides: { '10.0.0.0/8': 5, 'fd00::/8': 6, '0.0.0.0/0': 7 } } })
    .connections.maxPerIpOverrides.keys()], ['10.0.0.0/8', 'fd00::/8', '0.0.0.0/0'], 'good ones pass');
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', quotaTable: { maxKeyLength: 16 } }), /quotaTable\.maxKeyLength: must be >= 32/);
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', coordination: { floorShare: 0 } }), /coordination\.floorShare: must be > 0/);
  t.match(errorOf({ listen: 'a:1', upstream: 'b:1', brokerBudget: { groupJoinBurst: 5 } }), /brokerBudget\.groupJoinBurst: needs groupJoinsPerSec/);
  const several = errorOf({ listen: 1, upstream: 'b:1', limits: { idleTimeoutMs: -1 } });
  t.match(several, /listen: must be host:port, or \{address: host:port, tls: \{...\}\}/);
  t.match(several, /limits\.idleTimeoutMs: must be >= 1000/, 'all errors at once');
});

t.test('a file that is missing or not YAML', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kqp-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.throws(() => loadConfig(join(dir, 'missing.yaml')), /cannot read config file/);
  writeFileSync(join(dir, 'bad.yaml'), 'listen: [unclosed');
  t.throws(() => loadConfig(join(dir, 'bad.yaml')), /is not valid YAML/);
});

t.test('an error in a file names the line of each setting it is about (keys with dots in them, list entries)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kqp-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.yaml');
  writeFileSync(file, [
    'listen: 127.0.0.1:9092', 'upstream: 127.0.0.1:19092', 'connections:', '  maxPerIpOverrides:', '    10.0.0.0/8: -5',
    'quotas:', '  - clientId: a', '    produceBytesPerSec: 1000', '  - clientId: b', '    produceBytesPerSec: -1', 'logLevel: loud',
  ].join('\n'));
  const err = t.throws(() => loadConfig(file)) as Error;
  t.match(err.message, /connections\.maxPerIpOverrides\.10\.0\.0\.0\/8 \(line 5\): must be >= 1/, 'a network\'s key, dots and all');
  t.match(err.message, /quotas\.1\.produceBytesPerSec \(line 10\): must be > 0/, 'the second quota entry\'s rate');
  t.match(err.message, /logLevel \(line 11\): must be one of/, 'a top-level setting');
  writeFileSync(file, ['listen: 127.0.0.1:9092', 'upstream: 127.0.0.1:19092', 'quotas:', '  - clientId: a', '  - user: b'].join('\n'));
  t.match((t.throws(() => loadConfig(file)) as Error).message, /quotas\.0 \(line 4\): sets no quota/, 'an entry without a rate: its own line');
  writeFileSync(file, 'upstream: 127.0.0.1:19092\n');
  t.match((t.throws(() => loadConfig(file)) as Error).message, /\n {2}listen: is required/, 'a missing setting: no line to name');
});

t.test('the sample configs name config/proxy.schema.json, and it validates them as an editor would', async (t) => {
  const schema = JSON.parse(readFileSync('config/proxy.schema.json', 'utf8')) as Record<string, unknown>;
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  for (const file of readdirSync('config').filter((f) => f.endsWith('.yaml'))) {
    const text = readFileSync(join('config', file), 'utf8');
    t.match(text.split('\n')[0], /^# yaml-language-server: \$schema=\.\/proxy\.schema\.json$/, `${file} names the schema on its first line`);
    t.ok(validate(parseYaml(text)), `${file} is valid against the schema: ${JSON.stringify(validate.errors)}`);
    t.doesNotThrow(() => loadConfig(join('config', file)), `${file} loads`);
  }
  t.notOk(validate({ listen: '127.0.0.1:9092', upstream: '127.0.0.1:9093', quotas: [{ clientId: 'a', produceBytesPerSecc: 1 }] }), 'a typo is an error to an editor too');
});

t.test("upstream.sasl: the sidecar's own login (its lookups', its coordination client's), its password read from a file or the environment", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kqp-sasl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const base = { listen: 'a:1' };
  const withSasl = (sasl: Record<string, unknown>) => ({ ...base, upstream: { address: 'b:1', sasl } });
  const file = join(dir, 'password');
  writeFileSync(file, 'bob-secret\n');
  const fromFile = configFromObject(withSasl({ mechanism: 'SCRAM-SHA-512', username: 'bob', passwordFile: file }));
  t.same(fromFile.upstream.sasl, { mechanism: 'SCRAM-SHA-512', username: 'bob', password: 'bob-secret' }, 'a Secret mounted as a file: its trailing newline dropped');
  t.same(fromFile.coordination.sasl, { mechanism: 'scram-sha-512', username: 'bob', password: 'bob-secret' }, "the coordination client's, in kafkajs' terms");
  process.env.KQP_TEST_UPSTREAM_PASSWORD = 'alice-secret';
  t.teardown(() => delete process.env.KQP_TEST_UPSTREAM_PASSWORD);
  t.same(configFromObject(withSasl({ mechanism: 'PLAIN', username: 'alice', passwordEnv: 'KQP_TEST_UPSTREAM_PASSWORD' })).upstream.sasl,
    { mechanism: 'PLAIN', username: 'alice', password: 'alice-secret' }, 'from the environment');
  const none = configFromObject({ ...base, upstream: 'b:1' });
  t.ok(none.upstream.sasl === undefined && none.coordination.sasl === undefined, 'none by default');
  const sasl = (s: Record<string, unknown>) => errorOf(withSasl({ mechanism: 'PLAIN', username: 'alice', ...s }));
  t.match(sasl({}), /upstream\.sasl\.passwordFile: give exactly one of passwordFile and passwordEnv/);
  t.match(sasl({ passwordFile: file, passwordEnv: 'KQP_TEST_UPSTREAM_PASSWORD' }), /give exactly one/);
  t.match(sasl({ passwordFile: join(dir, 'missing') }), /upstream\.sasl\.passwordFile: cannot read .*missing: ENOENT/);
  t.match(sasl({ passwordEnv: 'KQP_TEST_NO_SUCH_VARIABLE' }), /upstream\.sasl\.passwordEnv: the password in \$KQP_TEST_NO_SUCH_VARIABLE is empty or missing/);
  writeFileSync(file, '\n');
  t.match(sasl({ passwordFile: file }), /upstream\.sasl\.passwordFile: the password in .* is empty or missing/);
  writeFileSync(file, 'x'.repeat(5000));
  t.match(sasl({ passwordFile: file }), /holds 5000 bytes, more than a password \(4096 at most\)/);
  t.match(errorOf(withSasl({ mechanism: 'GSSAPI', username: 'a', passwordFile: file })), /upstream\.sasl\.mechanism: must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512/);
  t.match(errorOf(withSasl({ mechanism: 'PLAIN', username: 'a', password: 'inline' })), /upstream\.sasl\.password: unknown setting/);
  t.match(errorOf({ ...base, upstream: 'b:1', coordination: { sasl: { mechanism: 'PLAIN', username: 'a', passwordFile: file } } }), /coordination\.sasl: unknown setting \(now upstream\.sasl/,
    'the old place of the login is refused, not ignored');
});

t.test('mistakes a file can hold that would be read other than as written', async (t) => {
  const base = { listen: 'a:1', upstream: 'b:1' };
  // one kind set twice for one entity: one of them would win silently (Kafka keeps one value per quota key)
  t.match(errorOf({ ...base, quotas: [{ user: 'a', produceBytesPerSec: 100, fetchBytesPerSec: 200 }, { clientId: 'c', requestsPerSec: 5 }, { user: 'a', produceBytesPerSec: 1e6, mode: 'shadow' }] }),
    /quotas\.2\.produceBytesPerSec: set for the same entity in quotas\.0 \(user=a\): one of them would go unused/);
  t.match(errorOf({ ...base, quotas: [{ user: 'a', clientId: '<default>', requestsPerSec: 1 }, { user: 'a', clientId: '<default>', requestsPerSec: 2 }] }),
    /quotas\.1\.requestsPerSec: set for the same entity in quotas\.0 \(user=a, clientId=<default>\)/);
  // other kinds for one entity in a second entry, with a mode or scope of their own: as the README's roll-out does
  t.equal(configFromObject({ ...base, quotas: [{ user: 'alice', produceBytesPerSec: 100 }, { user: 'alice', fetchBytesPerSec: 200, mode: 'shadow' }, { user: 'alice', requestsPerSec: 9, scope: 'cluster' }] }).quotas.length, 3,
    'one entity, three kinds in three entries');
  t.equal(configFromObject({ ...base, quotas: [{ user: 'a', requestsPerSec: 1 }, { user: 'a', clientId: 'a', requestsPerSec: 1 }, { clientId: 'a', requestsPerSec: 1 }] }).quotas.length, 3,
    'user a, (user a, client a) and client a are three entities');
  // host bits set: 10.1.2.0/8 (a typo for /24) would mean all of 10/8
  t.match(errorOf({ ...base, tenants: { user: 'address', addresses: { a: ['10.1.2.0/8'] } } }),
    /tenants\.addresses\.a: 10\.1\.2\.0\/8: host bits set \(the network of \/8 is 10\.0\.0\.0\/8\)/);
  t.match(errorOf({ ...base, connections: { maxPerIpOverrides: { 'fd01::/8': 5 } } }), /connections\.maxPerIpOverrides: fd01::\/8: host bits set/);
  // one network under two tenants (or twice among the overrides, however written): which wins is not what the file says
  t.match(errorOf({ ...base, tenants: { user: 'address', addresses: { a: ['10.0.0.0/8'], b: ['192.168.0.0/16', '10.0.0.0/8'] } } }),
    /tenants\.addresses\.b: 10\.0\.0\.0\/8 is named in tenants\.addresses\.a too/);
  t.match(errorOf({ ...base, connections: { maxPerIpOverrides: { 'fd00::/8': 5, 'FD00:0::/8': 6 } } }), /FD00:0::\/8 is named in connections\.maxPerIpOverrides too/);
  // addresses that would do nothing
  t.match(errorOf({ ...base, tenants: { addresses: { a: ['10.0.0.0/8'] } } }), /tenants\.addresses: applies only when tenants\.user is address \(it is sasl\)/);
  t.match(errorOf({ ...base, tenants: { user: 'address', addresses: {} } }), /tenants\.addresses: is required \(at least one network\)/);
  // a (?<tenant> that is no group (escaped) is refused; a real one inside other syntax is taken
  t.match(errorOf({ ...base, tenants: { clientIdPattern: '\\(?<tenant>x\\)' } }), /tenants\.clientIdPattern: must have a named group/);
  t.ok(configFromObject({ ...base, tenants: { clientIdPattern: '^(?:svc-)?(?<tenant>[a-z]+)-' } }).tenants.clientIdPattern);
  // Node's timers fire after 1 ms for a delay past 2^31-1 ms
  t.match(errorOf({ ...base, admin: { maxWaitMs: 3e9 } }), /admin\.maxWaitMs: must be <= 2147483647/);
  t.match(errorOf({ ...base, limits: { idleTimeoutMs: 2 ** 31 } }), /limits\.idleTimeoutMs: must be <= 2147483647/);
  // a key holding / is named as written (JSON pointers write it ~1)
  t.match(errorOf({ ...base, connections: { maxPerIpOverrides: { '10.20.0.0/16': 'many' } } }), /connections\.maxPerIpOverrides\.10\.20\.0\.0\/16: must be integer/);
});

t.test('a config file larger than any config is refused, not read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kqp-big-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.yaml');
  writeFileSync(file, `listen: a:1\nupstream: b:1\n#${'x'.repeat(16 * 1024 * 1024)}\n`);
  t.throws(() => loadConfig(file), /cannot read config file .*: it holds 16777244 bytes, more than a config file may \(16777216\)/);
});
