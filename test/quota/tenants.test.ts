// Tenants: SASL principals read from the tokens that pass, source addresses by CIDR, client ids by pattern.
import t from 'tap';
import { plainUsername, scramUsername, scramServerFinalOk, usernameOf, clientTokens } from '../../src/quota/sasl-principal.js';
import { TenantResolver, ANONYMOUS } from '../../src/quota/tenant-resolver.js';

t.test('PLAIN and SCRAM usernames', async (t) => {
  t.equal(plainUsername(Buffer.from('\0alice\0secret')), 'alice');
  t.equal(plainUsername(Buffer.from('alice\0alice\0secret')), 'alice', 'with an authorization id');
  t.equal(plainUsername(Buffer.from('alice-no-nul')), undefined);
  t.equal(plainUsername(Buffer.from('\0\0pw')), undefined, 'empty name');
  t.equal(scramUsername(Buffer.from('n,,n=bob,r=fyko+d2lbbFgONRv9qkxdawL')), 'bob');
  t.equal(scramUsername(Buffer.from('n,a=admin,n=b=2Co=3Db,r=abc')), 'b,o=b', 'escaped , and =');
  t.equal(scramUsername(Buffer.from('y,,n=carol,r=x')), 'carol');
  t.equal(scramUsername(Buffer.from('garbage')), undefined);
  t.equal(scramUsername(Buffer.from('n,,n=4F2s7xQ,r=abc,tokenauth=true')), undefined, 'a delegation-token login: the token id is no user (the broker makes its owner the principal)');
  t.equal(scramUsername(Buffer.from('n,,n=dave,r=abc,tokenauth=false')), 'dave');
  t.equal(usernameOf('SCRAM-SHA-512', Buffer.from('n,,n=dave,r=1')), 'dave');
  t.equal(usernameOf('GSSAPI', Buffer.from('anything')), undefined);
  t.ok(scramServerFinalOk(Buffer.from('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=')));
  t.notOk(scramServerFinalOk(Buffer.from('e=invalid-proof')));
  t.same([clientTokens('PLAIN'), clientTokens('SCRAM-SHA-256'), clientTokens('SCRAM-SHA-512')], [1, 2, 2]);
});

t.test('users by source address (CIDR lists), else ANONYMOUS', async (t) => {
  const r = new TenantResolver({
    user: 'address',
    addresses: new Map([['team-a', ['10.1.0.0/16', '192.168.7.7/32']], ['team-b', ['10.0.0.0/8', 'fd00::/8']]]),
    clientIdPattern: undefined,
  });
  t.equal(r.connectionUser('10.1.2.3'), 'team-a', 'first matching list');
  t.equal(r.connectionUser('10.2.2.3'), 'team-b');
  t.equal(r.connectionUser('::ffff:192.168.7.7'), 'team-a', 'IPv4-mapped IPv6');
  t.equal(r.connectionUser('fd12::1'), 'team-b');
  t.equal(r.connectionUser('172.16.0.1'), ANONYMOUS);
  t.notOk(r.userFromSasl);
});

t.test('client ids through a pattern with a named group', async (t) => {
  const r = new TenantResolver({ user: 'sasl', addresses: new Map(), clientIdPattern: /^(?<tenant>[^.]+)\./ });
  t.equal(r.clientEntity('acme.orders-service-7'), 'acme');
  t.equal(r.clientEntity('no-dot'), 'no-dot', 'no match: the client id itself');
  t.equal(r.clientEntity(null), '');
  t.equal(r.connectionUser('10.0.0.1'), ANONYMOUS, 'users from SASL: anonymous until authenticated');
  t.ok(r.userFromSasl);
});
