// The sidecar's own Metadata lookups against an in-process fake SASL broker: their connections are kept between
// lookups (one connection and one login for many lookups), at most MAX_KEPT_CONNECTIONS of them, each closed after it
// goes unused for the idle limit, or once its login's session lifetime is near its end; a kept connection the broker
// closed is replaced within the same lookup; a lookup that times out is not retried; a reload's forget() makes the
// next lookup open a new connection (with the new settings).
import t, { type Test } from 'tap';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writer } from '../../src/protocol/writer.js';
import { decodeRequestFrame } from '../../src/protocol/message.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import * as MetadataRes from '../../src/protocol/generated/metadata-response.js';
import * as HandshakeRes from '../../src/protocol/generated/sasl-handshake-response.js';
import * as AuthRes from '../../src/protocol/generated/sasl-authenticate-response.js';
import { MAX_KEPT_CONNECTIONS, MetadataLookups } from '../../src/proxy/metadata-lookup.js';
import { UpstreamDialer } from '../../src/proxy/upstream-dialer.js';
import { FakeBroker, correlationOf, responseFrame } from '../support/fake-broker.js';

const encode = (f: (w: Writer) => void) => {
  const w = new Writer();
  f(w);
  return Buffer.from(w.finish());
};

/**
 * A broker whose listener wants a PLAIN login first, as Kafka's SASL listeners do; it counts the connections that
 * reached it and the logins, can give a session lifetime, and can stop answering Metadata.
 */
async function saslBroker(t: Test) {
  const state = { connections: new Set<Socket>(), open: new Set<Socket>(), logins: 0, metadata: 0, lifetimeMs: 0n, silent: false, closeAtNextMetadata: false };
  const loggedIn = new WeakSet<Socket>();
  const broker = new FakeBroker((frame, socket) => {
    if (!state.connections.has(socket)) {
      state.connections.add(socket);
      state.open.add(socket);
      socket.on('close', () => state.open.delete(socket));
    }
    const id = correlationOf(frame);
    const d = decodeRequestFrame(frame.subarray(4));
    switch (d.header.apiKey) {
      case ApiKey.SaslHandshake:
        return [responseFrame(id, encode((w) => HandshakeRes.encodeSaslHandshakeResponse(w, 1, { ...HandshakeRes.defaultSaslHandshakeResponse(), mechanisms: ['PLAIN'] })))];
      case ApiKey.SaslAuthenticate:
        state.logins++;
        loggedIn.add(socket);
        return [responseFrame(id, encode((w) => AuthRes.encodeSaslAuthenticateResponse(w, 2, { ...AuthRes.defaultSaslAuthenticateResponse(), sessionLifetimeMs: state.lifetimeMs })), true)];
      case ApiKey.Metadata: {
        if (!loggedIn.has(socket)) {
          socket.destroy();
          return undefined;
        }
        state.metadata++;
        if (state.silent) return undefined;
        if (state.closeAtNextMetadata) {
          state.closeAtNextMetadata = false;
          socket.destroy();
          return undefined;
        }
        const topics = (d.body as { topics: { name: string }[] }).topics.map((x) => ({ ...MetadataRes.defaultMetadataResponseTopic(), name: x.name, partitions: [MetadataRes.defaultMetadataResponsePartition()] }));
        return [responseFrame(id, encode((w) => MetadataRes.encodeMetadataResponse(w, 12, { ...MetadataRes.defaultMetadataResponse(), topics })), true)];
      }
      default:
        return undefined;
    }
  });
  const port = await broker.listen();
  const refusals: string[] = [];
  const dialer = new UpstreamDialer({ host: '127.0.0.1', port, tls: undefined, sasl: { mechanism: 'PLAIN', username: 'sidecar', password: 'secret' } }, (reason) => refusals.push(reason));
  t.teardown(() => broker.close());
  /** Resolves once `n` of the connections that reached the broker are open (the side that closes them is the sidecar). */
  const openBecomes = async (n: number) => {
    while (state.open.size !== n) await sleep(10);
  };
  return { state, dialer, refusals, openBecomes };
}

const answered = (r: MetadataRes.MetadataResponse | undefined) => r?.topics[0]?.name === 'x';

