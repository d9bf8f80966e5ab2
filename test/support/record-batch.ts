// Builds Kafka record batches (magic v2, uncompressed) so tests and benchmarks can send Produce requests of exact
// sizes without a client library.
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(buf: Buffer, start = 0, end = buf.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = CRC32C_TABLE[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function varint(value: number, out: number[]): void {
  let v = (value << 1) ^ (value >> 31); // zigzag (int32)
  v >>>= 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

/** A record batch of `count` records, each with a `valueBytes`-byte value and no key. */
export function recordBatch(count: number, valueBytes: number, timestamp = Date.now()): Buffer {
  const value = Buffer.alloc(valueBytes, 0x61);
  const records: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const body: number[] = [0]; // attributes
    varint(0, body); // timestamp delta
    varint(i, body); // offset delta
    varint(-1, body); // key length: null
    varint(valueBytes, body);
    const tail: number[] = [];
    varint(0, tail); // header count
    const len: number[] = [];
    varint(body.length + valueBytes + tail.length, len);
    records.push(Buffer.from(len), Buffer.from(body), value, Buffer.from(tail));
  }
  const recs = Buffer.concat(records);
  const b = Buffer.alloc(61 + recs.length);
  b.writeBigInt64BE(0n, 0); // base offset
  b.writeInt32BE(b.length - 12, 8); // batch length
  b.writeInt32BE(-1, 12); // partition leader epoch
  b.writeInt8(2, 16); // magic
  b.writeInt16BE(0, 21); // attributes
  b.writeInt32BE(count - 1, 23); // last offset delta
  b.writeBigInt64BE(BigInt(timestamp), 27);
  b.writeBigInt64BE(BigInt(timestamp), 35);
  b.writeBigInt64BE(-1n, 43); // producer id
  b.writeInt16BE(-1, 51); // producer epoch
  b.writeInt32BE(-1, 53); // base sequence
  b.writeInt32BE(count, 57);
  recs.copy(b, 61);
  b.writeUInt32BE(crc32c(b, 21), 17);
  return b;
}
