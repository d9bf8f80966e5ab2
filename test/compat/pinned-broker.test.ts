// The compatibility suite against the pinned broker (the shared 3-node cluster), through one sidecar per broker with
// address rewriting and produce and fetch quotas: every client family produces a known set of records and reads it
// back (the Java client in a classic and in a KIP-848 consumer-protocol group), transactions where the client has
// them, and no client connects to a broker. The quotas are measured in pinned-quotas.serial.test.ts.
import t from 'tap';
import { sharedCluster } from '../support/shared-cluster.js';
import { CLIENTS, roundTrip, startCompatSidecars, transactions, TRANSACTIONAL } from '../support/compat-suite.js';

const RECORDS = 300;
const target = await startCompatSidecars(sharedCluster());
t.teardown(() => Promise.all(target.sidecars.map((s) => s.stop())));

for (const client of CLIENTS) {
  t.test(`${client}: ${RECORDS} records produced and read back through the sidecars, none lost or duplicated`, async (t) => {
    const r = await roundTrip(target, client, RECORDS);
    t.ok(r.ok, r.detail);
  });
}

t.test('java: read back in a consumer-protocol (KIP-848) group', async (t) => {
  const r = await roundTrip(target, 'java', RECORDS, 'consumer');
  t.ok(r.ok, r.detail);
});

for (const client of TRANSACTIONAL) {
  t.test(`${client}: an aborted then a committed transaction; read_committed reads the committed records only`, async (t) => {
    const r = await transactions(target, client, RECORDS);
    t.ok(r.ok, r.detail);
  });
}
