// One broker's own view of a topic, asked of that broker alone over a raw connection. A KRaft broker applies a new
// topic some time after the controller answered CreateTopics; a client that asks any broker (kafkajs) may be told by
// another: a test that then talks to this broker directly (raw requests never retry) waits with this first.
import { setTimeout as sleep } from 'node:timers/promises';
import { RawClient } from './raw-client.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import { ZERO_UUID } from '../../src/protocol/constants.js';
import type { MetadataResponse } from '../../src/protocol/generated/metadata-response.js';

const METADATA = 3;
const VERSION = 12;

/** Waits until the broker at `port` serves every partition of `topic` with a leader (rejects after timeoutMs). */
export async function waitForTopicAt(port: number, topic: string, timeoutMs = 30_000): Promise<void> {
  const c = await RawClient.open(port);
  try {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    for (;;) {
      const id = c.send(METADATA, VERSION, {
        topics: [{ topicId: ZERO_UUID, name: topic, unknownTaggedFields: undefined }],
        allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false, unknownTaggedFields: undefined,
      });
      const { body } = decodeResponseFrame((await c.response(id)).subarray(4), METADATA, VERSION) as { body: MetadataResponse };
      const t = body.topics[0];
      if (t && t.errorCode === 0 && t.partitions.length > 0 && t.partitions.every((p) => p.errorCode === 0 && p.leaderId >= 0)) return;
      last = t ? `topic error ${t.errorCode}, partitions ${t.partitions.map((p) => `${p.partitionIndex}: error ${p.errorCode} leader ${p.leaderId}`).join(', ')}` : 'no topic';
      if (Date.now() > deadline) throw new Error(`${topic} not served by the broker at port ${port} after ${timeoutMs} ms: ${last}`);
      await sleep(100);
    }
  } finally {
    c.close();
  }
}
