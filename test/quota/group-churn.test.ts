// Consumer-group churn (groupJoinsPerSec), against an in-process fake broker: members joining (JoinGroup with no member
// id, a KIP-848 heartbeat with member epoch 0) and groups deleted are charged; rejoins and steady heartbeats are not;
// over the quota the tenant is throttled as for any kind (the request forwarded, throttle_time_ms on its response, the
// client not read meanwhile), and no JoinGroup is ever held back (they wait for rebalances at the coordinator).
import t, { type Test } from 'tap';
import { Writer } from '../../src/protocol/writer.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import * as JoinReq from '../../src/protocol/generated/join-group-request.js';
import * as JoinRes from '../../src/protocol/generated/join-group-response.js';
import * as HeartbeatReq from '../../src/protocol/generated/consumer-group-heartbeat-request.js';
import * as HeartbeatRes from '../../src/protocol/generated/consumer-group-heartbeat-response.js';
import * as DeleteRes from '../../src/protocol/generated/delete-groups-response.js';
import { FakeBroker, apiKeyOf, correlationOf, responseFrame, proxyBefore, type Script } from '../support/fake-broker.js';
import { RawClient, encodeRequest } from '../support/raw-client.js';

const encode = (f: (w: Writer) => void) => {
  const w = new Writer();
  f(w);
  return Buffer.from(w.finish());
};

const answer: Script = (frame) => {
  const id = correlationOf(frame);
  const v = frame.readInt16BE(6);
  switch (apiKeyOf(frame)) {
    case ApiKey.JoinGroup:
      return [responseFrame(id, encode((w) => JoinRes.encodeJoinGroupResponse(w, v, JoinRes.defaultJoinGroupResponse())), v >= 6)];
    case ApiKey.ConsumerGroupHeartbeat:
      return [responseFrame(id, encode((w) => HeartbeatRes.encodeConsumerGroupHeartbeatResponse(w, v, HeartbeatRes.defaultConsumerGroupHeartbeatResponse())), true)];
    case ApiKey.DeleteGroups:
      return [responseFrame(id, encode((w) => DeleteRes.encodeDeleteGroupsResponse(w, v, { ...DeleteRes.defaultDeleteGroupsResponse(), results: [] })), v >= 2)];
    default:
      return undefined;
  }
};

// two joins a second, two at once (buckets start full here)
async function setup(t: Test) {
  // when each request reached the broker
  const arrivals: { key: number; at: number }[] = [];
  const b = new FakeBroker((frame, socket) => {
    arrivals.push({ key: apiKeyOf(frame), at: performance.now() });
    return answer(frame, socket);
  });
  const { proxy, port } = await proxyBefore(b, { quotas: [{ clientId: 'raw-client', groupJoinsPerSec: 2, groupJoinBurst: 2 }], quotaTable: { newBucketShare: 1 } });
  const client = await RawClient.open(port);
  t.teardown(async () => {
    client.close();
    await proxy.stop();
    await b.close();
  });
  return { client, proxy, arrivals };
}

const join = (memberId: string) => ({ ...JoinReq.defaultJoinGroupRequest(), groupId: 'g', sessionTimeoutMs: 45_000, rebalanceTimeoutMs: 300_000, memberId, protocolType: 'consumer' });
const heartbeat = (memberEpoch: number) => ({ ...HeartbeatReq.defaultConsumerGroupHeartbeatRequest(), groupId: 'g', memberId: 'm', memberEpoch });
const throttleOf = (frame: Buffer, key: number, v: number) => (decodeResponseFrame(frame.subarray(4), key, v).body as { throttleTimeMs: number }).throttleTimeMs;
// the proxy's timers may fire up to this much early against performance.now() (libuv's cached loop time)
const TIMER_EARLY_MS = 50;

