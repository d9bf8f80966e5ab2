// Sidecars in front of SASL listeners log in with upstream.sasl (their own principal, SCRAM-SHA-512 here, the password
// in a file as a mounted Secret would be): their coordination client, for cluster-scoped quotas, and their own
// Metadata lookups (a DeleteTopics of a topic a sidecar has never seen is charged the partitions the broker says it
// has, not admin.defaultPartitions). Three sidecar processes relaying
// to the shared cluster's SASL_PLAINTEXT listeners read their own reports back and hear each other, and read the
// cluster's metadata (3 brokers: the static share's divisor). One started after them finds the topic made and finds it
// right. Another, with a wrong password, is refused by the broker, says so in its log, and stays uncoordinated (quota ÷
// maxSidecars, README). One in front of a PLAINTEXT listener with upstream.sasl set is told by the broker that the
// listener is not a SASL one (ILLEGAL_SASL_STATE), says so, counts it, and looks topics up without a login.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SHARED_SASL_USERS, sharedCluster, uniqueName } from '../support/shared-cluster.js';
import { startSidecarProcesses } from '../support/proxy-process.js';
import { coordination, waitCoordinated } from './cluster-quota-load.js';
import { testKafka } from '../support/kafkajs.js';
import { RawClient } from '../support/raw-client.js';
import type { ProxyProcess } from '../support/proxy-process.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import * as DeleteReq from '../../src/protocol/generated/delete-topics-request.js';
import type * as DeleteRes from '../../src/protocol/generated/delete-topics-response.js';
import { createTopicsAndWait } from '../../src/local-kafka/topics.js';

