// Emits the TypeScript codec for one Kafka message schema: an interface per struct, and decode/encode functions that
// follow Kafka's own generator (MessageDataGenerator) field by field, version by version.
import {
  intersect,
  isEmpty,
  type FieldSpec,
  type MessageSpec,
  type Primitive,
  type StructSpec,
  type Versions,
} from './schema.js';

const RESERVED = new Set(['Buffer', 'Reader', 'Writer', 'TaggedField', 'Error', 'Array', 'Map', 'Set', 'Record', 'Object',
  'String', 'Number', 'Boolean', 'Date', 'Promise', 'Symbol', 'BigInt']);

export function kebabCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/([A-Z])([A-Z][a-z])/g, '$1-$2').toLowerCase();
}

export function camelCase(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** The TypeScript name of a struct (renamed when it would shadow a global or a runtime import). */
export function typeName(struct: string): string {
  return RESERVED.has(struct) ? `${struct}Struct` : struct;
}

/** Range of versions in which a field is read and written in place (present, not tagged). */
function regularVersions(f: FieldSpec): Versions {
  if (isEmpty(f.taggedVersions)) return f.versions;
  if (f.taggedVersions.min === f.versions.min) return { min: 1, max: 0 };
  if (f.taggedVersions.max < f.versions.max) throw new Error(`${f.name}: tagged versions must be a suffix of its versions`);
  return { min: f.versions.min, max: f.taggedVersions.min - 1 };
}

/** A JS condition on `v` for membership in `range`, given that v always lies in `bounds`. */
function cond(range: Versions, bounds: Versions): string {
  const r = intersect(range, bounds);
  if (isEmpty(r)) return 'false';
  const parts: string[] = [];
  if (r.min > bounds.min) parts.push(`v >= ${r.min}`);
  if (r.max < bounds.max) parts.push(`v <= ${r.max}`);
  return parts.length ? parts.join(' && ') : 'true';
}

function numericLiteral(type: Primitive, text: string | undefined): string {
  if (type === 'int64') return `${BigInt(text ?? '0')}n`;
  if (text === undefined) return '0';
  const n = Number(text);
  if (!Number.isFinite(n)) throw new Error(`bad numeric default ${text}`);
  return String(n);
}


export class MessageEmitter {
  private readonly out: string[] = [];
  /** Versions in which the struct being emitted can occur (its own versions within the message's). */
  private bounds: Versions;
  private readonly flexible: Versions;
  private readonly structs: Map<string, StructSpec>;
  private readonly arrayStructs = new Set<string>();
  private readonly defaultCheckedStructs = new Set<string>();

  constructor(private readonly msg: MessageSpec, private readonly source: string) {
    this.bounds = msg.validVersions;
    this.flexible = intersect(msg.flexibleVersions, msg.validVersions);
    this.structs = new Map(msg.structs.map((s) => [s.name, s]));
    for (const s of msg.structs) {
      for (const f of s.fields) {
        if (f.type.kind === 'array' && f.type.element.kind === 'struct') this.arrayStructs.add(f.type.element.name);
      }
    }
    // structs compared with their default (tagged struct fields), and every struct they contain
    const mark = (name: string): void => {
      if (this.defaultCheckedStructs.has(name)) return;
      this.defaultCheckedStructs.add(name);
      for (const f of this.struct(name).fields) {
        if (f.type.kind === 'struct') mark(f.type.name);
      }
    };
    for (const s of msg.structs) {
      for (const f of s.fields) if (!isEmpty(f.taggedVersions) && f.type.kind === 'struct' && f.default !== 'null') mark(f.type.name);
    }
  }

  private inStruct(s: StructSpec, emit: () => void): void {
    this.bounds = s.name === this.msg.name ? this.msg.validVersions : intersect(s.versions, this.msg.validVersions);
    emit();
    this.bounds = this.msg.validVersions;
  }

  private struct(name: string): StructSpec {
    const s = this.structs.get(name);
    if (!s) throw new Error(`${this.msg.name}: unknown struct ${name}`);
    return s;
  }

  private line(text = ''): void {
    this.out.push(text);
  }

  private hasFlexible(): boolean {
    return !isEmpty(this.flexible);
  }

  private flexCond(f?: FieldSpec): string {
    return cond(f?.flexibleVersions ?? this.msg.flexibleVersions, this.bounds);
  }

  private nullable(f: FieldSpec): boolean {
    return !isEmpty(intersect(f.nullableVersions, this.bounds)) || f.default === 'null';
  }

  private tsType(f: FieldSpec): string {
    const t = f.type;
    let base: string;
    if (t.kind === 'array') base = `${t.element.kind === 'struct' ? typeName(t.element.name) : this.primitiveTs(t.element.name)}[]`;
    else if (t.kind === 'struct') base = typeName(t.name);
    else base = this.primitiveTs(t.name);
    return this.nullable(f) ? `${base} | null` : base;
  }

  private primitiveTs(p: Primitive): string {
    switch (p) {
      case 'bool':
        return 'boolean';
      case 'int64':
        return 'bigint';
      case 'string':
        return 'string';
      case 'uuid':
      case 'bytes':
      case 'records':
        return 'Buffer';
      default:
        return 'number';
    }
  }

  /** The field's default value as an expression (a fresh object for structs and arrays). */
  private defaultExpr(f: FieldSpec): string {
    const t = f.type;
    if (t.kind === 'array') return f.default === 'null' ? 'null' : '[]';
    if (t.kind === 'struct') return f.default === 'null' ? 'null' : `default${typeName(t.name)}()`;
    switch (t.name) {
      case 'bool':
        return f.default === 'true' ? 'true' : 'false';
      case 'string':
        return f.default === 'null' ? 'null' : JSON.stringify(f.default ?? '');
      case 'uuid':
        return 'ZERO_UUID';
      case 'bytes':
        return f.default === 'null' ? 'null' : 'EMPTY';
      case 'records':
        return this.nullable(f) ? 'null' : 'EMPTY';
      default:
        return numericLiteral(t.name, f.default);
    }
  }

  /** A condition that is true when the value differs from its default (Kafka writes a tagged field only then). */
  private nonDefault(f: FieldSpec, x: string): string {
    const t = f.type;
    const nullable = this.nullable(f);
    if (t.kind === 'array' || (t.kind === 'primitive' && t.name === 'bytes')) {
      if (f.default === 'null') return `${x} !== null`;
      return nullable ? `(${x} === null || ${x}.length !== 0)` : `${x}.length !== 0`;
    }
    if (t.kind === 'struct') {
      if (f.default === 'null') return `${x} !== null`;
      return nullable ? `(${x} === null || !isDefault${typeName(t.name)}(${x}))` : `!isDefault${typeName(t.name)}(${x})`;
    }
    switch (t.name) {
      case 'uuid':
        return `!${x}.equals(ZERO_UUID)`;
      case 'records':
        return `${x} !== null`;
      default:
        return `${x} !== ${this.defaultExpr(f)}`;
    }
  }

  private fieldPath(s: StructSpec, f: FieldSpec): string {
    return JSON.stringify(s.name === this.msg.name ? f.name : `${s.name}.${f.name}`);
  }

  /** Expression that reads the field at version v (the field is known to be present and in place). */
  private readExpr(s: StructSpec, f: FieldSpec): string {
    const t = f.type;
    const path = this.fieldPath(s, f);
    const compact = this.flexCond(f);
    const nul = cond(f.nullableVersions, this.bounds);
    const bang = this.nullable(f) ? '' : '!';
    if (t.kind === 'array') {
      if (t.element.kind === 'struct') return `read${typeName(t.element.name)}Array(r, v, ${path}, ${compact}, ${nul})${bang}`;
      const method = { int8: 'int8Array', int16: 'int16Array', int32: 'int32Array', int64: 'int64Array', uuid: 'uuidArray', string: 'stringArray' }[
        t.element.name as string
      ];
      if (!method) throw new Error(`${this.msg.name}.${f.name}: arrays of ${t.element.name} are not supported`);
      return `r.${method}(${path}, ${compact}, ${nul})${bang}`;
    }
    if (t.kind === 'struct') {
      const read = `read${typeName(t.name)}(r, v)`;
      if (nul === 'false') return read;
      return `(${nul} ? (r.int8(${path}) < 0 ? null : ${read}) : ${read})`;
    }
    const pick = (a: string, b: string) => (compact === 'true' ? a : compact === 'false' ? b : `(${compact} ? ${a} : ${b})`);
    switch (t.name) {
      case 'string':
        return `${pick(`r.compactString(${path}, ${nul})`, `r.string(${path}, ${nul})`)}${bang}`;
      case 'bytes':
      case 'records':
        return `${pick(`r.compactBytes(${path}, ${nul})`, `r.bytes(${path}, ${nul})`)}${bang}`;
      default:
        return `r.${t.name}(${path})`;
    }
  }

  /** Statements that write the field's value `x` at version v. */
  private writeStmt(f: FieldSpec, x: string, indent: string): string[] {
    const t = f.type;
    const compact = this.flexCond(f);
    const pick = (a: string, b: string) => (compact === 'true' ? a : compact === 'false' ? b : `${compact} ? ${a} : ${b}`);
    if (t.kind === 'array') {
      if (t.element.kind === 'struct') return [`${indent}write${typeName(t.element.name)}Array(w, v, ${x}, ${compact});`];
      const method = `${t.element.name}Array`;
      return [`${indent}w.${method}(${x}, ${compact});`];
    }
    if (t.kind === 'struct') {
      const nul = cond(f.nullableVersions, this.bounds);
      const write = `write${typeName(t.name)}(w, v, ${x}${this.nullable(f) ? '!' : ''});`;
      if (nul === 'false') return [`${indent}${write}`];
      if (nul === 'true') {
        return [
          `${indent}if (${x} === null) w.int8(-1);`,
          `${indent}else {`,
          `${indent}  w.int8(1);`,
          `${indent}  write${typeName(t.name)}(w, v, ${x});`,
          `${indent}}`,
        ];
      }
      return [
        `${indent}if (${nul}) {`,
        `${indent}  if (${x} === null) w.int8(-1);`,
        `${indent}  else {`,
        `${indent}    w.int8(1);`,
        `${indent}    write${typeName(t.name)}(w, v, ${x});`,
        `${indent}  }`,
        `${indent}} else ${write}`,
      ];
    }
    switch (t.name) {
      case 'string':
        return [`${indent}${pick(`w.compactString(${x})`, `w.string(${x})`)};`];
      case 'bytes':
      case 'records':
        return [`${indent}${pick(`w.compactBytes(${x})`, `w.bytes(${x})`)};`];
      default:
        return [`${indent}w.${t.name}(${x});`];
    }
  }

  private emitInterface(s: StructSpec): void {
    const name = typeName(s.name);
    this.line(s.name === this.msg.name
      ? `/** ${this.msg.name} (API key ${this.msg.apiKey}, versions ${this.msg.validVersions.min}-${this.msg.validVersions.max}). */`
      : `/** ${s.name} (in ${this.msg.name}). */`);
    this.line(`export interface ${name} {`);
    for (const f of s.fields) {
      const v = intersect(f.versions, this.bounds);
      const tagged = isEmpty(f.taggedVersions) ? '' : `, tag ${f.tag} in ${describe(f.taggedVersions)}`;
      this.line(`  /** ${f.about.replace(/\*\//g, '* /')} (versions ${describe(v)}${tagged}) */`);
      this.line(`  ${camelCase(f.name)}: ${this.tsType(f)};`);
    }
    if (this.hasFlexible()) {
      this.line('  /** Tagged fields this schema does not know, kept to be written back byte for byte. */');
      this.line('  unknownTaggedFields: TaggedField[] | undefined;');
    }
    this.line('}');
    this.line();
  }

  private emitDefault(s: StructSpec): void {
    const name = typeName(s.name);
    this.line(`export function default${name}(): ${name} {`);
    this.line('  return {');
    for (const f of s.fields) this.line(`    ${camelCase(f.name)}: ${this.defaultExpr(f)},`);
    if (this.hasFlexible()) this.line('    unknownTaggedFields: undefined,');
    this.line('  };');
    this.line('}');
    this.line();
  }

  private emitIsDefault(s: StructSpec): void {
    const name = typeName(s.name);
    this.line(`function isDefault${name}(m: ${name}): boolean {`);
    const checks = s.fields.map((f) => `!(${this.nonDefault(f, `m.${camelCase(f.name)}`)})`);
    if (this.hasFlexible()) checks.push('m.unknownTaggedFields === undefined');
    this.line(`  return ${checks.length ? checks.join(' &&\n    ') : 'true'};`);
    this.line('}');
    this.line();
  }

  private emitRead(s: StructSpec): void {
    const name = typeName(s.name);
    const tagged = s.fields.filter((f) => !isEmpty(intersect(f.taggedVersions, this.bounds)));
    this.line(`function read${name}(r: Reader, v: number): ${name} {`);
    this.line(`  const m: ${name} = {`);
    for (const f of s.fields) {
      const c = cond(regularVersions(f), this.bounds);
      const value = c === 'false' ? this.defaultExpr(f) : c === 'true' ? this.readExpr(s, f) : `${c} ? ${this.readExpr(s, f)} : ${this.defaultExpr(f)}`;
      this.line(`    ${camelCase(f.name)}: ${value},`);
    }
    if (this.hasFlexible()) this.line('    unknownTaggedFields: undefined,');
    this.line('  };');
    const flex = cond(this.msg.flexibleVersions, this.bounds);
    if (flex !== 'false') {
      const path = JSON.stringify(s.name === this.msg.name ? 'TaggedFields' : `${s.name}.TaggedFields`);
      this.line(flex === 'true' ? '  {' : `  if (${flex}) {`);
      this.line(`    const count = r.uvarint(${path});`);
      this.line('    for (let i = 0; i < count; i++) {');
      this.line(`      const tag = r.uvarint(${path});`);
      if (tagged.length === 0) {
        this.line(`      (m.unknownTaggedFields ??= []).push({ tag, data: r.taggedData(${path}) });`);
      } else {
        this.line(`      const size = r.uvarint(${path});`);
        this.line(`      r.need(size, ${path});`);
        this.line('      const end = r.offset + size;');
        let first = true;
        for (const f of [...tagged].sort((a, b) => a.tag! - b.tag!)) {
          const c = cond(f.taggedVersions, this.bounds);
          this.line(`      ${first ? '' : '} else '}if (tag === ${f.tag}${c === 'true' ? '' : ` && ${c}`}) {`);
          this.line('        const outer = r.end;');
          this.line('        r.end = end;');
          this.line(`        m.${camelCase(f.name)} = ${this.readExpr(s, f)};`);
          this.line(`        r.expectAt(end, ${this.fieldPath(s, f)});`);
          this.line('        r.end = outer;');
          first = false;
        }
        this.line('      } else {');
        this.line('        (m.unknownTaggedFields ??= []).push({ tag, data: r.buf.subarray(r.offset, end) });');
        this.line('        r.offset = end;');
        this.line('      }');
      }
      this.line('    }');
      this.line('  }');
    }
    this.line('  return m;');
    this.line('}');
    this.line();
  }

  private emitWrite(s: StructSpec): void {
    const name = typeName(s.name);
    const tagged = s.fields.filter((f) => !isEmpty(intersect(f.taggedVersions, this.bounds))).sort((a, b) => a.tag! - b.tag!);
    this.line(`function write${name}(w: Writer, v: number, m: ${name}): void {`);
    for (const f of s.fields) {
      const c = cond(regularVersions(f), this.bounds);
      if (c === 'false') continue;
      const x = `m.${camelCase(f.name)}`;
      if (c === 'true') this.out.push(...this.writeStmt(f, x, '  '));
      else {
        this.line(`  if (${c}) {`);
        this.out.push(...this.writeStmt(f, x, '    '));
        this.line('  }');
      }
    }
    const flex = cond(this.msg.flexibleVersions, this.bounds);
    if (flex !== 'false') {
      this.line(flex === 'true' ? '  {' : `  if (${flex}) {`);
      this.line(`    ${tagged.length ? 'let' : 'const'} count = m.unknownTaggedFields?.length ?? 0;`);
      tagged.forEach((f, i) => {
        const c = cond(f.taggedVersions, this.bounds);
        this.line(`    const tagged${i} = ${c === 'true' ? '' : `${c} && `}${this.nonDefault(f, `m.${camelCase(f.name)}`)};`);
        this.line(`    if (tagged${i}) count++;`);
      });
      this.line('    w.uvarint(count);');
      let from = 0;
      tagged.forEach((f, i) => {
        this.line(`    w.unknownTagged(m.unknownTaggedFields, ${from}, ${f.tag});`);
        this.line(`    if (tagged${i}) {`);
        this.line(`      w.uvarint(${f.tag});`);
        this.line('      const at = w.beginSized();');
        this.out.push(...this.writeStmt(f, `m.${camelCase(f.name)}`, '      '));
        this.line('      w.endSized(at);');
        this.line('    }');
        from = f.tag!;
      });
      this.line(`    w.unknownTagged(m.unknownTaggedFields, ${from}, Infinity);`);
      this.line('  }');
    }
    this.line('}');
    this.line();
  }

  private emitArrayCodec(structName: string): void {
    const name = typeName(structName);
    this.line(`function read${name}Array(r: Reader, v: number, field: string, compact: boolean, nullable: boolean): ${name}[] | null {`);
    this.line('  const n = r.arrayLength(field, compact, nullable);');
    this.line('  if (n < 0) return null;');
    this.line(`  const a: ${name}[] = [];`);
    this.line(`  for (let i = 0; i < n; i++) a.push(read${name}(r, v));`);
    this.line('  return a;');
    this.line('}');
    this.line();
    this.line(`function write${name}Array(w: Writer, v: number, a: readonly ${name}[] | null, compact: boolean): void {`);
    this.line('  w.arrayLength(a === null ? null : a.length, compact);');
    this.line(`  if (a) for (const x of a) write${name}(w, v, x);`);
    this.line('}');
    this.line();
  }

  emit(): string {
    const m = this.msg;
    const name = typeName(m.name);
    this.line(`export const API_KEY = ${m.apiKey};`);
    this.line(`export const MIN_VERSION = ${m.validVersions.min};`);
    this.line(`export const MAX_VERSION = ${m.validVersions.max};`);
    this.line(`/** First flexible version (compact encodings, tagged fields), or -1. */`);
    this.line(`export const FIRST_FLEXIBLE_VERSION = ${isEmpty(this.flexible) ? -1 : this.flexible.min};`);
    this.line();
    for (const s of m.structs) this.inStruct(s, () => this.emitInterface(s));
    for (const s of m.structs) this.inStruct(s, () => this.emitDefault(s));
    for (const s of m.structs) if (this.defaultCheckedStructs.has(s.name)) this.inStruct(s, () => this.emitIsDefault(s));
    const range = `${m.validVersions.min}-${m.validVersions.max}`;
    this.line(`/** Decodes a ${m.name} body (after the header) at the reader's position. */`);
    this.line(`export function decode${name}(r: Reader, v: number): ${name} {`);
    this.line(`  r.enter('${m.name}', v);`);
    this.line(`  if (v < MIN_VERSION || v > MAX_VERSION) throw new UnsupportedVersionError('${m.name}', v, '', 'version outside ${range}');`);
    this.line(`  return read${name}(r, v);`);
    this.line('}');
    this.line();
    this.line(`/** Encodes a ${m.name} body at version v. */`);
    this.line(`export function encode${name}(w: Writer, v: number, m: ${name}): void {`);
    this.line(`  if (v < MIN_VERSION || v > MAX_VERSION) throw new UnsupportedVersionError('${m.name}', v, '', 'version outside ${range}');`);
    this.line(`  write${name}(w, v, m);`);
    this.line('}');
    this.line();
    for (const s of m.structs) {
      this.inStruct(s, () => {
        this.emitRead(s);
        this.emitWrite(s);
      });
      if (this.arrayStructs.has(s.name)) this.emitArrayCodec(s.name);
    }
    while (this.out[this.out.length - 1] === '') this.out.pop();
    const body = markUnusedVersionParams(this.out.join('\n'));
    const head = [`// GENERATED by src/protocol/codegen/generate.ts from ${this.source}. Do not edit: run npm run codegen.`];
    head.push(`import { Reader${/\bTaggedField\b/.test(body) ? ', type TaggedField' : ''} } from '../reader.js';`);
    head.push("import type { Writer } from '../writer.js';");
    head.push("import { UnsupportedVersionError } from '../errors.js';");
    const constants = ['EMPTY', 'ZERO_UUID'].filter((c) => new RegExp(`\\b${c}\\b`).test(body));
    if (constants.length) head.push(`import { ${constants.join(', ')} } from '../constants.js';`);
    return `${head.join('\n')}\n\n${body}\n`;
  }
}

/** Renames the version parameter of generated functions that never read it to `_v` (keeps noUnusedParameters happy). */
function markUnusedVersionParams(code: string): string {
  return code.replace(/^(function \w+\([^)]*?)\bv: number([^)]*\)[^\n]*\{\n)([\s\S]*?)^\}$/gm, (whole, pre: string, post: string, body: string) =>
    /\bv\b/.test(body) ? whole : `${pre}_v: number${post}${body}}`,
  );
}

function describe(v: Versions): string {
  if (isEmpty(v)) return 'none';
  if (v.max >= 0x7fff) return `${v.min}+`;
  return v.min === v.max ? `${v.min}` : `${v.min}-${v.max}`;
}

