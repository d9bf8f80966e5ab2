// Builds messages for any API and version straight from Kafka's schemas: every field present in that version set
// to a non-default value ("populated"), or every nullable field null and every array empty ("sparse").
import { contains, isEmpty, type FieldSpec, type MessageSpec, type Primitive } from '../../src/protocol/codegen/schema.js';
import { camelCase } from '../../src/protocol/codegen/emit-message.js';
import { ZERO_UUID, EMPTY } from '../../src/protocol/constants.js';

export type Variant = 'populated' | 'sparse';

/** Deterministic pseudo-random numbers (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function defaultValue(f: FieldSpec, nullable: boolean): unknown {
  const t = f.type;
  if (t.kind === 'array') return f.default === 'null' ? null : [];
  if (t.kind === 'struct') return f.default === 'null' ? null : undefined; // undefined: build a default struct
  switch (t.name) {
    case 'bool':
      return f.default === 'true';
    case 'string':
      return f.default === 'null' ? null : (f.default ?? '');
    case 'uuid':
      return ZERO_UUID;
    case 'bytes':
      return f.default === 'null' ? null : EMPTY;
    case 'records':
      return nullable ? null : EMPTY;
    case 'int64':
      return BigInt(f.default ?? '0');
    default:
      return f.default === undefined ? 0 : Number(f.default);
  }
}

function primitiveValue(p: Primitive, rnd: () => number): unknown {
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  switch (p) {
    case 'bool':
      return true;
    case 'int8':
      return int(1, 127);
    case 'int16':
      return int(1, 32767);
    case 'uint16':
      return int(1, 65535);
    case 'int32':
      return int(1, 2 ** 31 - 1);
    case 'uint32':
      return int(1, 2 ** 32 - 1);
    case 'int64':
      return BigInt(int(1, 2 ** 31)) * 4294967296n + BigInt(int(0, 2 ** 32 - 1));
    case 'float64':
      return int(1, 1000) / 8;
    case 'string':
      return `s${int(0, 1e9).toString(36)}-ü`;
    case 'uuid':
    case 'bytes':
    case 'records': {
      const b = Buffer.alloc(p === 'uuid' ? 16 : int(1, 40));
      for (let i = 0; i < b.length; i++) b[i] = int(0, 255);
      b[0] = b[0] || 1;
      return b;
    }
  }
}

export function buildMessage(spec: MessageSpec, version: number, variant: Variant, seed = 1): Record<string, unknown> {
  const rnd = prng(seed * 1000 + version);
  const structs = new Map(spec.structs.map((s) => [s.name, s]));
  const flexible = contains(spec.flexibleVersions, version);

  const build = (name: string, depth: number, fill: boolean): Record<string, unknown> => {
    const struct = structs.get(name)!;
    const out: Record<string, unknown> = {};
    for (const f of struct.fields) {
      const present = contains(f.versions, version);
      const nullable = contains(f.nullableVersions, version);
      const key = camelCase(f.name);
      if (!present || !fill) {
        const d = defaultValue(f, !isEmpty(f.nullableVersions) || f.default === 'null');
        out[key] = d === undefined && f.type.kind === 'struct' ? build(f.type.name, depth + 1, false) : d;
        continue;
      }
      if (variant === 'sparse' && nullable) {
        out[key] = null;
        continue;
      }
      const t = f.type;
      if (t.kind === 'array') {
        const n = variant === 'sparse' || depth > 4 ? 0 : 2;
        out[key] = Array.from({ length: n }, () =>
          t.element.kind === 'struct' ? build(t.element.name, depth + 1, true) : primitiveValue(t.element.name, rnd),
        );
      } else if (t.kind === 'struct') {
        out[key] = build(t.name, depth + 1, depth <= 4);
      } else {
        out[key] = primitiveValue(t.name, rnd);
      }
    }
    if (!isEmpty(spec.flexibleVersions)) out.unknownTaggedFields = undefined;
    return out;
  };

  const message = build(spec.name, 0, true);
  // an unknown tagged field (tag 90, above any known tag) must survive the round trip byte for byte
  if (flexible && variant === 'populated') message.unknownTaggedFields = [{ tag: 90, data: Buffer.from([1, 2, 3, 0xff]) }];
  return message;
}
