// Reads Kafka's message schemas (common/message/*.json inside the kafka-clients jar) into a typed model.
// Shared by the code generator and by the tests that build populated messages from the same schemas.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** An inclusive version range; empty when min > max. */
export interface Versions {
  min: number;
  max: number;
}

export const NO_VERSIONS: Versions = { min: 1, max: 0 };
const OPEN = 0x7fff;

export type Primitive = 'bool' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'float64' | 'string' | 'uuid' | 'bytes' | 'records';
const PRIMITIVES = new Set<string>(['bool', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float64', 'string', 'uuid', 'bytes', 'records']);

export type FieldType =
  | { kind: 'primitive'; name: Primitive }
  | { kind: 'struct'; name: string }
  | { kind: 'array'; element: { kind: 'primitive'; name: Primitive } | { kind: 'struct'; name: string } };

export interface FieldSpec {
  name: string;
  type: FieldType;
  versions: Versions;
  nullableVersions: Versions;
  taggedVersions: Versions;
  tag: number | undefined;
  /** The schema's default, as written ("null", "-1", "0x7fffffff", "true", ...), if any. */
  default: string | undefined;
  /** Overrides the message's flexible versions for this field's own encoding (strings: RequestHeader.ClientId). */
  flexibleVersions: Versions | undefined;
  about: string;
}

export interface StructSpec {
  name: string;
  versions: Versions;
  fields: FieldSpec[];
}

export interface MessageSpec {
  name: string;
  type: 'request' | 'response';
  apiKey: number;
  validVersions: Versions;
  flexibleVersions: Versions;
  listeners: string[];
  latestVersionUnstable: boolean;
  /** The message itself (name = message name) first, then every nested and common struct, each once. */
  structs: StructSpec[];
}

export function parseVersions(text: string | undefined, fallback: Versions = NO_VERSIONS): Versions {
  if (text === undefined) return fallback;
  if (text === 'none') return NO_VERSIONS;
  let m = /^(\d+)\+$/.exec(text);
  if (m) return { min: Number(m[1]), max: OPEN };
  m = /^(\d+)-(\d+)$/.exec(text);
  if (m) return { min: Number(m[1]), max: Number(m[2]) };
  m = /^(\d+)$/.exec(text);
  if (m) return { min: Number(m[1]), max: Number(m[1]) };
  throw new Error(`bad version range ${JSON.stringify(text)}`);
}

export function intersect(a: Versions, b: Versions): Versions {
  return { min: Math.max(a.min, b.min), max: Math.min(a.max, b.max) };
}

export function isEmpty(v: Versions): boolean {
  return v.min > v.max;
}

export function contains(v: Versions, version: number): boolean {
  return version >= v.min && version <= v.max;
}

/** Removes // comments (outside strings) so the schema parses as JSON. */
export function stripComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else {
      out += c;
    }
  }
  return out;
}

interface RawField {
  name: string;
  type: string;
  versions: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  default?: string | number | boolean;
  flexibleVersions?: string;
  about?: string;
  fields?: RawField[];
}

interface RawMessage {
  name: string;
  type: string;
  apiKey?: number;
  validVersions: string;
  flexibleVersions?: string;
  listeners?: string[];
  latestVersionUnstable?: boolean;
  fields: RawField[];
  commonStructs?: { name: string; versions: string; fields: RawField[] }[];
}

function fieldType(raw: string): FieldType {
  const element = raw.startsWith('[]') ? raw.slice(2) : undefined;
  const base = (name: string) =>
    PRIMITIVES.has(name) ? ({ kind: 'primitive', name: name as Primitive } as const) : ({ kind: 'struct', name } as const);
  return element === undefined ? base(raw) : { kind: 'array', element: base(element) };
}

export function parseMessage(raw: RawMessage): MessageSpec {
  const structs: StructSpec[] = [];
  const seen = new Set<string>();
  const convert = (fields: RawField[]): FieldSpec[] =>
    fields.map((f) => {
      const type = fieldType(f.type);
      const versions = parseVersions(f.versions);
      if (f.fields) {
        const structName = type.kind === 'array' ? (type.element as { name: string }).name : (type as { name: string }).name;
        if (!seen.has(structName)) {
          seen.add(structName);
          const index = structs.length;
          structs.push({ name: structName, versions, fields: [] });
          structs[index]!.fields = convert(f.fields);
        }
      }
      return {
        name: f.name,
        type,
        versions,
        nullableVersions: parseVersions(f.nullableVersions),
        taggedVersions: parseVersions(f.taggedVersions),
        tag: f.tag,
        default: f.default === undefined ? undefined : String(f.default),
        flexibleVersions: f.flexibleVersions === undefined ? undefined : parseVersions(f.flexibleVersions),
        about: f.about ?? '',
      };
    });
  const top: StructSpec = { name: raw.name, versions: parseVersions(raw.validVersions), fields: [] };
  structs.push(top);
  seen.add(raw.name);
  top.fields = convert(raw.fields ?? []);
  for (const common of raw.commonStructs ?? []) {
    if (seen.has(common.name)) throw new Error(`${raw.name}: struct ${common.name} defined twice`);
    seen.add(common.name);
    const index = structs.length;
    structs.push({ name: common.name, versions: parseVersions(common.versions), fields: [] });
    structs[index]!.fields = convert(common.fields);
  }
  return {
    name: raw.name,
    type: raw.type as 'request' | 'response',
    apiKey: raw.apiKey!,
    validVersions: parseVersions(raw.validVersions),
    flexibleVersions: parseVersions(raw.flexibleVersions, NO_VERSIONS),
    listeners: raw.listeners ?? [],
    latestVersionUnstable: raw.latestVersionUnstable ?? false,
    structs,
  };
}

/** Extracts common/message/*.json from a kafka-clients jar (with the JDK's jar tool) and parses every request and response. */
export function loadSchemasFromJar(clientsJar: string): MessageSpec[] {
  const dir = mkdtempSync(join(tmpdir(), 'kqp-schemas-'));
  try {
    execFileSync('jar', ['xf', clientsJar, 'common/message'], { cwd: dir });
    return loadSchemasFromDir(join(dir, 'common', 'message'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function loadSchemasFromDir(dir: string): MessageSpec[] {
  const messages: MessageSpec[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const raw = JSON.parse(stripComments(readFileSync(join(dir, file), 'utf8'))) as RawMessage;
    if (raw.type === 'request' || raw.type === 'response') messages.push(parseMessage(raw));
  }
  return messages.sort((a, b) => a.apiKey - b.apiKey || a.type.localeCompare(b.type));
}
