// Where local clusters keep their logs and data (KafkaCluster.start): KQP_KAFKA_DIR when set, else /dev/shm when it
// is writable with at least 4 GiB free, else the system's temp dir.
import { accessSync, constants, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';

export interface ClusterRootOptions {
  /** The environment KQP_KAFKA_DIR is read from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** The memory file system (default: /dev/shm). */
  sharedMemory?: string;
  /** Bytes it must have free (default: 4 GiB). */
  minFree?: number;
}

/**
 * A broker fsyncs for every partition it creates (partition.metadata, its leader-epoch checkpoint) and every metadata
 * batch its controller commits; on this project's VMs the disk takes 1.9 ms per fsync at p50 (/dev/shm 0.014 ms),
 * which held a 1-node broker to about 70 new logs/s and doubled its CPU in issue 11's storm (bench/RESULTS.md,
 * admin-storm). The files are scratch: KafkaCluster.stop() removes them. The free space is checked here, once per
 * cluster start: a bench that writes more than /dev/shm holds fails with a full log dir, and KQP_KAFKA_DIR moves it.
 */
export function clusterRoot(o: ClusterRootOptions = {}): string {
  const chosen = (o.env ?? process.env).KQP_KAFKA_DIR;
  if (chosen) return chosen;
  const shm = o.sharedMemory ?? '/dev/shm';
  try {
    accessSync(shm, constants.W_OK);
    const fs = statfsSync(shm);
    if (fs.bavail * fs.bsize >= (o.minFree ?? 4 * 1024 ** 3)) return shm;
  } catch {
    // none: the temp dir
  }
  return tmpdir();
}
