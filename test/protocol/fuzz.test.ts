// One million random and mutated frames (seeded from captured traffic and from populated messages of every API and
// version) give a decoded message or a typed ProtocolError: no other exception, no hang, no large allocation.
import t from 'tap';
import { loadFixtures } from '../support/fixtures.js';
import { fuzz, type Seed } from '../support/codec-fuzzer.js';
import { seedsFromSchemas } from '../support/fuzz-seeds.js';

const iterations = Number(process.env.KQP_FUZZ_ITERATIONS ?? 1_000_000);
const seeds: Seed[] = [...loadFixtures(), ...(await seedsFromSchemas())];

t.test(`${iterations} fuzzed frames`, async (t) => {
  const report = fuzz(seeds, iterations, Number(process.env.KQP_FUZZ_SEED ?? 1));
  t.comment(JSON.stringify({ ...report, crashes: report.crashes.length }));
  t.equal(report.decoded + report.rejected + report.crashes.length >= iterations, true, 'every frame had an outcome');
  t.same(report.crashes, [], 'no exception other than a ProtocolError');
  t.ok(report.rejected > iterations / 10 && report.decoded > iterations / 100, `${report.decoded} decoded, ${report.rejected} rejected`);
  t.ok(report.maxArrayBufferGrowthMB < 64, `buffer memory grew at most ${report.maxArrayBufferGrowthMB.toFixed(1)} MB between checks`);
});
