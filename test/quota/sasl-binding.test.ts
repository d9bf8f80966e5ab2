// When a SASL principal is bound, against a fake broker that can refuse the last step without closing the connection
// (a real one closes it): only an exchange the broker accepted to the end binds its user; v1 (SaslAuthenticate) and
// v0 (unframed tokens) exchanges alike; what a client sends behind its last token is read after the broker's verdict.
// OAUTHBEARER binds the token's sub claim, and only when the broker answers with an empty token: it refuses a token
// with an error challenge (errorCode 0, a JSON status), then fails the client's %x01 answer.
import t, { type Test } from 'tap';
import { Writer } from '../../src/protocol/writer.js';
import * as Handshake from '../../src/protocol/generated/sasl-handshake-response.js';
import * as Authenticate from '../../src/protocol/generated/sasl-authenticate-response.js';
import * as ProduceRes from '../../src/protocol/generated/produce-response.js';
import { FakeBroker, answerApiVersions, apiKeyOf, correlationOf, responseFrame, proxyBefore } from '../support/fake-broker.js';
import { API_VERSIONS_V3, RawClient, encodeRequest } from '../support/raw-client.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import type { ApiVersionsResponse } from '../../src/protocol/generated/api-versions-response.js';
import { produceRequest } from '../support/requests.js';
import { oauthFirst } from '../support/oauth-first.js';
import { EMPTY } from '../../src/protocol/constants.js';

const encode = (f: (w: Writer) => void) => {
  const w = new Writer();
  f(w);
  return Buffer.from(w.finish());
};

/** A broker whose SCRAM/PLAIN exchange answers `verdicts` in turn (true: accept that token). */
async function setup(t: Test, verdicts: boolean[], rawV0 = false, quotas?: object[]) {
  let step = 0;
  let raw = 0;
  let mechanism = '';
  const broker = new FakeBroker((frame, socket) => {
    if (raw > 0) {
      raw--;
      return [Buffer.from([0, 0, 0, 0])]; // an empty unframed server token
    }
    const id = correlationOf(frame);
    const key = apiKeyOf(frame);
    const version = frame.readInt16BE(6);
    if (key === 17) {
      mechanism = frame.includes(Buffer.from('OAUTHBEARER')) ? 'OAUTHBEARER' : 'other';
      if (rawV0) raw = 1;
      return [responseFrame(id, encode((w) => Handshake.encodeSaslHandshakeResponse(w, version, { ...Handshake.defaultSaslHandshakeResponse(), mechanisms: ['PLAIN', 'SCRAM-SHA-512'] })))];
    }
    if (key === 36 && mechanism === 'OAUTHBEARER') {
      const ok = verdicts[step++] ?? false;
      const refused = step > 1; // the client's %x01 after an error challenge
      const body = { ...Authenticate.defaultSaslAuthenticateResponse(), errorCode: refused ? 58 : 0, authBytes: ok || refused ? EMPTY : Buffer.from('{"status":"invalid_token"}') };
      return [responseFrame(id, encode((w) => Authenticate.encodeSaslAuthenticateResponse(w, version, body)), version >= 2)];
    }
    if (key === 36) {
      const ok = verdicts[step++] ?? false;
      const body = { ...Authenticate.defaultSaslAuthenticateResponse(), errorCode: ok ? 0 : 58, authBytes: Buffer.from(ok ? 'v=proof' : 'e=invalid') };
      return [responseFrame(id, encode((w) => Authenticate.encodeSaslAuthenticateResponse(w, version, body)), version >= 2)];
    }
    if (key === 0) return [responseFrame(id, encode((w) => ProduceRes.encodeProduceResponse(w, version, ProduceRes.defaultProduceResponse())), version >= 9)];
    return answerApiVersions(frame, socket);
  });
  const { proxy, port } = await proxyBefore(broker, {
    quotas: quotas ?? [{ user: 'bob', produceBytesPerSec: 1e9 }, { user: 'alice', produceBytesPerSec: 1e9 }, { user: 'erin', produceBytesPerSec: 1e9 }, { user: 'ANONYMOUS', produceBytesPerSec: 1e9 }],
  });
  const client = await RawClient.open(port);
  t.teardown(async () => {
    client.close();
    await proxy.stop();
    await broker.close();
  });
  const charged = async (tenant: string) => {
    const text = await proxy.metrics.registry.getSingleMetricAsString('kqp_tenant_bytes_total');
    const line = text.split('\n').find((l) => l.includes(`tenant="${tenant}"`) && l.includes('kind="produce"'));
    return line ? Number(line.split(' ').pop()) : 0;
  };
  return { client, charged, port, proxy };
}

const authenticate = (bytes: string) => ({ authBytes: Buffer.from(bytes), unknownTaggedFields: undefined });

