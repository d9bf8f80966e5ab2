// clusterRoot: where clusters keep their files. KQP_KAFKA_DIR wins; otherwise /dev/shm when it is writable with room
// (a broker's fsyncs cost nothing there), else the system's temp dir.
import t from 'tap';
import { accessSync, constants, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { clusterRoot } from '../../src/local-kafka/kafka-cluster.js';

const saved = process.env.KQP_KAFKA_DIR;
t.teardown(() => {
  if (saved === undefined) delete process.env.KQP_KAFKA_DIR;
  else process.env.KQP_KAFKA_DIR = saved;
});

t.test('KQP_KAFKA_DIR when set', async (t) => {
  process.env.KQP_KAFKA_DIR = '/var/tmp/kqp-test-root';
  t.equal(clusterRoot(), '/var/tmp/kqp-test-root');
});

t.test('otherwise /dev/shm when it is writable with 4 GiB free, else the temp dir', async (t) => {
  delete process.env.KQP_KAFKA_DIR;
  let roomy = false;
  try {
    accessSync('/dev/shm', constants.W_OK);
    const fs = statfsSync('/dev/shm');
    roomy = fs.bavail * fs.bsize >= 4 * 1024 ** 3;
  } catch {
    roomy = false;
  }
  t.equal(clusterRoot(), roomy ? '/dev/shm' : tmpdir(), `this machine's /dev/shm ${roomy ? 'has' : 'lacks'} room`);
});
