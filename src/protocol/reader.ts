// Bounds-checked big-endian reads over a Buffer region, in Kafka's encodings. Every length is checked against the
// bytes left before anything is allocated, so a corrupt length can never allocate more than the frame holds.
// Bytes, records and uuid fields are returned as zero-copy views into the source buffer.
import { InvalidLengthError, InvalidVarintError, TrailingBytesError, TruncatedError, UnexpectedNullError } from './errors.js';

/** A tagged field the codec does not know, kept as raw bytes so it is written back byte for byte. */
export interface TaggedField {
  tag: number;
  data: Buffer;
}

export class Reader {
  buf: Buffer;
  offset: number;
  end: number;
  /** Message name and version, for error messages (set by the generated decode entry points). */
  api = '';
  version = -1;

  constructor(buf: Buffer, offset = 0, end = buf.length) {
    this.buf = buf;
    this.offset = offset;
    this.end = end;
  }

  reset(buf: Buffer, offset: number, end: number): this {
    this.buf = buf;
    this.offset = offset;
    this.end = end;
    return this;
  }

  /** Sets the message named in errors. */
  enter(api: string, version: number): this {
    this.api = api;
    this.version = version;
    return this;
  }

  remaining(): number {
    return this.end - this.offset;
  }

  need(n: number, field: string): void {
    if (this.end - this.offset < n) {
      throw new TruncatedError(this.api, this.version, field, `needs ${n} bytes, ${this.end - this.offset} left`);
    }
  }

  /** Throws unless the region is consumed exactly. */
  expectEnd(field = ''): void {
    if (this.offset !== this.end) {
      throw new TrailingBytesError(this.api, this.version, field, `${this.end - this.offset} bytes left after the message`);
    }
  }

  int8(field: string): number {
    this.need(1, field);
    return this.buf.readInt8(this.offset++);
  }

  bool(field: string): boolean {
    this.need(1, field);
    return this.buf[this.offset++] !== 0;
  }

