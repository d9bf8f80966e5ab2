// The few request fields the proxy reads from a frame's head without decoding the rest.
import { Reader } from '../protocol/reader.js';
import { decodeFetchRequest } from '../protocol/generated/fetch-request.js';

const reader = new Reader(Buffer.alloc(0));

/**
 * Produce acks: the body's first field in v0-v2, after transactional_id (a nullable string, compact from v9) from v3.
 * `at` is where the body starts. (Kafka 4 no longer has v0-v2, Kafka 3 and legacy clients still use them.)
 */
export function produceAcks(head: Buffer, at: number, version: number): number {
  const r = reader.reset(head, at, head.length).enter('ProduceRequest', version);
  if (version >= 9) r.compactString('TransactionalId', true);
  else if (version >= 3) r.string('TransactionalId', true);
  return r.int16('Acks');
}

/**
 * JoinGroup: whether member_id is empty, i.e. a member joining anew (from v4 it is then told its id,
 * MEMBER_ID_REQUIRED, and joins again with it; KIP-394). Fields before it: group_id, session_timeout_ms and, from v1,
 * rebalance_timeout_ms; flexible (compact strings) from v6.
 */
export function joinGroupIsNewMember(head: Buffer, at: number, version: number): boolean {
  const r = reader.reset(head, at, head.length).enter('JoinGroupRequest', version);
  const flexible = version >= 6;
  if (flexible) r.compactString('GroupId', false);
  else r.string('GroupId', false);
  r.int32('SessionTimeoutMs');
  if (version >= 1) r.int32('RebalanceTimeoutMs');
  return (flexible ? r.compactString('MemberId', false) : r.string('MemberId', false)) === '';
}

/**
 * The member epoch of a ConsumerGroupHeartbeat, ShareGroupHeartbeat or StreamsGroupHeartbeat (KIP-848 and its
 * successors: group_id, member_id, member_epoch, always flexible); 0 is a member joining.
 */
export function heartbeatMemberEpoch(head: Buffer, at: number, message: string, version: number): number {
  const r = reader.reset(head, at, head.length).enter(message, version);
  r.compactString('GroupId', false);
  r.compactString('MemberId', false);
  return r.int32('MemberEpoch');
}

/** DeleteGroups: how many groups it deletes (groups_names, compact from v2). */
export function deleteGroupsCount(head: Buffer, at: number, version: number): number {
  return reader.reset(head, at, head.length).enter('DeleteGroupsRequest', version).arrayLength('GroupsNames', version >= 2, false);
}

/** SaslHandshake's mechanism (its only field, a string; SaslHandshake is never flexible). */
export function saslHandshakeMechanism(head: Buffer, at: number, version: number): string {
  return reader.reset(head, at, head.length).enter('SaslHandshakeRequest', version).string('Mechanism', false)!;
}

/** SaslAuthenticate's auth_bytes (its first field: bytes, compact from v2), as a view. */
export function saslAuthBytes(head: Buffer, at: number, version: number): Buffer {
  const r = reader.reset(head, at, head.length).enter('SaslAuthenticateRequest', version);
  return (version >= 2 ? r.compactBytes('AuthBytes', false) : r.bytes('AuthBytes', false))!;
}

/**
 * Whether a Fetch is a follower's (a broker replicating; Kafka's FetchRequest.isFromFollower: replica id 0 or more),
 * from the whole frame (size prefix included). Up to v14 the replica id opens the body; from v15 (KIP-903) it is in
 * the ReplicaState tagged field, tag 1, which a follower always sends and which then ends the body (tags are written
 * in order and Fetch has none after it): its 13 bytes (replica id, epoch, no tagged fields) after its tag and size.
 * A body that ends so is decoded to be sure (a consumer's rack id could end in those bytes); one that does not is a
 * consumer's.
 */
export function isFollowerFetch(frame: Buffer, bodyAt: number, version: number): boolean {
  if (version <= 14) return frame.readInt32BE(bodyAt) >= 0;
  const tail = frame.length - REPLICA_STATE_TAIL;
  if (tail < bodyAt || frame[tail] !== 1 || frame[tail + 1] !== 13 || frame[frame.length - 1] !== 0 || frame.readInt32BE(tail + 2) < 0) return false;
  try {
    return decodeFetchRequest(reader.reset(frame, bodyAt, frame.length), version).replicaState.replicaId >= 0;
  } catch {
    return false; // not a follower's: the broker will say what is wrong with it
  }
}
/** ReplicaState at the end of a Fetch body: tag (1), size (13), replica id, replica epoch, no tagged fields (0). */
const REPLICA_STATE_TAIL = 1 + 1 + 4 + 8 + 1;

/**
 * Offset of Fetch's max_bytes from the start of the body: after replica_id (gone from v15), max_wait_ms, min_bytes;
 * -1 before v3, which has no max_bytes (KIP-74).
 */
export function fetchMaxBytesOffset(version: number): number {
  if (version < 3) return -1;
  return version <= 14 ? 12 : 8;
}

/**
 * Where ShareFetch's max_bytes is in `head` (KIP-932; always flexible): after group_id and member_id (compact nullable
 * strings), share_session_epoch, max_wait_ms and min_bytes. Throws a ProtocolError when it is beyond the head.
 */
export function shareFetchMaxBytesAt(head: Buffer, at: number, version: number): number {
  const r = reader.reset(head, at, head.length).enter('ShareFetchRequest', version);
  r.skipString('GroupId', true);
  r.skipString('MemberId', true);
  r.int32('ShareSessionEpoch');
  r.int32('MaxWaitMs');
  r.int32('MinBytes');
  r.int32('MaxBytes');
  return r.offset - 4;
}
