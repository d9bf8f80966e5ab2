// clusterRoot: where clusters keep their files. KQP_KAFKA_DIR wins; otherwise the memory file system when it is
// writable with room (a broker's fsyncs cost nothing there), else the system's temp dir.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterRoot } from '../../src/local-kafka/cluster-root.js';

const dir = mkdtempSync(join(tmpdir(), 'kqp-cluster-root-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('KQP_KAFKA_DIR when set, whatever the memory file system has', async (t) => {
  t.equal(clusterRoot({ env: { KQP_KAFKA_DIR: '/var/tmp/kqp-test-root' }, sharedMemory: dir, minFree: 0 }), '/var/tmp/kqp-test-root');
});

t.test('otherwise the memory file system when it is writable with the room asked for', async (t) => {
  t.equal(clusterRoot({ env: {}, sharedMemory: dir, minFree: 0 }), dir);
});

t.test('the temp dir when it has less room than asked for', async (t) => {
  t.equal(clusterRoot({ env: {}, sharedMemory: dir, minFree: Number.MAX_SAFE_INTEGER }), tmpdir());
});

t.test('the temp dir when there is none', async (t) => {
  t.equal(clusterRoot({ env: {}, sharedMemory: join(dir, 'missing'), minFree: 0 }), tmpdir());
});

t.test('KQP_KAFKA_DIR from process.env when no environment is given', async (t) => {
  const saved = process.env.KQP_KAFKA_DIR;
  process.env.KQP_KAFKA_DIR = '/var/tmp/from-process-env';
  t.teardown(() => {
    if (saved === undefined) delete process.env.KQP_KAFKA_DIR;
    else process.env.KQP_KAFKA_DIR = saved;
  });
  t.equal(clusterRoot(), '/var/tmp/from-process-env');
});
