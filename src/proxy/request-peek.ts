// The few request fields the proxy reads from a frame's head without decoding the rest.
import { Reader } from '../protocol/reader.js';

const reader = new Reader(Buffer.alloc(0));

/** Produce acks: after transactional_id (a nullable string, compact from v9) in v3+. `at` is where the body starts. */
export function produceAcks(head: Buffer, at: number, version: number): number {
  const r = reader.reset(head, at, head.length).enter('ProduceRequest', version);
  if (version >= 9) r.compactString('TransactionalId', true);
  else r.string('TransactionalId', true);
  return r.int16('Acks');
}

/** SaslHandshake's mechanism (its only field, a string; SaslHandshake is never flexible). */
export function saslHandshakeMechanism(head: Buffer, at: number, version: number): string {
  return reader.reset(head, at, head.length).enter('SaslHandshakeRequest', version).string('Mechanism', false)!;
}