  int16(field: string): number {
    this.need(2, field);
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  uint16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(field: string): number {
    this.need(4, field);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  uint32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  int64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  float64(field: string): number {
    this.need(8, field);
    const v = this.buf.readDoubleBE(this.offset);
    this.offset += 8;
    return v;
  }

  /** A 16-byte uuid, as a view. */
  uuid(field: string): Buffer {
    this.need(16, field);
    const v = this.buf.subarray(this.offset, this.offset + 16);
    this.offset += 16;
    return v;
  }

  /** Unsigned varint of at most 5 bytes (0 .. 2^32-1). */
  uvarint(field: string): number {
    let value = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      this.need(1, field);
      const b = this.buf[this.offset++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
      shift += 7;
    }
    throw new InvalidVarintError(this.api, this.version, field, 'varint longer than 5 bytes');
  }

  skip(n: number, field: string): void {
    this.need(n, field);
    this.offset += n;
  }

  /** Skips a string: int16 length, or unsigned varint length + 1 when compact; null included. */
  skipString(field: string, compact: boolean): void {
    const len = compact ? this.uvarint(field) - 1 : this.int16(field);
    if (len === -1) return;
    this.checkLength(len, field);
    this.offset += len;
  }

  /** Skips a tagged-field section: its count, then each field's tag, size and payload. */
  skipTaggedFields(field: string): void {
    for (let n = this.uvarint(field); n > 0; n--) {
      this.uvarint(field);
      this.skip(this.uvarint(field), field);
    }
  }

  private nullMarker(nullable: boolean, field: string): null {
    if (!nullable) throw new UnexpectedNullError(this.api, this.version, field, 'null in a non-nullable field');
    return null;
  }

  private checkLength(len: number, field: string): void {
    if (len < 0) throw new InvalidLengthError(this.api, this.version, field, `negative length ${len}`);
    if (len > this.end - this.offset) {
      throw new InvalidLengthError(this.api, this.version, field, `length ${len} exceeds the ${this.end - this.offset} bytes left`);
    }
  }

  private utf8(len: number, field: string): string {
    if (len > 0x7fff) throw new InvalidLengthError(this.api, this.version, field, `string length ${len} exceeds 32767`);
    this.checkLength(len, field);
    const s = this.buf.toString('utf8', this.offset, this.offset + len);
    this.offset += len;
    return s;
  }

  /** int16 length + UTF-8; -1 is null. */
  string(field: string, nullable: boolean): string | null {
    const len = this.int16(field);
    if (len === -1) return this.nullMarker(nullable, field);
    return this.utf8(len, field);
  }

  /** unsigned varint (length + 1) + UTF-8; 0 is null. */
  compactString(field: string, nullable: boolean): string | null {
    const len = this.uvarint(field) - 1;
    if (len === -1) return this.nullMarker(nullable, field);
    return this.utf8(len, field);
  }

  private view(len: number, field: string): Buffer {
    this.checkLength(len, field);
    const v = this.buf.subarray(this.offset, this.offset + len);
    this.offset += len;
    return v;
  }

  /** int32 length + bytes (a view); -1 is null. */
  bytes(field: string, nullable: boolean): Buffer | null {
    const len = this.int32(field);
    if (len === -1) return this.nullMarker(nullable, field);
    return this.view(len, field);
  }

  /** unsigned varint (length + 1) + bytes (a view); 0 is null. */
  compactBytes(field: string, nullable: boolean): Buffer | null {
    const len = this.uvarint(field) - 1;
    if (len === -1) return this.nullMarker(nullable, field);
    return this.view(len, field);
  }

  /** An array's element count (int32, or unsigned varint count + 1 when compact); -1 is null. */
  arrayLength(field: string, compact: boolean, nullable: boolean): number {
    const n = compact ? this.uvarint(field) - 1 : this.int32(field);
    if (n === -1) {
      this.nullMarker(nullable, field);
      return -1;
    }
    // every element takes at least one byte (Kafka checks the same)
    this.checkLength(n, field);
    return n;
  }

  /** Reads one raw tagged field's payload (a view) after its tag. */
  taggedData(field: string): Buffer {
    return this.view(this.uvarint(field), field);
  }

  /** Fails if a known tagged field did not consume exactly its declared size. */
  expectAt(end: number, field: string): void {
    if (this.offset !== end) {
      throw new InvalidLengthError(this.api, this.version, field, `tagged field size mismatch (${this.offset - end} bytes)`);
    }
  }

  int8Array(field: string, compact: boolean, nullable: boolean): number[] | null {
    const n = this.arrayLength(field, compact, nullable);
    if (n < 0) return null;
    const a: number[] = [];
    for (let i = 0; i < n; i++) a.push(this.int8(field));
    return a;
  }

  int16Array(field: string, compact: boolean, nullable: boolean): number[] | null {
    const n = this.arrayLength(field, compact, nullable);
    if (n < 0) return null;
    const a: number[] = [];
    for (let i = 0; i < n; i++) a.push(this.int16(field));
    return a;
  }

  int32Array(field: string, compact: boolean, nullable: boolean): number[] | null {
    const n = this.arrayLength(field, compact, nullable);
    if (n < 0) return null;
    const a: number[] = [];
    for (let i = 0; i < n; i++) a.push(this.int32(field));
    return a;
  }

  int64Array(field: string, compact: boolean, nullable: boolean): bigint[] | null {
    const n = this.arrayLength(field, compact, nullable);
    if (n < 0) return null;
    const a: bigint[] = [];
    for (let i = 0; i < n; i++) a.push(this.int64(field));
    return a;
  }

  uuidArray(field: string, compact: boolean, nullable: boolean): Buffer[] | null {
    const n = this.arrayLength(field, compact, nullable);
    if (n < 0) return null;
    const a: Buffer[] = [];
    for (let i = 0; i < n; i++) a.push(this.uuid(field));
    return a;
  }

  /** Array of strings; elements are never null. `compactElements` follows the field's flexibility. */
  stringArray(field: string, compact: boolean, nullable: boolean): string[] | null {
    const n = this.arrayLength(field, compact, nullable);
    if (n < 0) return null;
    const a: string[] = [];
    for (let i = 0; i < n; i++) a.push((compact ? this.compactString(field, false) : this.string(field, false))!);
    return a;
  }
}