const cluster = sharedCluster();
const dir = mkdtempSync(join(tmpdir(), 'kqp-coordination-sasl-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const secret = (name: string, password: string) => {
  writeFileSync(join(dir, name), `${password}\n`, { mode: 0o600 });
  return join(dir, name);
};
const [plainUser, plainPassword] = Object.entries(SHARED_SASL_USERS.plain!)[0]!;
const DELETER = uniqueName('deleter');
/** What a sidecar charges a topic it does not know the partitions of (set apart from the topic's 7 below). */
const DEFAULT_PARTITIONS = 5;
const config = {
  quotas: [
    { clientId: uniqueName('cluster-sasl'), produceBytesPerSec: 3 * 1024 * 1024, scope: 'cluster' },
    // refills 0.001 a second: what a deletion takes stays out of the bucket for the test's length
    { user: plainUser, clientId: DELETER, partitionMutationsPerSec: 0.001, partitionMutationBurst: 1000 },
    { clientId: DELETER, partitionMutationsPerSec: 0.001, partitionMutationBurst: 1000 }, // the same for ANONYMOUS
  ],
  admin: { defaultPartitions: DEFAULT_PARTITIONS },
  coordination: { topic: uniqueName('kqp-coordination-sasl') },
};
const bobLogin = (passwordFile: string) => ({ mechanism: 'SCRAM-SHA-512', username: 'bob', passwordFile });
const good = { upstreamSasl: bobLogin(secret('bob', SHARED_SASL_USERS.scramSha512!.bob!)) };
const sidecars = await startSidecarProcesses(cluster.nodes, config, 'saslPort', good);
t.teardown(() => Promise.all(sidecars.map((s) => s.stop())));

t.test('with its own SASL login, the coordination client coordinates through SASL listeners', async (t) => {
  const started = Date.now();
  await waitCoordinated(sidecars);
  const states = await Promise.all(sidecars.map(coordination));
  t.ok(states.every((c) => c?.mode === 'coordinated' && c.liveSidecars === 3 && c.brokers === 3),
    `coordinated ${Date.now() - started} ms after start: ${states.map((c) => `${c?.mode}, ${c?.liveSidecars} live, ${c?.brokers} brokers`).join('; ')}`);
  const modes = await Promise.all(sidecars.map((s) => s.metric('kqp_coordination_mode{mode="coordinated"}')));
  t.same(modes, [1, 1, 1], 'kqp_coordination_mode says so');
  const live = await Promise.all(sidecars.map((s) => s.metric('kqp_coordination_sidecars{state="live"}')));
  t.same(live, [3, 3, 3], 'kqp_coordination_sidecars: three live');
});

/**
 * Deletes `topic` through one sidecar with a DeleteTopics of a connection of its own (logged in with PLAIN when `login`
 * is given), no Metadata relayed first: the sidecar cannot have learnt the topic's partitions from what it relayed
 * (kafkajs asks for every topic's metadata), so it must ask its broker. Returns the partitions the tenant was charged.
 */
async function chargedDeleting(sidecar: ProxyProcess, user: string, login?: string): Promise<number> {
  const topic = uniqueName('lookup');
  const direct = testKafka(cluster.bootstrap).admin();
  await direct.connect();
  try {
    await createTopicsAndWait(direct, [{ topic, numPartitions: 7 }]);
  } finally {
    await direct.disconnect();
  }
  const tokens = async () => ((await sidecar.quota(user, DELETER)) as { partitionMutations: { bucket: { tokens: number } } }).partitionMutations.bucket.tokens;
  const client = await RawClient.open(Number(sidecar.bootstrap.split(':')[1]));
  client.clientId = DELETER;
  try {
    if (login !== undefined) {
      await client.response(client.send(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN' }));
      const auth = await client.response(client.send(ApiKey.SaslAuthenticate, 2, { authBytes: Buffer.from(`\0${user}\0${login}`), unknownTaggedFields: undefined }));
      if (auth.readInt16BE(9) !== 0) throw new Error(`the client's own login was refused: error ${auth.readInt16BE(9)}`);
    }
    const before = await tokens();
    const request = { ...DeleteReq.defaultDeleteTopicsRequest(), topics: [{ ...DeleteReq.defaultDeleteTopicState(), name: topic }], timeoutMs: 30_000 };
    const res = decodeResponseFrame((await client.response(client.send(ApiKey.DeleteTopics, 6, request), 30_000)).subarray(4), ApiKey.DeleteTopics, 6).body as DeleteRes.DeleteTopicsResponse;
    if (res.responses[0]?.errorCode !== 0) throw new Error(`DeleteTopics: error ${res.responses[0]?.errorCode}`);
    return before - (await tokens());
  } finally {
    client.close();
  }
}

t.test("a DeleteTopics of a topic the sidecar never saw is charged its partitions: its own lookup logs in", async (t) => {
  for (const sidecar of sidecars) {
    const charged = await chargedDeleting(sidecar, plainUser, plainPassword);
    t.ok(Math.abs(charged - 7) < 0.1, `through ${sidecar.bootstrap}: charged ${charged.toFixed(3)} partitions (the topic's 7; ${DEFAULT_PARTITIONS} would be the default)`);
  }
  const refused = sidecars.flatMap((s) => readFileSync(s.logFile, 'utf8').split('\n').filter((l) => l.includes('upstream-login-refused')));
  t.same(refused, [], 'no sidecar says its own login was refused');
});

t.test("upstream.sasl in front of a listener that is not a SASL one: the broker says so, and lookups go on without a login", async (t) => {
  const [plain] = await startSidecarProcesses(cluster.nodes.slice(0, 1), { ...config, coordination: { ...config.coordination, topic: uniqueName('kqp-coordination-plain') } }, 'port', good);
  t.teardown(() => plain!.stop());
  const charged = await chargedDeleting(plain!, 'ANONYMOUS');
  t.ok(Math.abs(charged - 7) < 0.1, `charged ${charged.toFixed(3)} partitions (the topic's 7; ${DEFAULT_PARTITIONS} would be the default)`);
  // the sidecar's log reaches its file after the response: waited for
  const logged = () => readFileSync(plain!.logFile, 'utf8').split('\n').filter((l) => l.includes('upstream-login-refused'));
  for (const deadline = Date.now() + 10_000; logged().length === 0 && Date.now() < deadline;) await sleep(100);
  t.match(logged()[0], /ILLEGAL_SASL_STATE/, 'it says the listener is not a SASL one');
  t.equal(await plain!.metric('kqp_upstream_errors_total{kind="login"}'), 1, 'and counts it');
});

t.test('a sidecar that finds the topic made already checks it (one partition, compacted) and says nothing of it', async (t) => {
  // in front of the first broker too: an id of its own (the default, host and upstream, is the first sidecar's)
  const [late] = await startSidecarProcesses(cluster.nodes.slice(0, 1), { ...config, coordination: { ...config.coordination, sidecarId: 'late' } }, 'saslPort', good);
  t.teardown(() => late!.stop());
  const heard = async () => {
    const c = await coordination(late!);
    return c?.mode === 'coordinated' && c.liveSidecars === 4;
  };
  for (const deadline = Date.now() + 60_000; !(await heard()) && Date.now() < deadline;) await sleep(250);
  const state = await coordination(late!);
  t.ok(state?.mode === 'coordinated' && state.liveSidecars === 4 && state.sidecarIdCollisions === 0, `it coordinates, hearing the three others: ${JSON.stringify(state)}`);
  const warned = [...sidecars, late!].flatMap((s) => readFileSync(s.logFile, 'utf8').split('\n').filter((l) => l.includes('coordination-topic')));
  t.same(warned, [], 'no sidecar warned about the topic');
});

t.test('a wrong password: refused by the broker, said in the log, not coordinated', async (t) => {
  const [wrong] = await startSidecarProcesses(cluster.nodes.slice(0, 1), config, 'saslPort', { upstreamSasl: bobLogin(secret('wrong', 'not-bob-secret')) });
  t.teardown(() => wrong!.stop());
  const deadline = Date.now() + 30_000;
  let log = '';
  while (!/coordination-start[^\n]*[Aa]uthentication failed/.test(log) && Date.now() < deadline) {
    await sleep(250);
    log = readFileSync(wrong!.logFile, 'utf8');
  }
  const line = log.split('\n').find((l) => l.includes('coordination-start'));
  t.match(line, /[Aa]uthentication failed/, `its log: ${line}`);
  const state = await coordination(wrong!);
  t.not(state?.mode, 'coordinated', `its coordination: ${JSON.stringify(state)}`);
  t.equal(state?.brokers, 16, 'without the metadata, the static share divides by maxSidecars');
  t.equal(await wrong!.metric('kqp_coordination_mode{mode="coordinated"}'), 0, 'kqp_coordination_mode: not coordinated');
});
