// Fuzzing seeds from Kafka's schemas: a populated request and response frame for every API and version.
import { ensureKafkaJars } from '../../src/local-kafka/kafka-jars.js';
import { loadSchemasFromJar } from '../../src/protocol/codegen/schema.js';
import { REQUEST_CODECS, RESPONSE_CODECS } from '../../src/protocol/generated/codecs.js';
import { requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/api.js';
import { writeRequestHeader, writeResponseHeader } from '../../src/protocol/headers.js';
import { Writer } from '../../src/protocol/writer.js';
import { buildMessage } from './populate.js';
import type { Seed } from './codec-fuzzer.js';

export async function seedsFromSchemas(): Promise<Seed[]> {
  const jars = await ensureKafkaJars();
  const seeds: Seed[] = [];
  for (const spec of loadSchemasFromJar(jars.clientsJar)) {
    const codec = (spec.type === 'request' ? REQUEST_CODECS : RESPONSE_CODECS).get(spec.apiKey);
    if (!codec) continue;
    for (let v = spec.validVersions.min; v <= spec.validVersions.max; v++) {
      const w = new Writer();
      if (spec.type === 'request') {
        const headerVersion = requestHeaderVersion(spec.apiKey, v)!;
        writeRequestHeader(w, { apiKey: spec.apiKey, apiVersion: v, correlationId: 7, clientId: 'fuzz', headerVersion, unknownTaggedFields: undefined });
      } else {
        writeResponseHeader(w, 7, responseHeaderVersion(spec.apiKey, v)!);
      }
      codec.encode(w, v, buildMessage(spec, v, 'populated'));
      seeds.push({ direction: spec.type, apiKey: spec.apiKey, apiVersion: v, frame: Buffer.from(w.finish()) });
    }
  }
  return seeds;
}