for (const [name, verdicts, user] of [
  ['SCRAM accepted to the end', [true, true], 'bob'],
  ['SCRAM refused at the last step', [true, false], 'ANONYMOUS'],
] as const) {
  t.test(`${name}: produce is charged to ${user}`, async (t) => {
    const { client, charged } = await setup(t, [...verdicts]);
    await client.response(client.send(17, 1, { mechanism: 'SCRAM-SHA-512', unknownTaggedFields: undefined }));
    await client.response(client.send(36, 2, authenticate('n,,n=bob,r=clientnonce')));
    await client.response(client.send(36, 2, authenticate('c=biws,r=clientnonceservernonce,p=proof')));
    await client.response(client.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
    t.ok((await charged(user)) > 5000, `charged to ${user}`);
    t.equal(await charged(user === 'bob' ? 'ANONYMOUS' : 'bob'), 0, 'and to nobody else');
  });
}

t.test('a produce sent right behind the last SASL token, in the same write, is charged to the user the broker then binds', async (t) => {
  const { client, charged } = await setup(t, [true]);
  await client.response(client.send(17, 1, { mechanism: 'PLAIN', unknownTaggedFields: undefined }));
  client.socket.write(Buffer.concat([
    encodeRequest(36, 2, 100, authenticate('\0alice\0secret')),
    encodeRequest(0, 9, 101, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)),
  ]));
  await client.response(101);
  t.ok((await charged('alice')) > 5000, 'charged to alice: it was read once the broker had answered the token');
  t.equal(await charged('ANONYMOUS'), 0, 'not to the connection before it logged in');
});

t.test('PLAIN over v0 unframed tokens binds its user once the broker answers the token', async (t) => {
  const { client, charged } = await setup(t, [], true);
  await client.response(client.send(17, 0, { mechanism: 'PLAIN', unknownTaggedFields: undefined }));
  const token = Buffer.from('\0alice\0secret');
  const frame = Buffer.alloc(4 + token.length);
  frame.writeInt32BE(token.length, 0);
  token.copy(frame, 4);
  client.socket.write(frame);
  // The proxy binds the user as it relays the broker's reply to the token (an empty frame: 4 bytes with its prefix),
  // so once that reply has reached the client, the produce below is charged to alice.
  const replied = () => client.frames.some((f) => f.length === 4);
  const deadline = Date.now() + 10_000;
  while (!replied() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.ok(replied(), "the broker's reply to the token reached the client");
  await client.response(client.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
  t.ok((await charged('alice')) > 5000, 'charged to alice');
});

t.test('OAUTHBEARER accepted: produce is charged to the token\'s sub', async (t) => {
  const { client, charged } = await setup(t, [true]);
  await client.response(client.send(17, 1, { mechanism: 'OAUTHBEARER', unknownTaggedFields: undefined }));
  await client.response(client.send(36, 2, { authBytes: oauthFirst({ sub: 'erin', exp: Math.floor(Date.now() / 1000) + 3600 }), unknownTaggedFields: undefined }));
  await client.response(client.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
  t.ok((await charged('erin')) > 5000, 'charged to erin');
  t.equal(await charged('ANONYMOUS'), 0, 'and to nobody else');
});

t.test('OAUTHBEARER refused with an error challenge (errorCode 0): nothing is bound', async (t) => {
  const { client, charged } = await setup(t, [false]);
  await client.response(client.send(17, 1, { mechanism: 'OAUTHBEARER', unknownTaggedFields: undefined }));
  await client.response(client.send(36, 2, { authBytes: oauthFirst({ sub: 'erin', exp: Math.floor(Date.now() / 1000) + 3600 }), unknownTaggedFields: undefined }));
  // a real broker then fails the client's %x01 and closes the connection; this one keeps serving, so what the
  // connection sends next shows whom it is charged to
  await client.response(client.send(36, 2, { authBytes: Buffer.from([1]), unknownTaggedFields: undefined }));
  await client.response(client.send(0, 9, produceRequest('t', 0, Buffer.alloc(5000, 1), 1)));
  t.equal(await charged('erin'), 0, 'not to erin, whom the broker did not accept');
  t.ok((await charged('ANONYMOUS')) > 5000, 'to ANONYMOUS');
});

t.test("once the sidecar has seen a SASL login, a connection's ApiVersions before its own login is not charged (Kafka's authenticator answers it)", async (t) => {
  // ANONYMOUS, the user of every connection before it logs in, has 1 request a second: charged, the ApiVersions of a
  // few connections at once would throttle the logins of all of them
  const { client, port, proxy } = await setup(t, [true, true], false, [{ user: 'ANONYMOUS', requestsPerSec: 1 }]);
  const throttleOf = async (c: RawClient) => (decodeResponseFrame((await c.response(c.send(18, 3, API_VERSIONS_V3))).subarray(4), 18, 3).body as ApiVersionsResponse).throttleTimeMs;
  const throttled = async () => {
    const line = (await proxy.metrics.registry.getSingleMetricAsString('kqp_tenant_throttled_requests_total')).split('\n').find((l) => l.includes('tenant="ANONYMOUS"'));
    return line ? Number(line.split(' ').pop()) : 0;
  };
  // before any login nothing says the listener is a SASL one: charged, as on a PLAINTEXT listener (a new bucket holds
  // a tenth of a second of the rate, so it owes 0.9 s)
  t.ok((await throttleOf(client)) > 0, "the first connection's ApiVersions, before any login here, is charged");
  const before = await throttled();
  await client.response(client.send(17, 1, { mechanism: 'SCRAM-SHA-512', unknownTaggedFields: undefined }));
  await client.response(client.send(36, 2, authenticate('n,,n=bob,r=clientnonce')));
  await client.response(client.send(36, 2, authenticate('c=biws,r=clientnonceservernonce,p=proof')));
  const others = await Promise.all(Array.from({ length: 5 }, () => RawClient.open(port)));
  t.teardown(() => others.forEach((c) => c.close()));
  const throttles = await Promise.all(others.map(throttleOf));
  t.same(throttles, [0, 0, 0, 0, 0], 'five new connections\' ApiVersions: none throttled (before: all five, 1 s each)');
  t.equal(await throttled(), before, 'no more throttled requests for ANONYMOUS');
});