t.test('one connection and one login for lookups one after another', async (t) => {
  const { state, dialer, refusals } = await saslBroker(t);
  const lookups = new MetadataLookups(dialer);
  t.teardown(() => lookups.stop());
  for (let i = 0; i < 20; i++) t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), `lookup ${i + 1} answered`);
  t.equal(state.connections.size, 1, 'one connection');
  t.equal(state.logins, 1, 'one login');
  t.same(refusals, [], 'no refusal');
});

t.test(`lookups at once each get a connection; ${MAX_KEPT_CONNECTIONS} are kept, the others closed`, async (t) => {
  const { state, dialer, openBecomes } = await saslBroker(t);
  const lookups = new MetadataLookups(dialer);
  t.teardown(() => lookups.stop());
  const at = 10;
  const answers = await Promise.all(Array.from({ length: at }, () => lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)));
  t.equal(answers.filter(answered).length, at, `${at} at once, all answered`);
  t.equal(state.connections.size, at, `${at} connections`);
  await openBecomes(MAX_KEPT_CONNECTIONS);
  t.pass(`the broker sees ${MAX_KEPT_CONNECTIONS} of them left open`);
  for (let i = 0; i < 10; i++) await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000);
  t.equal(state.connections.size, at, 'ten more lookups opened no connection');
  t.equal(state.logins, at, 'and logged in no more');
});

t.test('a kept connection is closed once unused for the idle limit; the next lookup opens one', async (t) => {
  const { state, dialer, openBecomes } = await saslBroker(t);
  const lookups = new MetadataLookups(dialer, 200);
  t.teardown(() => lookups.stop());
  t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), 'answered');
  t.equal(state.open.size, 1, 'kept');
  await openBecomes(0);
  t.pass('closed by the sidecar once idle');
  t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), 'the next lookup answered');
  t.equal(state.connections.size, 2, 'on a new connection');
});

t.test('a kept connection the broker closed is replaced within the same lookup', async (t) => {
  const { state, dialer } = await saslBroker(t);
  const lookups = new MetadataLookups(dialer);
  t.teardown(() => lookups.stop());
  t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), 'answered');
  // the broker closes it as the next request comes (connections.max.idle.ms reached as it was sent, a restart)
  state.closeAtNextMetadata = true;
  t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), 'the next lookup answered');
  t.equal(state.metadata, 3, 'asked twice');
  t.equal(state.connections.size, 2, 'the second time on a new connection');
  t.equal(state.logins, 2, 'logged in again');
});

t.test("a login's session lifetime (connections.max.reauth.ms) ends its connection's use before the broker would close it", async (t) => {
  const { state, dialer } = await saslBroker(t);
  state.lifetimeMs = 2000n;
  const lookups = new MetadataLookups(dialer);
  t.teardown(() => lookups.stop());
  t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), 'answered');
  t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), 'answered at once');
  t.equal(state.connections.size, 1, 'on the same connection');
  await sleep(2000);
  t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), 'answered after the lifetime');
  t.equal(state.connections.size, 2, 'on a new connection');
  t.equal(state.logins, 2, 'with a new login');
});

t.test('a lookup that times out is not retried and its connection is not kept', async (t) => {
  const { state, dialer, openBecomes } = await saslBroker(t);
  const lookups = new MetadataLookups(dialer);
  t.teardown(() => lookups.stop());
  t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), 'answered');
  state.silent = true;
  const started = performance.now();
  t.equal(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 300), undefined, 'no answer');
  t.ok(performance.now() - started >= 290, 'after its time limit');
  t.equal(state.metadata, 2, 'asked once');
  await openBecomes(0);
  t.pass('its connection closed');
  state.silent = false;
  t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), 'the next lookup answered');
  t.equal(state.connections.size, 2, 'on a new connection');
});

t.test("forget() (a reload): the kept connection is closed, and one under way then is not kept", async (t) => {
  const { state, dialer, openBecomes } = await saslBroker(t);
  const lookups = new MetadataLookups(dialer);
  t.teardown(() => lookups.stop());
  t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), 'answered');
  lookups.forget();
  await openBecomes(0);
  t.pass('the kept connection closed');
  const during = lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000);
  lookups.forget();
  t.ok(answered(await during), 'a lookup under way at the reload answered');
  await openBecomes(0);
  t.pass('its connection not kept');
  t.ok(answered(await lookups.lookUp([{ name: 'x' }], 'kqp-test', 2000)), 'the next lookup answered');
  t.equal(state.connections.size, 3, 'each on a new connection');
});