t.test('new members joining are charged: the third of three joins at once is throttled, yet forwarded at once', async (t) => {
  const { client, arrivals, proxy } = await setup(t);
  const sentAt = performance.now();
  client.socket.write(Buffer.concat([1, 2, 3].map((id) => encodeRequest(ApiKey.JoinGroup, 7, id, join('')))));
  const third = await client.response(3, 10_000);
  const elapsed = performance.now() - sentAt;
  t.equal(arrivals.filter((a) => a.key === ApiKey.JoinGroup).length, 3, 'all three reached the broker (none held)');
  // one join over a 2-join burst at 2 joins/s owes 500 ms, less what refilled between the charges (within `elapsed`)
  const ms = throttleOf(third, ApiKey.JoinGroup, 7);
  t.ok(ms >= 500 - elapsed - 1 && ms <= 500, `the third carries throttle_time_ms ${ms} (500 ms owed, answered within ${elapsed.toFixed(0)} ms)`);
  client.socket.write(encodeRequest(ApiKey.ConsumerGroupHeartbeat, 0, 4, heartbeat(3)));
  await client.response(4, 10_000);
  const next = arrivals.find((a) => a.key === ApiKey.ConsumerGroupHeartbeat)!;
  t.ok(next.at - sentAt >= ms - TIMER_EARLY_MS, `the client was not read meanwhile: its next request reached the broker after ${(next.at - sentAt).toFixed(0)} ms`);
  const q = proxy.quotas.inspect('ANONYMOUS', 'raw-client') as { groupJoins: { quota: { ratePerSec: number } } };
  t.equal(q.groupJoins.quota.ratePerSec, 2, '/quota shows the groupJoins quota');
});

t.test('rejoins with a member id and heartbeats of members already in are not charged', async (t) => {
  const { client } = await setup(t);
  client.socket.write(Buffer.concat([
    ...[1, 2, 3, 4].map((id) => encodeRequest(ApiKey.JoinGroup, 9, id, join(`member-${id}`))),
    ...[5, 6, 7, 8].map((id) => encodeRequest(ApiKey.ConsumerGroupHeartbeat, 1, id, heartbeat(7))),
  ]));
  const last = await client.response(8, 10_000);
  const joins = await Promise.all([1, 2, 3, 4].map((id) => client.response(id)));
  t.same(joins.map((f) => throttleOf(f, ApiKey.JoinGroup, 9)), [0, 0, 0, 0], 'no rejoin throttled');
  t.equal(throttleOf(last, ApiKey.ConsumerGroupHeartbeat, 1), 0, 'no heartbeat throttled');
});

t.test('heartbeats with member epoch 0 (KIP-848 joins) and deleted groups are charged', async (t) => {
  const { client } = await setup(t);
  const sentAt = performance.now();
  client.socket.write(Buffer.concat([
    encodeRequest(ApiKey.ConsumerGroupHeartbeat, 1, 1, heartbeat(0)),
    encodeRequest(ApiKey.ConsumerGroupHeartbeat, 1, 2, heartbeat(0)),
  ]));
  t.equal(throttleOf(await client.response(2, 10_000), ApiKey.ConsumerGroupHeartbeat, 1), 0, 'two joins: within the burst');
  // three groups deleted: the bucket, empty now, owes 3 joins
  client.socket.write(encodeRequest(ApiKey.DeleteGroups, 2, 3, { groupsNames: ['a', 'b', 'c'], unknownTaggedFields: undefined }));
  const r = await client.response(3, 10_000);
  const elapsed = performance.now() - sentAt;
  // 1500 ms owed, less what refilled since the joins were charged (2 joins/s, within `elapsed`: 1 ms per ms)
  const ms = throttleOf(r, ApiKey.DeleteGroups, 2);
  t.ok(ms >= 1500 - elapsed - 1 && ms <= 1500, `DeleteGroups of three groups carries throttle_time_ms ${ms} (answered within ${elapsed.toFixed(0)} ms)`);
});

t.test('a join is throttled 30 s at most, below the consumers\' session timeout (its debt no deeper)', async (t) => {
  // 70 members of one tenant joining at once (KIP-848 heartbeats, member epoch 0, a connection each) at two joins a
  // second: the last ones owe 34 s, longer than a member may go without a heartbeat (45 s less its wait for a response)
  const { client, proxy } = await setup(t);
  const others = await Promise.all(Array.from({ length: 69 }, () => RawClient.open(proxy.address().port)));
  t.teardown(() => others.forEach((c) => c.close()));
  const throttles = await Promise.all([client, ...others].map(async (c) => throttleOf(await c.response(c.send(ApiKey.ConsumerGroupHeartbeat, 0, heartbeat(0)), 20_000), ApiKey.ConsumerGroupHeartbeat, 0)));
  const most = Math.max(...throttles);
  t.equal(most, 30_000, `the longest throttle: ${most} ms`);
  t.ok(throttles.filter((ms) => ms === 30_000).length >= 2, 'more than one member got it (the debt was floored, not cleared)');
});
