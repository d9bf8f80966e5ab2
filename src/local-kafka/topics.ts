// Creating topics and waiting until every partition has a leader in the metadata the brokers serve.
//
// kafkajs's own `createTopics({ waitForLeaders: true })` gives up on the first UNKNOWN_TOPIC_OR_PARTITION: with KRaft
// the controller answers CreateTopics once the topic is committed, but the broker asked for metadata may not have
// applied that record yet (a CI run of the 3-node cluster saw exactly this), nor may the next broker asked. These wait
// through it, up to a deadline.
import type { Admin, ITopicConfig, ITopicMetadata } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Metadata errors that mean "not yet" right after a topic was created. */
const NOT_YET = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

export async function createTopicsAndWait(admin: Admin, topics: ITopicConfig[], timeoutMs = 60_000): Promise<void> {
  // kafkajs's own wait (waitForLeaders, on by default) gives up on the first UNKNOWN_TOPIC_OR_PARTITION: off
  await admin.createTopics({ topics, waitForLeaders: false });
  await topicMetadata(admin, topics.map((t) => t.topic), timeoutMs);
}

/**
 * The topics' metadata once every partition has a leader, waiting through "not yet". kafkajs asks any broker it is
 * connected to, and one may not have applied a topic another has already shown (a CI run saw a fetch right after
 * createTopicsAndWait fail so): read a new topic's metadata with this, not with admin.fetchTopicMetadata.
 */
export async function topicMetadata(admin: Admin, names: string[], timeoutMs = 60_000): Promise<ITopicMetadata[]> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no metadata yet';
  for (;;) {
    try {
      const md = await admin.fetchTopicMetadata({ topics: names });
      const waiting = md.topics.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0));
      if (waiting.length === 0) return md.topics;
      last = `no leader yet for ${waiting.map((t) => t.name).join(', ')}`;
    } catch (err) {
      const type = (err as { type?: string }).type;
      if (!type || !NOT_YET.has(type)) throw err;
      last = type;
    }
    if (Date.now() > deadline) throw new Error(`topics ${names.join(', ')} not ready after ${timeoutMs} ms: ${last}`);
    await sleep(100);
  }
}
