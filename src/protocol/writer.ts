// Big-endian writes in Kafka's encodings into a growable buffer. Used where the proxy must re-encode a message
// (address rewriting) and by tests; the forwarding path never re-encodes what it does not change.
import type { TaggedField } from './reader.js';

export class Writer {
  buf: Buffer;
  offset = 0;

  constructor(initialSize = 1024) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** The bytes written so far (a view; valid until the next write). */
  finish(): Buffer {
    return this.buf.subarray(0, this.offset);
  }

  reset(): this {
    this.offset = 0;
    return this;
  }

  ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.offset + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
  }

  int8(v: number): void {
    this.ensure(1);
    this.offset = this.buf.writeInt8(v, this.offset);
  }

  bool(v: boolean): void {
    this.ensure(1);
    this.buf[this.offset++] = v ? 1 : 0;
  }

  int16(v: number): void {
    this.ensure(2);
    this.offset = this.buf.writeInt16BE(v, this.offset);
  }

  uint16(v: number): void {
    this.ensure(2);
    this.offset = this.buf.writeUInt16BE(v, this.offset);
  }

  int32(v: number): void {
    this.ensure(4);
    this.offset = this.buf.writeInt32BE(v, this.offset);
  }

  uint32(v: number): void {
    this.ensure(4);
    this.offset = this.buf.writeUInt32BE(v, this.offset);
  }

  int64(v: bigint): void {
    this.ensure(8);
    this.offset = this.buf.writeBigInt64BE(v, this.offset);
  }

  float64(v: number): void {
    this.ensure(8);
    this.offset = this.buf.writeDoubleBE(v, this.offset);
  }

  uuid(v: Buffer): void {
    if (v.length !== 16) throw new RangeError(`uuid must be 16 bytes, got ${v.length}`);
    this.raw(v);
  }

  uvarint(v: number): void {
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.offset++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.offset++] = v;
  }

  raw(v: Buffer): void {
    this.ensure(v.length);
    v.copy(this.buf, this.offset);
    this.offset += v.length;
  }

  string(v: string | null): void {
    if (v === null) return this.int16(-1);
    const len = Buffer.byteLength(v);
    this.ensure(2 + len);
    this.offset = this.buf.writeInt16BE(len, this.offset);
    this.offset += this.buf.write(v, this.offset, 'utf8');
  }

  compactString(v: string | null): void {
    if (v === null) return this.uvarint(0);
    const len = Buffer.byteLength(v);
    this.uvarint(len + 1);
    this.ensure(len);
    this.offset += this.buf.write(v, this.offset, 'utf8');
  }

  bytes(v: Buffer | null): void {
    if (v === null) return this.int32(-1);
    this.int32(v.length);
    this.raw(v);
  }

  compactBytes(v: Buffer | null): void {
    if (v === null) return this.uvarint(0);
    this.uvarint(v.length + 1);
    this.raw(v);
  }

  arrayLength(n: number | null, compact: boolean): void {
    if (compact) this.uvarint(n === null ? 0 : n + 1);
    else this.int32(n === null ? -1 : n);
  }

  /** Reserves the size prefix of a tagged field's payload; pass the result to endSized once it is written. */
  beginSized(): number {
    this.ensure(1);
    return this.offset++;
  }

  /** Writes the payload size (unsigned varint) at `at`, moving the payload if the varint needs more than a byte. */
  endSized(at: number): void {
    const size = this.offset - at - 1;
    if (size < 0x80) {
      this.buf[at] = size;
      return;
    }
    let extra = 0;
    for (let s = size; s >= 0x80; s = Math.floor(s / 128)) extra++;
    this.ensure(extra);
    this.buf.copyWithin(at + 1 + extra, at + 1, this.offset);
    let v = size;
    let p = at;
    while (v >= 0x80) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[p] = v;
    this.offset += extra;
  }

  /** Writes unknown tagged fields whose tag is in [from, to). */
  unknownTagged(fields: readonly TaggedField[] | undefined, from: number, to: number): void {
    if (!fields) return;
    for (const f of fields) {
      if (f.tag < from || f.tag >= to) continue;
      this.uvarint(f.tag);
      this.uvarint(f.data.length);
      this.raw(f.data);
    }
  }

  int8Array(v: readonly number[] | null, compact: boolean): void {
    this.arrayLength(v === null ? null : v.length, compact);
    if (v) for (const x of v) this.int8(x);
  }

  int16Array(v: readonly number[] | null, compact: boolean): void {
    this.arrayLength(v === null ? null : v.length, compact);
    if (v) for (const x of v) this.int16(x);
  }

  int32Array(v: readonly number[] | null, compact: boolean): void {
    this.arrayLength(v === null ? null : v.length, compact);
    if (v) for (const x of v) this.int32(x);
  }

  int64Array(v: readonly bigint[] | null, compact: boolean): void {
    this.arrayLength(v === null ? null : v.length, compact);
    if (v) for (const x of v) this.int64(x);
  }

  uuidArray(v: readonly Buffer[] | null, compact: boolean): void {
    this.arrayLength(v === null ? null : v.length, compact);
    if (v) for (const x of v) this.uuid(x);
  }

  stringArray(v: readonly string[] | null, compact: boolean): void {
    this.arrayLength(v === null ? null : v.length, compact);
    if (!v) return;
    for (const x of v) {
      if (compact) this.compactString(x);
      else this.string(x);
    }
  }
}
