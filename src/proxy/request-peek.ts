// The few request fields the proxy reads from a frame's head without decoding the rest.
import { Reader } from '../protocol/reader.js';

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
 * Offset of Fetch's max_bytes from the start of the body: after replica_id (gone from v15), max_wait_ms, min_bytes;
 * -1 before v3, which has no max_bytes (KIP-74).
 */
export function fetchMaxBytesOffset(version: number): number {
  if (version < 3) return -1;
  return version <= 14 ? 12 : 8;
}
