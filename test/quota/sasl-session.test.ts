// A broker with connections.max.reauth.ms (KIP-368) gives each SASL session a lifetime and closes a connection whose
// session has expired when it reads any request but a SaslHandshake (SocketServer's Processor). A request the proxy
// keeps back (a produce held for its tenant's debt, an admin request waiting at the gate) must reach the broker within
// the session its client authenticated, else the broker closes the connection. Against a fake broker that does what
// Kafka does: SCRAM-SHA-512 (its last server token is longer than the response head the relay first reads).
import t, { type Test } from 'tap';
import { Writer } from '../../src/protocol/writer.js';
import { Reader } from '../../src/protocol/reader.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { ErrorCode } from '../../src/protocol/generated/error-codes.js';
import * as Handshake from '../../src/protocol/generated/sasl-handshake-response.js';
import * as Authenticate from '../../src/protocol/generated/sasl-authenticate-response.js';
import * as ProduceRes from '../../src/protocol/generated/produce-response.js';
import * as CreateTopicsRes from '../../src/protocol/generated/create-topics-response.js';
import { defaultCreateTopicsRequest, defaultCreatableTopic } from '../../src/protocol/generated/create-topics-request.js';
import { FakeBroker, apiKeyOf, correlationOf, responseFrame, proxyBefore } from '../support/fake-broker.js';
import { RawClient } from '../support/raw-client.js';
import { produceRequest } from '../support/requests.js';

/** The session each login gets (ms); the proxy forwards what it kept back by 5% of it before its end (SESSION_MARGIN_SHARE). */
const LIFETIME_MS = 10_000;

const encode = (f: (w: Writer) => void) => {
  const w = new Writer();
  f(w);
  return Buffer.from(w.finish());
};

interface Arrival {
  apiKey: number;
  /** ms after the session it arrived in began (the broker's clock). */
  intoSession: number;
}

/** A broker doing KIP-368's server side; CreateTopics from `blocker` are never answered (they hold the gate's place). */
async function setup(t: Test, config: Record<string, unknown>) {
  const sessions = new Map<object, number>();
  const arrivals: Arrival[] = [];
  let expiredClosed = 0;
  let scramStep = 0;
  const broker = new FakeBroker((frame, socket) => {
    const id = correlationOf(frame);
    const key = apiKeyOf(frame);
    const version = frame.readInt16BE(6);
    const began = sessions.get(socket);
    if (key !== ApiKey.SaslHandshake && began !== undefined && Date.now() > began + LIFETIME_MS) {
      expiredClosed++;
      socket.destroy();
      return undefined;
    }
    if (began !== undefined) arrivals.push({ apiKey: key, intoSession: Date.now() - began });
    if (key === ApiKey.SaslHandshake) {
      // a re-authentication begins (allowed after the session's end): its tokens are the authenticator's
      sessions.delete(socket);
      return [responseFrame(id, encode((w) => Handshake.encodeSaslHandshakeResponse(w, version, { ...Handshake.defaultSaslHandshakeResponse(), mechanisms: ['SCRAM-SHA-512'] })))];
    }
    if (key === ApiKey.SaslAuthenticate) {
      const last = scramStep++ % 2 === 1;
      if (last) sessions.set(socket, Date.now());
      const body = {
        ...Authenticate.defaultSaslAuthenticateResponse(),
        // a SCRAM-SHA-512 server-final message: v= and a base64 signature of 64 bytes
        authBytes: Buffer.from(last ? `v=${Buffer.alloc(64, 7).toString('base64')}` : 'r=clientnonceservernonce,s=c2FsdA==,i=4096'),
        sessionLifetimeMs: last ? BigInt(LIFETIME_MS) : 0n,
      };
      return [responseFrame(id, encode((w) => Authenticate.encodeSaslAuthenticateResponse(w, version, body)), version >= 2)];
    }
    if (key === ApiKey.Produce) return [responseFrame(id, encode((w) => ProduceRes.encodeProduceResponse(w, version, ProduceRes.defaultProduceResponse())), version >= 9)];
    if (key === ApiKey.CreateTopics) {
      if (frame.includes(Buffer.from('blocker'))) return undefined;
      return [responseFrame(id, encode((w) => CreateTopicsRes.encodeCreateTopicsResponse(w, version, CreateTopicsRes.defaultCreateTopicsResponse())), version >= 5)];
    }
    return undefined;
  });
  const { proxy, port } = await proxyBefore(broker, config);
  const clients: RawClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    await proxy.stop();
    await broker.close();
  });
  const open = async () => {
    const c = await RawClient.open(port);
    clients.push(c);
    return c;
  };
  /** A SCRAM-SHA-512 login as bob (handshake and two tokens), v1 or v2 SaslAuthenticate. */
  const login = async (c: RawClient, version = 2) => {
    await c.response(c.send(ApiKey.SaslHandshake, 1, { mechanism: 'SCRAM-SHA-512', unknownTaggedFields: undefined }));
    await c.response(c.send(ApiKey.SaslAuthenticate, version, { authBytes: Buffer.from('n,,n=bob,r=clientnonce'), unknownTaggedFields: undefined }));
    await c.response(c.send(ApiKey.SaslAuthenticate, version, { authBytes: Buffer.from('c=biws,r=clientnonceservernonce,p=proof'), unknownTaggedFields: undefined }));
    return Date.now();
  };
  return { open, login, arrivals, expiredClosed: () => expiredClosed };
}

