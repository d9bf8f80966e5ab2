// Request headers v0/v1/v2 and response headers v0/v1, the ApiVersions exception, unknown API keys, and the table.
import t from 'tap';
import { readRequestHeader, readResponseHeader, writeRequestHeader } from '../../src/protocol/headers.js';
import { apiSchema, requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/api.js';
import { Writer } from '../../src/protocol/writer.js';
import { TruncatedError } from '../../src/protocol/errors.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

t.test('request header v1 (Produce v7): key, version, correlation id, int16 client id', async (t) => {
  const frame = hex('0000 0007 0000002a 0003 616263 ffff');
  const h = readRequestHeader(frame);
  t.same({ ...h }, { apiKey: 0, apiVersion: 7, correlationId: 42, clientId: 'abc', headerVersion: 1, length: 13, unknownTaggedFields: undefined });
});

t.test('request header v2 (Produce v9+): the client id stays a non-compact string; tagged fields follow', async (t) => {
  const frame = hex('0000 000d 00000001 0002 6869 02 05 01 ff 07 00 aa');
  const h = readRequestHeader(frame);
  t.equal(h.headerVersion, 2);
  t.equal(h.clientId, 'hi');
  t.same(h.unknownTaggedFields?.map((f) => [f.tag, f.data.toString('hex')]), [[5, 'ff'], [7, '']]);
  t.equal(h.length, 18, 'the body starts after the tagged fields');
  const w = new Writer();
  writeRequestHeader(w, h);
  t.ok(w.finish().equals(frame.subarray(0, 18)), 'written back byte for byte');
});

t.test('request header v0 (ControlledShutdown v0) has no client id', async (t) => {
  t.equal(requestHeaderVersion(7, 0), 0);
  const h = readRequestHeader(hex('0007 0000 00000009 beef'));
  t.equal(h.headerVersion, 0);
  t.equal(h.clientId, null);
  t.equal(h.length, 8);
});

t.test('a null client id, and an unknown API key (passed through: client id read, length unknown)', async (t) => {
  t.equal(readRequestHeader(hex('0003 000c 00000002 ffff 00')).clientId, null);
  const h = readRequestHeader(hex('03e7 0001 00000003 0001 78 1234'));
  t.equal(h.apiKey, 999);
  t.equal(h.headerVersion, -1);
  t.equal(h.clientId, 'x');
  t.equal(h.length, -1);
});

t.test('response headers: v1 for flexible versions, v0 otherwise, and always v0 for ApiVersions', async (t) => {
  t.equal(responseHeaderVersion(3, 12), 1, 'Metadata v12');
  t.equal(responseHeaderVersion(0, 8), 0, 'Produce v8');
  t.equal(responseHeaderVersion(18, 3), 0, 'ApiVersions v3 is flexible but uses header v0');
  t.equal(responseHeaderVersion(17, 1), 0, 'SaslHandshake never flexible');
  t.equal(responseHeaderVersion(999, 1), undefined, 'unknown key');
  const v1 = readResponseHeader(hex('00000007 01 03 02 abcd 0000'), 3, 12);
  t.same([v1.correlationId, v1.headerVersion, v1.length, v1.unknownTaggedFields?.[0]?.tag], [7, 1, 9, 3]);
  const v0 = readResponseHeader(hex('00000008 0000 00'), 18, 3);
  t.same([v0.correlationId, v0.headerVersion, v0.length], [8, 0, 4]);
});

t.test('versions newer than the schema: flexible once the API is flexible', async (t) => {
  t.equal(requestHeaderVersion(3, 99), 2, 'Metadata v99');
  t.equal(responseHeaderVersion(1, 99), 1, 'Fetch v99');
});

t.test('the table knows names, versions and flexible versions', async (t) => {
  t.match(apiSchema(0), { name: 'Produce', minVersion: 3, firstFlexibleVersion: 9 });
  t.match(apiSchema(18), { name: 'ApiVersions', minVersion: 0, firstFlexibleVersion: 3 });
  t.match(apiSchema(17), { name: 'SaslHandshake', firstFlexibleVersion: -1 });
  t.equal(apiSchema(-1), undefined);
});

t.test('a truncated header names the field', async (t) => {
  t.throws(() => readRequestHeader(hex('0000 0007 0000')), TruncatedError);
  try {
    readRequestHeader(hex('0000 0007 00000001 0005 61'));
  } catch (e) {
    t.match((e as TruncatedError).message, /RequestHeader v1 field ClientId/);
    t.equal((e as TruncatedError).code, 'KQP_PROTOCOL_INVALID_LENGTH');
  }
});
