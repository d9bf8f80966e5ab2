// kafkajs admin clients in issue 11's storm: each creates a many-partition topic and deletes it again, in a loop, for
// the storm's duration. kafkajs speaks CreateTopics v3 and DeleteTopics v1, versions older than KIP-599's strict mode,
// so a sidecar holds them while their tenant is in debt instead of answering THROTTLING_QUOTA_EXCEEDED. Every call's
// outcome is counted, and the partitions of each successful call by the second (since the storm began) it completed.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';
import { testKafka } from './kafkajs.js';

export interface KafkajsStormResult {
  workers: number;
  calls: number;
  ok: number;
  failed: number;
  /** Failures by the error's name and message. */
  failures: Record<string, number>;
  /** Partitions created or deleted by successful calls, per second since the storm began, by completion. */
  acceptedMutationsPerSec: number[];
}

export interface KafkajsStormOptions {
  bootstrap: string;
  workers: number;
  partitions: number;
  durationSec: number;
  /** When the storm starts (Date.now() time); the clients connect before it. */
  beginAt: number;
  /** client.id prefix: PREFIX-N per worker. */
  clientId: string;
  /** Topic names: PREFIX-NONCE-WORKER-SEQ. */
  topicPrefix: string;
  nonce: string;
}

/** Broker-side timeout of each call (the default 5 s can end a call the controller is still working on). */
const CALL_TIMEOUT_MS = 30_000;

export async function runKafkajsAdminStorm(o: KafkajsStormOptions): Promise<KafkajsStormResult> {
  const r: KafkajsStormResult = { workers: o.workers, calls: 0, ok: 0, failed: 0, failures: {}, acceptedMutationsPerSec: [] };
  const accepted = (partitions: number) => {
    const second = Math.max(0, Math.floor((Date.now() - o.beginAt) / 1000));
    while (r.acceptedMutationsPerSec.length <= second) r.acceptedMutationsPerSec.push(0);
    r.acceptedMutationsPerSec[second]! += partitions;
  };
  const call = async (f: () => Promise<unknown>) => {
    r.calls++;
    try {
      await f();
      r.ok++;
      accepted(o.partitions);
    } catch (err) {
      r.failed++;
      const key = `${(err as Error).name}: ${(err as Error).message}`.slice(0, 200);
      r.failures[key] = (r.failures[key] ?? 0) + 1;
    }
  };
  const admins: Admin[] = [];
  try {
    for (let i = 0; i < o.workers; i++) {
      const admin = testKafka(o.bootstrap, { clientId: `${o.clientId}-${i}`, retry: {} }).admin();
      admins.push(admin);
      await admin.connect();
    }
    await sleep(Math.max(0, o.beginAt - Date.now()));
    const end = o.beginAt + o.durationSec * 1000;
    await Promise.all(
      admins.map(async (admin, worker) => {
        for (let seq = 0; Date.now() < end; seq++) {
          const topic = `${o.topicPrefix}-${o.nonce}-${worker}-${seq}`;
          let created = false;
          await call(async () => {
            await admin.createTopics({ topics: [{ topic, numPartitions: o.partitions }], waitForLeaders: false, timeout: CALL_TIMEOUT_MS });
            created = true;
          });
          if (created) await call(() => admin.deleteTopics({ topics: [topic], timeout: CALL_TIMEOUT_MS }));
        }
      }),
    );
  } finally {
    await Promise.all(admins.map((a) => a.disconnect().catch(() => undefined)));
  }
  return r;
}