const throttleOf = (frame: Buffer, version: number) => ProduceRes.decodeProduceResponse(new Reader(frame, 4 + 4 + (version >= 9 ? 1 : 0)), version).throttleTimeMs;

t.test("SaslAuthenticate v2: what the proxy keeps back (a held produce, a muted client's next request) reaches the broker within the session", async (t) => {
  const { open, login, arrivals, expiredClosed } = await setup(t, { quotas: [{ user: 'bob', produceBytesPerSec: 10_000 }] });
  const c = await open();
  const loggedIn = await login(c);
  // another connection of bob's puts him 12 s in debt (the burst is 10 KB): it is muted that long, and the produce it
  // sent right behind (a client that does not wait) is not read meanwhile
  const other = await open();
  await login(other);
  const big = other.send(ApiKey.Produce, 9, produceRequest('t', 0, Buffer.alloc(130_000, 1), 1));
  const behind = other.send(ApiKey.Produce, 9, produceRequest('t', 0, Buffer.alloc(1000, 1), 1));
  await other.response(big);
  // c's produce is then held about 12 s, past the end of its 10 s session
  const sent = Date.now() - loggedIn;
  const frame = await c.response(c.send(ApiKey.Produce, 9, produceRequest('t', 0, Buffer.alloc(1000, 1), 1)), 20_000);
  const answered = Date.now() - loggedIn;
  await other.response(behind, 20_000);
  const produces = arrivals.filter((a) => a.apiKey === ApiKey.Produce);
  t.equal(expiredClosed(), 0, 'the broker closed no connection for an expired session');
  t.equal(produces.length, 3, 'the three produce requests reached the broker');
  t.ok(produces.every((a) => a.intoSession < LIFETIME_MS), `the held produce (sent ${sent} ms into its session) and the muted client's reached the broker ` +
    `${produces.slice(1).map((a) => a.intoSession).join(' and ')} ms into their ${LIFETIME_MS} ms sessions`);
  t.ok(answered < LIFETIME_MS, `the held produce was answered ${answered} ms into its session`);
  const throttle = throttleOf(frame, 9);
  t.ok(throttle >= 1000, `its response tells the client to wait out the rest of the debt: throttle_time_ms ${throttle}`);
  // the client logs in again (KIP-368 re-authentication, on the same connection) and goes on in its new session
  await login(c);
  await c.response(c.send(ApiKey.Produce, 9, produceRequest('t', 0, Buffer.alloc(1000, 1), 1)), 20_000);
  const again = arrivals.filter((a) => a.apiKey === ApiKey.Produce)[3]!;
  t.ok(again.intoSession < LIFETIME_MS && expiredClosed() === 0, `after re-authenticating, the next produce reached the broker ${again.intoSession} ms into the new session`);
});

t.test('SaslAuthenticate v1: an admin request waiting at the gate is answered REQUEST_TIMED_OUT at the end of its session, not forwarded after it', async (t) => {
  const { open, login, arrivals, expiredClosed } = await setup(t, { admin: { maxInFlight: 1, maxWaitMs: 20_000 } });
  const createTopics = (name: string) => ({ ...defaultCreateTopicsRequest(), topics: [{ ...defaultCreatableTopic(), name, numPartitions: 1, replicationFactor: 1 }], timeoutMs: 30_000 });
  // another connection's CreateTopics takes the gate's one place and is never answered
  const blocker = await open();
  blocker.send(ApiKey.CreateTopics, 7, createTopics('blocker'));
  const c = await open();
  const loggedIn = await login(c, 1);
  const frame = await c.response(c.send(ApiKey.CreateTopics, 7, createTopics('waiter')), 15_000);
  const after = Date.now() - loggedIn;
  const res = CreateTopicsRes.decodeCreateTopicsResponse(new Reader(frame, 9), 7);
  t.equal(res.topics[0]?.errorCode, ErrorCode.REQUEST_TIMED_OUT, 'answered REQUEST_TIMED_OUT (retriable: the client asks again, after re-authenticating)');
  t.ok(after < LIFETIME_MS, `${after} ms into its ${LIFETIME_MS} ms session (admin.maxWaitMs is 20 s)`);
  t.equal(arrivals.filter((a) => a.apiKey === ApiKey.CreateTopics).length, 0, 'never forwarded');
  t.equal(expiredClosed(), 0, 'no connection closed');
  t.notOk(c.closed, 'the connection is open');
});
