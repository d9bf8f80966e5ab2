// The sidecar's own SASL login, its messages checked against the RFCs' examples and what Kafka's clients refuse.
import t from 'tap';
import { startSasl } from '../../src/proxy/sasl-client.js';

t.test("SCRAM-SHA-256: RFC 7677's example exchange, message for message", async (t) => {
  const c = startSasl({ mechanism: 'SCRAM-SHA-256', username: 'user', password: 'pencil' }, 'rOprNGfwEbeRWgbNEkqO');
  t.equal(c.first.toString(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO', 'client-first-message');
  const final = await c.next(Buffer.from('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'));
  t.equal(final?.toString(), 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'client-final-message: the proof');
  t.equal(await c.next(Buffer.from('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')), undefined, "the server's signature verified: done");
});

t.test('SCRAM refuses a server that is not the one the password is for, or one outside what Kafka accepts', async (t) => {
  const server = 'r=abcXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
  const at = async (serverFirst: string) => startSasl({ mechanism: 'SCRAM-SHA-512', username: 'bob', password: 'x' }, 'abc').next(Buffer.from(serverFirst));
  await t.rejects(at('r=zzzXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'), /nonce does not extend/, "a nonce not the client's");
  await t.rejects(at('r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'), /nonce does not extend/, 'a nonce the server added nothing to');
  await t.rejects(at('r=abcXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000'), /iteration count 1000 outside 4096-16384/, 'fewer iterations than Kafka allows');
  await t.rejects(at('r=abcXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100000000'), /outside 4096-16384/, 'more than Kafka allows (a broker making the sidecar spin)');
  await t.rejects(at('r=abcXYZ,i=4096'), /no salt/);
  const c = startSasl({ mechanism: 'SCRAM-SHA-512', username: 'bob', password: 'x' }, 'abc');
  await c.next(Buffer.from(server));
  await t.rejects(c.next(Buffer.from(`v=${Buffer.alloc(64).toString('base64')}`)), /signature does not match/, "a signature not made with the user's key");
  const e = startSasl({ mechanism: 'SCRAM-SHA-512', username: 'bob', password: 'x' }, 'abc');
  await e.next(Buffer.from(server));
  await t.rejects(e.next(Buffer.from('e=invalid-proof')), /SCRAM refused: invalid-proof/, "the server's error");
});

t.test("SCRAM escapes ',' and '=' in the user name (RFC 5802 saslname)", async (t) => {
  t.equal(startSasl({ mechanism: 'SCRAM-SHA-512', username: 'a=b,c', password: 'x' }, 'n0').first.toString(), 'n,,n=a=3Db=2Cc,r=n0');
});

t.test('PLAIN: one message, no authorization id, then done', async (t) => {
  const c = startSasl({ mechanism: 'PLAIN', username: 'alice', password: 'alice-secret' });
  t.equal(c.first.toString(), '\0alice\0alice-secret');
  t.equal(await c.next(Buffer.alloc(0)), undefined);
});
