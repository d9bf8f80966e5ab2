// Every request field the proxy reads from a head, checked at every version of its API: Produce acks (v0-v2 have no
// transactional_id), Fetch max_bytes (none before v3), ShareFetch max_bytes (after two ids), SaslHandshake's mechanism, SaslAuthenticate's auth_bytes, the
// group-churn fields (JoinGroup's member id, the group heartbeats' member epoch, DeleteGroups' count). The
// versions the codec knows (Kafka 4's schemas) are encoded with it; the older ones Kafka 3 still serves (Produce
// v0-v2, Fetch v0-v3) are written field by field from their schemas.
import t from 'tap';
import { Writer } from '../../src/protocol/writer.js';
import { readRequestHeader, writeRequestHeader } from '../../src/protocol/headers.js';
import { apiSchema } from '../../src/protocol/api.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import {
  deleteGroupsCount, fetchMaxBytesOffset, heartbeatMemberEpoch, joinGroupIsNewMember, produceAcks, saslAuthBytes, saslHandshakeMechanism,
  shareFetchMaxBytesAt,
} from '../../src/proxy/request-peek.js';
import { defaultShareFetchRequest } from '../../src/protocol/generated/share-fetch-request.js';
import { TruncatedError } from '../../src/protocol/errors.js';
import { defaultJoinGroupRequest } from '../../src/protocol/generated/join-group-request.js';
import { defaultConsumerGroupHeartbeatRequest } from '../../src/protocol/generated/consumer-group-heartbeat-request.js';
import { defaultShareGroupHeartbeatRequest } from '../../src/protocol/generated/share-group-heartbeat-request.js';
import { defaultStreamsGroupHeartbeatRequest } from '../../src/protocol/generated/streams-group-heartbeat-request.js';
import { encodeRequest } from '../support/raw-client.js';
import { fetchRequest, produceRequest } from '../support/requests.js';

const bodyAt = (frame: Buffer) => 4 + readRequestHeader(frame, undefined, undefined, 4).length;

/** A frame of an old version, its body written by `body` after a v1 request header. */
function oldFrame(apiKey: number, version: number, body: (w: Writer) => void): Buffer {
  const w = new Writer();
  w.int32(0);
  writeRequestHeader(w, { apiKey, apiVersion: version, correlationId: 1, clientId: 'peek', headerVersion: 1, unknownTaggedFields: undefined });
  body(w);
  const frame = Buffer.from(w.finish());
  frame.writeInt32BE(frame.length - 4, 0);
  return frame;
}

const produce = apiSchema(ApiKey.Produce)!;
const fetch = apiSchema(ApiKey.Fetch)!;

t.test('Produce acks, every version', async (t) => {
  for (const acks of [0, 1, -1]) {
    for (let v = 0; v < produce.minVersion; v++) {
      // v0-v2: acks int16, timeout_ms int32, topic_data (an empty array)
      const frame = oldFrame(ApiKey.Produce, v, (w) => {
        w.int16(acks);
        w.int32(30_000);
        w.int32(0);
      });
      t.equal(produceAcks(frame, bodyAt(frame), v), acks, `v${v} acks=${acks}`);
    }
    for (let v = produce.minVersion; v <= produce.maxVersion; v++) {
      const frame = encodeRequest(ApiKey.Produce, v, 1, { ...produceRequest('t', 0, Buffer.alloc(10), acks), transactionalId: 'a-transactional-id' });
      t.equal(produceAcks(frame, bodyAt(frame), v), acks, `v${v} acks=${acks} (after a transactional id)`);
    }
  }
});

t.test('Fetch max_bytes, every version', async (t) => {
  for (let v = 0; v < 3; v++) t.equal(fetchMaxBytesOffset(v), -1, `v${v} has no max_bytes`);
  // v3: replica_id, max_wait_ms, min_bytes, max_bytes, topics
  const v3 = oldFrame(ApiKey.Fetch, 3, (w) => {
    w.int32(-1);
    w.int32(500);
    w.int32(1);
    w.int32(12_345_678);
    w.int32(0);
  });
  t.equal(v3.readInt32BE(bodyAt(v3) + fetchMaxBytesOffset(3)), 12_345_678, 'v3');
  for (let v = fetch.minVersion; v <= fetch.maxVersion; v++) {
    const frame = encodeRequest(ApiKey.Fetch, v, 1, fetchRequest('t', { maxBytes: 12_345_678, minBytes: 7, maxWaitMs: 999 }));
    t.equal(frame.readInt32BE(bodyAt(frame) + fetchMaxBytesOffset(v)), 12_345_678, `v${v}`);
  }
});

