// Throttles end when the proxy's clock says so: DeadlineTimer alone, then a muted connection and held responses in a
// proxy in front of a fake broker whose clock stands still while the timers run (as the clock does, relative to a timer
// armed late in a long event-loop iteration: such a timer counts from the iteration's start and fires early).
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { DeadlineTimer } from '../../src/proxy/deadline-timer.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import type { ApiVersionsResponse } from '../../src/protocol/generated/api-versions-response.js';
import { FakeBroker, proxyBefore, answerApiVersions } from '../support/fake-broker.js';
import { RawClient, API_VERSIONS_V3 } from '../support/raw-client.js';

t.test('DeadlineTimer fires once the clock reaches the deadline, however often its timer fires before', async (t) => {
  let clock = 0;
  let fired = 0;
  const timer = new DeadlineTimer({ now: () => clock });
  timer.set(50, () => fired++);
  await sleep(300);
  t.equal(fired, 0, 'six times its wait later by the timers, the clock unmoved: not fired');
  clock = 50;
  await sleep(120);
  t.equal(fired, 1, 'fired once the clock reached it');
  timer.set(60, () => fired++);
  timer.set(70, () => (fired += 10));
  clock = 70;
  await sleep(20);
  t.equal(fired, 11, 'a new deadline replaces the one before');
  timer.set(80, () => fired++);
  timer.cancel();
  clock = 100;
  await sleep(20);
  t.equal(fired, 11, 'cancelled: not fired');
  timer.set(0, () => fired++);
  t.equal(fired, 11, 'a deadline already past fires in a later tick, not at once');
  await sleep(20);
  t.equal(fired, 12);
});

t.test('DeadlineTimer with a deadline beyond setTimeout\'s longest delay (25 days): no warning, no busy loop', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  let fired = 0;
  let reads = 0;
  const timer = new DeadlineTimer({ now: () => (reads++, 0) });
  timer.set(25 * 24 * 3600 * 1000, () => fired++);
  await sleep(200);
  timer.cancel();
  t.same(warnings, [], 'no TimeoutOverflowWarning');
  t.ok(reads <= 2 && fired === 0, `the clock read ${reads} times in 200 ms (once when set: the timer waits its longest delay, then again)`);
});

/** A proxy in front of a broker answering ApiVersions in the version asked, at 10 requests/s: a new tenant's bucket holds 1 (a tenth of its burst of 10). */
async function throttledProxy(t: Test, now: () => number): Promise<RawClient> {
  const broker = new FakeBroker(answerApiVersions);
  const { proxy, port } = await proxyBefore(broker, { quotas: [{ clientId: '<default>', requestsPerSec: 10, requestBurst: 10 }] }, undefined, { now });
  const client = await RawClient.open(port);
  t.teardown(async () => {
    client.close();
    await proxy.stop();
    await broker.close();
  });
  return client;
}

t.test('a muted connection (a KIP-219 client) is read again when the clock says its throttle is over', async (t) => {
  let clock = 0;
  const client = await throttledProxy(t, () => clock);
  await client.response(client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3));
  const second = await client.response(client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3));
  const { throttleTimeMs } = decodeResponseFrame(second.subarray(4), ApiKey.ApiVersions, 3).body as ApiVersionsResponse;
  t.equal(throttleTimeMs, 100, 'the first request took the token: the second, 100 ms into debt, is answered at once, throttled');
  const third = client.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
  await t.rejects(client.response(third, 1_000), 'ten times the throttle later by the timers, the clock unmoved: not read');
  clock = 100;
  t.ok(await client.response(third, 5_000), 'read and answered once the clock reached the end of the throttle');
});

t.test("an older client's held response is released when the clock says its throttle is over", async (t) => {
  let clock = 0;
  const client = await throttledProxy(t, () => clock);
  await client.response(client.send(ApiKey.ApiVersions, 1, {}));
  const second = client.send(ApiKey.ApiVersions, 1, {});
  await t.rejects(client.response(second, 1_000), 'v1 does not back off by itself: its response is held, still after ten times the throttle');
  clock = 100;
  t.ok(await client.response(second, 5_000), 'released once the clock reached the end of the throttle');
});
