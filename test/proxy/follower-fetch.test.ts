// A follower's fetch (a broker replicating) is told from a consumer's as Kafka tells them (FetchRequest.isFromFollower:
// replica id 0 or more), on frames Kafka's own FetchRequest.Builder made for every Fetch version (forReplica, as a
// broker's replica fetcher sends them, and forConsumer with a rack id), captured by test/fixtures/KafkaFollowerFetches.java.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { isFollowerFetch } from '../../src/proxy/request-peek.js';
import { readRequestHeader } from '../../src/protocol/headers.js';

const captured = readFileSync(new URL('../fixtures/kafka-follower-fetches.jsonl', import.meta.url), 'utf8').trim().split('\n')
  .map((line) => JSON.parse(line) as { version: number; kind: 'follower' | 'consumer'; frame: string });

t.test("every Fetch version, Kafka's own follower and consumer fetches", async (t) => {
  t.equal(new Set(captured.map((c) => c.version)).size, 15, 'versions 4-18, each a follower and a consumer');
  for (const c of captured) {
    const frame = Buffer.from(c.frame, 'hex');
    const bodyAt = 4 + readRequestHeader(frame, undefined, undefined, 4).length;
    t.equal(isFollowerFetch(frame, bodyAt, c.version), c.kind === 'follower', `v${c.version} ${c.kind}`);
  }
});