t.test('ShareFetch max_bytes, every version: after the group and member ids, whatever their length (or null)', async (t) => {
  const shareFetch = apiSchema(ApiKey.ShareFetch)!;
  for (let v = shareFetch.minVersion; v <= shareFetch.maxVersion; v++) {
    for (const [groupId, memberId] of [['g', 'm'], ['g'.repeat(700), 'member-'.repeat(40)], [null, null]] as const) {
      const body = { ...defaultShareFetchRequest(), groupId, memberId, shareSessionEpoch: 3, maxWaitMs: 500, minBytes: 1, maxBytes: 12_345_678 };
      const frame = encodeRequest(ApiKey.ShareFetch, v, 1, body);
      t.equal(frame.readInt32BE(shareFetchMaxBytesAt(frame, bodyAt(frame), v)), 12_345_678, `v${v}, ids of ${groupId?.length ?? 'null'} and ${memberId?.length ?? 'null'} bytes`);
      // a head that ends before it: the relay is told to read more
      const at = shareFetchMaxBytesAt(frame, bodyAt(frame), v);
      t.throws(() => shareFetchMaxBytesAt(frame.subarray(0, at + 3), bodyAt(frame), v), TruncatedError, `v${v}: a head ending before it throws TruncatedError`);
    }
  }
});

t.test('SaslHandshake mechanism and SaslAuthenticate auth_bytes, every version', async (t) => {
  const handshake = apiSchema(ApiKey.SaslHandshake)!;
  for (let v = handshake.minVersion; v <= handshake.maxVersion; v++) {
    const frame = encodeRequest(ApiKey.SaslHandshake, v, 1, { mechanism: 'SCRAM-SHA-512', unknownTaggedFields: undefined });
    t.equal(saslHandshakeMechanism(frame, bodyAt(frame), v), 'SCRAM-SHA-512', `SaslHandshake v${v}`);
  }
  const authenticate = apiSchema(ApiKey.SaslAuthenticate)!;
  const token = Buffer.from('\u0000alice\u0000secret');
  for (let v = authenticate.minVersion; v <= authenticate.maxVersion; v++) {
    const frame = encodeRequest(ApiKey.SaslAuthenticate, v, 1, { authBytes: token, unknownTaggedFields: undefined });
    t.ok(saslAuthBytes(frame, bodyAt(frame), v).equals(token), `SaslAuthenticate v${v}`);
  }
});

t.test('group churn: JoinGroup member id, heartbeat member epochs, DeleteGroups count, every version', async (t) => {
  const joinGroup = apiSchema(ApiKey.JoinGroup)!;
  for (let v = joinGroup.minVersion; v <= joinGroup.maxVersion; v++) {
    for (const memberId of ['', 'consumer-1-a5d1']) {
      const body = { ...defaultJoinGroupRequest(), groupId: 'a-group', sessionTimeoutMs: 45_000, rebalanceTimeoutMs: 300_000, memberId, protocolType: 'consumer' };
      const frame = encodeRequest(ApiKey.JoinGroup, v, 1, body);
      t.equal(joinGroupIsNewMember(frame, bodyAt(frame), v), memberId === '', `JoinGroup v${v} member id "${memberId}"`);
    }
  }
  for (const [key, message, body] of [
    [ApiKey.ConsumerGroupHeartbeat, 'ConsumerGroupHeartbeatRequest', defaultConsumerGroupHeartbeatRequest()],
    [ApiKey.ShareGroupHeartbeat, 'ShareGroupHeartbeatRequest', defaultShareGroupHeartbeatRequest()],
    [ApiKey.StreamsGroupHeartbeat, 'StreamsGroupHeartbeatRequest', defaultStreamsGroupHeartbeatRequest()],
  ] as const) {
    const api = apiSchema(key)!;
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      for (const memberEpoch of [0, 12, -1]) {
        const frame = encodeRequest(key, v, 1, { ...body, groupId: 'a-group', memberId: 'member-1', memberEpoch });
        t.equal(heartbeatMemberEpoch(frame, bodyAt(frame), message, v), memberEpoch, `${message} v${v} epoch ${memberEpoch}`);
      }
    }
  }
  const deleteGroups = apiSchema(ApiKey.DeleteGroups)!;
  for (let v = deleteGroups.minVersion; v <= deleteGroups.maxVersion; v++) {
    const frame = encodeRequest(ApiKey.DeleteGroups, v, 1, { groupsNames: ['a', 'b', 'c'], unknownTaggedFields: undefined });
    t.equal(deleteGroupsCount(frame, bodyAt(frame), v), 3, `DeleteGroups v${v}`);
  }
});
