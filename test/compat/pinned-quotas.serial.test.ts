// The compatibility suite's quota check against the pinned broker (the shared cluster): all five client families at
// once, each its own tenant with a 512 KB/s produce or fetch quota (kafka-python's produce: 96 KB/s, which it reaches), pushing and pulling as hard as they can through
// the first broker's sidecar; the broker's log bytes and its own BytesOutPerSec must grow at the quota ±5%.
// (test/quota/accuracy.serial.test.ts measures the Java client, kafkajs and kcat at length; this adds the Python
// clients and checks every client family the same way on every broker version, as `npm run compat` does.)
import t from 'tap';
import { sharedCluster } from '../support/shared-cluster.js';
import { CLIENTS, quotaChecks, startCompatSidecars } from '../support/compat-suite.js';

const SECONDS = 12;
const TOLERANCE = 0.05;
const target = await startCompatSidecars(sharedCluster());
t.teardown(() => Promise.all(target.sidecars.map((s) => s.stop())));

t.test(`every client's produce and fetch quota holds at the broker (±${TOLERANCE * 100}%)`, async (t) => {
  for (const r of await quotaChecks(target, CLIENTS, { seconds: SECONDS, tolerance: TOLERANCE })) t.ok(r.ok, `${r.client}, ${r.check}: ${r.detail}`);
});
