// The client's side of a SASL login, for the sidecar's own connections to a SASL listener (upstream.sasl): PLAIN
// (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677), the messages Kafka's own clients send (its
// PlainSaslServer, ScramSaslClient). No I/O: each of the server's messages in, the next of the client's out.
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

export interface SaslLogin {
  mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  username: string;
  password: string;
}

/** A login in progress: `first` is sent, then each server message's answer until it is undefined (done). */
export interface SaslConversation {
  first: Buffer;
  /** The next message, or undefined when the login is complete; throws when the server's message is not acceptable. */
  next(server: Buffer): Promise<Buffer | undefined>;
}

/** Kafka's ScramMechanism bounds on the iteration count: its clients refuse a server's outside them. */
const MIN_ITERATIONS = 4096;
const MAX_ITERATIONS = 16384;
const pbkdf2Async = promisify(pbkdf2);

/**
 * The last salted password (RFC 5802 § 5.1: a client may keep it): the broker's salt and iteration count for a user
 * change only with its credential, so every login after the first skips the PBKDF2 rounds. One entry.
 */
let salted: { key: string; value: Buffer } | undefined;

export function startSasl(login: SaslLogin, nonce: string = randomBytes(24).toString('base64')): SaslConversation {
  if (login.mechanism === 'PLAIN') {
    // [authzid] NUL authcid NUL passwd, no authzid (Kafka's PlainSaslServer refuses one that differs from the user)
    return { first: Buffer.from(`\0${login.username}\0${login.password}`, 'utf8'), next: async () => undefined };
  }
  return scram(login, nonce);
}

function scram(login: SaslLogin, clientNonce: string): SaslConversation {
  const hash = login.mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512';
  const clientFirstBare = `n=${login.username.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${clientNonce}`;
  let serverSignature: Buffer | undefined;
  return {
    first: Buffer.from(`n,,${clientFirstBare}`, 'utf8'),
    async next(message: Buffer): Promise<Buffer | undefined> {
      const fields = attributes(message);
      if (serverSignature) {
        // server-final-message: v=signature, or e=error
        if (fields.e !== undefined) throw new Error(`SCRAM refused: ${fields.e}`);
        const v = Buffer.from(fields.v ?? '', 'base64');
        if (v.length !== serverSignature.length || !timingSafeEqual(v, serverSignature)) throw new Error("SCRAM: the broker's signature does not match (not the broker the password is for)");
        return undefined;
      }
      // server-first-message: r=nonce,s=salt,i=iterations
      const nonce = fields.r ?? '';
      const iterations = Number(fields.i);
      if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length) throw new Error("SCRAM: the broker's nonce does not extend the client's");
      if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) throw new Error(`SCRAM: iteration count ${fields.i} outside ${MIN_ITERATIONS}-${MAX_ITERATIONS}`);
      if (fields.s === undefined) throw new Error('SCRAM: no salt');
      const saltedPassword = await saltPassword(login.password, Buffer.from(fields.s, 'base64'), iterations, hash);
      const clientFinalBare = `c=biws,r=${nonce}`; // biws: base64 of the GS2 header "n,,"
      const authMessage = `${clientFirstBare},${message.toString('utf8')},${clientFinalBare}`;
      const clientKey = hmac(hash, saltedPassword, 'Client Key');
      const clientSignature = hmac(hash, createHash(hash).update(clientKey).digest(), authMessage);
      const proof = Buffer.alloc(clientKey.length);
      for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
      serverSignature = hmac(hash, hmac(hash, saltedPassword, 'Server Key'), authMessage);
      return Buffer.from(`${clientFinalBare},p=${proof.toString('base64')}`, 'utf8');
    },
  };
}

/** A SCRAM message's attributes (a=value, comma-separated; a value can hold '='). */
function attributes(message: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of message.toString('utf8').split(',')) {
    const at = part.indexOf('=');
    if (at === 1) out[part[0]!] = part.slice(2);
  }
  return out;
}

function hmac(hash: string, key: Buffer, data: string): Buffer {
  return createHmac(hash, key).update(data, 'utf8').digest();
}

async function saltPassword(password: string, salt: Buffer, iterations: number, hash: 'sha256' | 'sha512'): Promise<Buffer> {
  const key = `${hash}\0${iterations}\0${salt.toString('base64')}\0${password}`;
  if (salted?.key === key) return salted.value;
  const value = await pbkdf2Async(password, salt, iterations, hash === 'sha256' ? 32 : 64, hash);
  salted = { key, value };
  return value;
}
