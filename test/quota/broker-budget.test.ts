// The broker-wide group-join budget (brokerBudget.groupJoinsPerSec), against an in-process fake broker: joins from
// many tenants together are paid before forwarding, so over the budget a join waits, unforwarded, for its turn
// (whoever sent it, with or without quotas of its own); rejoins pass at once; the waits are counted.
import t from 'tap';
import { Writer } from '../../src/protocol/writer.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import * as JoinReq from '../../src/protocol/generated/join-group-request.js';
import * as JoinRes from '../../src/protocol/generated/join-group-response.js';
import { FakeBroker, apiKeyOf, correlationOf, responseFrame, proxyBefore } from '../support/fake-broker.js';
import { RawClient, encodeRequest } from '../support/raw-client.js';

// the proxy's timers may fire up to this much early against performance.now() (libuv's cached loop time)
const TIMER_EARLY_MS = 50;

/** A JoinGroup answered at once, in the version asked. */
function answerJoin(frame: Buffer): Buffer[] {
  const v = frame.readInt16BE(6);
  const w = new Writer();
  JoinRes.encodeJoinGroupResponse(w, v, JoinRes.defaultJoinGroupResponse());
  return [responseFrame(correlationOf(frame), Buffer.from(w.finish()), v >= 6)];
}

const join = (memberId: string) => ({ ...JoinReq.defaultJoinGroupRequest(), groupId: 'g', sessionTimeoutMs: 45_000, rebalanceTimeoutMs: 300_000, memberId, protocolType: 'consumer' });

t.test('joins from three tenants at once, over a budget of two at once and one every 2 s: the third waits its turn', async (t) => {
  const arrivals: { clientId: string; at: number }[] = [];
  const broker = new FakeBroker((frame) => {
    if (apiKeyOf(frame) !== ApiKey.JoinGroup) return undefined;
    arrivals.push({ clientId: frame.toString('latin1', 14, 14 + frame.readInt16BE(12)), at: performance.now() });
    return answerJoin(frame);
  });
  // one join every 2 s: however far apart a loaded machine reads the three (under 2 s), one of them waits, and it
  // reaches the broker 2 s after the one before it (a join every 500 ms failed a run of the unit phase)
  const { proxy, port } = await proxyBefore(broker, { brokerBudget: { groupJoinsPerSec: 0.5, groupJoinBurst: 2 } });
  const clients = await Promise.all(['tenant-a', 'tenant-b', 'tenant-c', 'tenant-d'].map(() => RawClient.open(port)));
  t.teardown(async () => {
    for (const c of clients) c.close();
    await proxy.stop();
    await broker.close();
  });

  const sentAt = performance.now();
  ['tenant-a', 'tenant-b', 'tenant-c'].forEach((id, i) => clients[i]!.socket.write(encodeRequest(ApiKey.JoinGroup, 5, 1, join(''), id)));
  await Promise.all(clients.slice(0, 3).map((c) => c.response(1, 10_000)));
  const waits = async () =>
    Number((await proxy.metrics.registry.getSingleMetricAsString('kqp_broker_budget_waits_total')).split('\n').find((l) => l.includes('budget="groupJoins"'))?.split(' ').pop() ?? 0);
  const times = ['tenant-a', 'tenant-b', 'tenant-c'].map((id) => arrivals.find((a) => a.clientId === id)!.at - sentAt).sort((x, y) => x - y);
  t.equal(await waits(), 1, `one join waited (kqp_broker_budget_waits_total{budget="groupJoins"}); they reached the broker after ${times.map((x) => x.toFixed(0)).join(', ')} ms`);
  t.ok(times[2]! >= 2000 - TIMER_EARLY_MS, `the last waited its turn: one join over the burst at one every 2 s is 2,000 ms`);

  // a rejoin (it has a member id) is not a new member: it does not wait, even with the budget spent
  clients[3]!.socket.write(encodeRequest(ApiKey.JoinGroup, 5, 1, join('member-1'), 'tenant-d'));
  await clients[3]!.response(1, 10_000);
  t.equal(await waits(), 1, 'a rejoin did not wait');
});

t.test('the request latency the broker is measured by (kqp_request_duration_seconds) leaves out a wait for the budget', async (t) => {
  const broker = new FakeBroker(answerJoin);
  // one join at once, one every 5 s: the second of two joins waits 5 s before it is forwarded
  const { proxy, port } = await proxyBefore(broker, { brokerBudget: { groupJoinsPerSec: 0.2, groupJoinBurst: 1 } });
  const client = await RawClient.open(port);
  t.teardown(async () => {
    client.close();
    await proxy.stop();
    await broker.close();
  });
  const sentAt = performance.now();
  client.socket.write(Buffer.concat([1, 2].map((id) => encodeRequest(ApiKey.JoinGroup, 5, id, join('')))));
  await client.response(2, 10_000);
  const waited = performance.now() - sentAt;
  const histogram = await proxy.metrics.registry.getSingleMetricAsString('kqp_request_duration_seconds');
  const sum = Number(/kqp_request_duration_seconds_sum\{api="JoinGroup"\} (\S+)/.exec(histogram)?.[1]);
  const count = Number(/kqp_request_duration_seconds_count\{api="JoinGroup"\} (\S+)/.exec(histogram)?.[1]);
  t.equal(count, 2, 'two JoinGroup latencies');
  // the broker answers at once: what the sum holds is two round trips through the proxy, far below the 5 s wait
  t.ok(sum < 2.5, `their sum: ${sum.toFixed(3)} s, the second answered ${waited.toFixed(0)} ms after both were sent`);
});
