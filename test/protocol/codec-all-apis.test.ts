// Every API key and version, request and response: a populated and a sparse message built from Kafka's schemas is
// encoded, decoded back to the same value, re-encoded to the same bytes, and parsed and re-serialized to the very
// same bytes by Kafka's own generated classes (kafka-clients, through KafkaMessageCheck.java).
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ensureKafkaJars } from '../../src/local-kafka/kafka-jars.js';
import { runJavaOk } from '../../src/local-kafka/java-tool.js';
import { loadSchemasFromJar } from '../../src/protocol/codegen/schema.js';
import { REQUEST_CODECS, RESPONSE_CODECS } from '../../src/protocol/generated/codecs.js';
import { Reader } from '../../src/protocol/reader.js';
import { Writer } from '../../src/protocol/writer.js';
import { buildMessage, type Variant } from '../support/populate.js';

const jars = await ensureKafkaJars();
const specs = loadSchemasFromJar(jars.clientsJar).filter((m) => m.validVersions.min <= m.validVersions.max);

interface Case {
  label: string;
  apiKey: number;
  kind: 'request' | 'response';
  version: number;
  bytes: Buffer;
}

const cases: Case[] = [];
const failures: string[] = [];
for (const spec of specs) {
  const codec = (spec.type === 'request' ? REQUEST_CODECS : RESPONSE_CODECS).get(spec.apiKey)!;
  for (let v = spec.validVersions.min; v <= spec.validVersions.max; v++) {
    for (const variant of ['populated', 'sparse'] as Variant[]) {
      const label = `${spec.name} v${v} ${variant}`;
      try {
        const message = buildMessage(spec, v, variant);
        const w = new Writer(64);
        codec.encode(w, v, message);
        const bytes = Buffer.from(w.finish());
        const r = new Reader(bytes);
        const decoded = codec.decode(r, v);
        r.expectEnd();
        if (!isDeepStrictEqual(decoded, message)) failures.push(`${label}: decoded value differs`);
        const w2 = new Writer(64);
        codec.encode(w2, v, decoded);
        if (!w2.finish().equals(bytes)) failures.push(`${label}: re-encoding differs`);
        cases.push({ label, apiKey: spec.apiKey, kind: spec.type, version: v, bytes });
      } catch (err) {
        failures.push(`${label}: ${(err as Error).message}`);
      }
    }
  }
}

t.test('our codec: encode, decode, re-encode is the identity for every API and version', async (t) => {
  const expected = specs.reduce((n, s) => n + 2 * (s.validVersions.max - s.validVersions.min + 1), 0);
  t.equal(cases.length, expected, `${cases.length} messages: ${specs.length} schemas, every version, populated and sparse`);
  t.same(failures, [], 'no failures');
});

t.test("Kafka's own classes read our bytes and write back the same bytes", async (t) => {
  const input = cases.map((c) => `${c.apiKey} ${c.kind} ${c.version} ${c.bytes.toString('hex')}`).join('\n') + '\n';
  const source = new URL('./KafkaMessageCheck.java', import.meta.url).pathname;
  const dir = mkdtempSync(`${tmpdir()}/kqp-java-check-`);
  const inputFile = `${dir}/input.txt`;
  writeFileSync(inputFile, input);
  try {
    const result = await runJavaOk(source, [], {
      classpath: jars.classpath,
      heapMb: 512,
      timeoutMs: 300_000,
      stdinFile: inputFile,
    });
    const lines = result.stdout.trim().split('\n');
    t.equal(lines.length, cases.length, 'one verdict per message');
    const mismatches = lines.flatMap((line, i) => (line === 'OK' ? [] : [`${cases[i]!.label}: ${line.slice(0, 300)}`]));
    t.same(mismatches, [], `Kafka agrees on all ${cases.length} messages`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
