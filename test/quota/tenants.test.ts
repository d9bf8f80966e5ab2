// Tenants: SASL principals read from the tokens that pass, source addresses by CIDR, client ids by pattern.
import t from 'tap';
import { configFromObject } from '../../src/config/load-config.js';
import { oauthbearerPrincipal, plainUsername, scramUsername, scramServerFinalOk, usernameOf, clientTokens } from '../../src/quota/sasl-principal.js';
import { TenantResolver, ANONYMOUS } from '../../src/quota/tenant-resolver.js';
import { oauthFirst } from '../support/oauth-first.js';

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
  // as Kafka's ScramMessages and ScramExtensions read them: a reserved m= attribute first; extensions a map (the last
  // value of a key wins), keys as written, the value read by Boolean.parseBoolean
  t.equal(scramUsername(Buffer.from('n,,m=x,n=alice,r=abc')), 'alice', 'a reserved attribute before the name');
  t.equal(scramUsername(Buffer.from('n,,n=alice,r=abc,TOKENAUTH=true')), 'alice', 'TOKENAUTH is not tokenauth');
  t.equal(scramUsername(Buffer.from('n,,n=alice,r=abc,tokenauth=true,tokenauth=false')), 'alice', 'the last tokenauth wins');
  t.equal(scramUsername(Buffer.from('n,,n=alice,r=abc,tokenauth=TRUE')), undefined, 'true in any case');
  t.equal(usernameOf('SCRAM-SHA-512', Buffer.from('n,,n=dave,r=1'), 'sub'), 'dave');
  t.equal(usernameOf('GSSAPI', Buffer.from('anything'), 'sub'), undefined);
  t.ok(scramServerFinalOk(Buffer.from('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=')));
  t.notOk(scramServerFinalOk(Buffer.from('e=invalid-proof')));
  t.same([clientTokens('PLAIN'), clientTokens('SCRAM-SHA-256'), clientTokens('SCRAM-SHA-512')], [1, 2, 2]);
});

t.test("OAUTHBEARER: the principal is the token's sub claim (or the claim the broker names), read from the client's first message", async (t) => {
  const now = Math.floor(Date.now() / 1000);
  t.equal(oauthbearerPrincipal(oauthFirst({ sub: 'erin', iat: now, exp: now + 3600 }), 'sub'), 'erin');
  t.equal(usernameOf('OAUTHBEARER', oauthFirst({ sub: 'erin' }), 'sub'), 'erin');
  t.equal(oauthbearerPrincipal(oauthFirst({ sub: 'svc-uuid', client_id: 'orders' }), 'client_id'), 'orders', 'sasl.oauthbearer.sub.claim.name client_id');
  t.equal(oauthbearerPrincipal(oauthFirst({ sub: 'erin' }, { authzid: 'erin', extensions: 'traceId=abc\x01', signature: 'c2lnbmF0dXJl' }), 'sub'), 'erin', 'an authorization id, an extension and a signature');
  t.equal(oauthbearerPrincipal(oauthFirst({ sub: 'erin' }, { scheme: 'bearer' }), 'sub'), 'erin', 'the scheme in any case');
  t.equal(oauthbearerPrincipal(oauthFirst({ sub: 'erin' }, { scheme: 'Basic' }), 'sub'), undefined, 'another scheme');
  t.equal(oauthbearerPrincipal(oauthFirst({ sub: 42 }), 'sub'), undefined, 'a claim that is no string');
  t.equal(oauthbearerPrincipal(oauthFirst({ name: 'erin' }), 'sub'), undefined, 'no such claim');
  t.equal(oauthbearerPrincipal(Buffer.from('n,,\x01auth=Bearer not-a-jws\x01\x01'), 'sub'), undefined, 'a token that is no JWS');
  t.equal(oauthbearerPrincipal(Buffer.from('n,,\x01auth=Bearer a.!!!.b\x01\x01'), 'sub'), undefined, 'a payload that is no base64url');
  t.equal(oauthbearerPrincipal(Buffer.from('\x01'), 'sub'), undefined, "the client's answer to an error challenge");
});

t.test('users by source address (CIDR lists), else ANONYMOUS', async (t) => {
  const r = new TenantResolver({
    user: 'address',
    addresses: new Map([['team-a', ['10.1.0.0/16', '192.168.7.7/32']], ['team-b', ['10.0.0.0/8', 'fd00::/8']]]),
    clientIdPattern: undefined,
  });
  t.equal(r.connectionUser('10.1.2.3'), 'team-a', 'the most specific network (10.1.0.0/16 within team-b\'s 10.0.0.0/8)');
  t.equal(r.connectionUser('10.2.2.3'), 'team-b');
  t.equal(r.connectionUser('::ffff:192.168.7.7'), 'team-a', 'IPv4-mapped IPv6');
  t.equal(r.connectionUser('fd12::1'), 'team-b');
  t.equal(r.connectionUser('172.16.0.1'), ANONYMOUS);
  t.notOk(r.userFromSasl);
});

t.test('overlapping networks: the most specific wins, whatever the order the config lists them in', async (t) => {
  for (const addresses of [
    new Map([['corp', ['10.0.0.0/8']], ['payments', ['10.20.0.0/16']]]),
    new Map([['payments', ['10.20.0.0/16']], ['corp', ['10.0.0.0/8']]]),
  ]) {
    const r = new TenantResolver({ user: 'address', addresses, clientIdPattern: undefined });
    t.same([r.connectionUser('10.20.1.1'), r.connectionUser('10.30.1.1')], ['payments', 'corp'], [...addresses.keys()].join(' then '));
  }
  // a YAML map with a key that looks like an integer is listed first by JavaScript whatever the file says
  const config = configFromObject({ listen: '127.0.0.1:1', upstream: '127.0.0.1:2', tenants: { user: 'address', addresses: { 'team-a': ['10.1.0.0/16'], 42: ['10.0.0.0/8'] } } });
  const r = new TenantResolver(config.tenants);
  t.same([r.connectionUser('10.1.2.3'), r.connectionUser('10.2.0.1')], ['team-a', '42'], 'a tenant named 42 does not take team-a\'s network');
});

t.test('client ids through a pattern with a named group', async (t) => {
  const r = new TenantResolver({ user: 'sasl', addresses: new Map(), clientIdPattern: /^(?<tenant>[^.]+)\./ });
  t.equal(r.clientEntity('acme.orders-service-7'), 'acme');
  t.equal(r.clientEntity('no-dot'), 'no-dot', 'no match: the client id itself');
  t.equal(r.clientEntity(null), '');
  t.equal(r.connectionUser('10.0.0.1'), ANONYMOUS, 'users from SASL: anonymous until authenticated');
  t.ok(r.userFromSasl);
});
