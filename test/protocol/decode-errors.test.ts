// Malformed input gives a typed error with a stable code naming the message, version and field, and a length that
// claims gigabytes allocates nothing.
import t from 'tap';
import { decodeRequestFrame, decodeResponseFrame } from '../../src/protocol/message.js';
import {
  InvalidLengthError,
  InvalidVarintError,
  TrailingBytesError,
  TruncatedError,
  UnexpectedNullError,
  UnsupportedVersionError,
  type ProtocolError,
} from '../../src/protocol/errors.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

function errorOf(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    return e as ProtocolError;
  }
  throw new Error('did not throw');
}

// CreateTopics v4 request (non-flexible): header v1 (key 19, v4, corr 1, client id "c"), then topics array
const createTopicsV4 = (topicsCount: string) => hex(`0013 0004 00000001 0001 63 ${topicsCount}`);

t.test('an array count of 2^31-1 is refused before anything is allocated', async (t) => {
  const before = process.memoryUsage().arrayBuffers;
  const e = errorOf(() => decodeRequestFrame(createTopicsV4('7fffffff')));
  t.type(e, InvalidLengthError);
  t.equal(e.code, 'KQP_PROTOCOL_INVALID_LENGTH');
  t.match(e.message, /^CreateTopicsRequest v4 field Topics: length 2147483647 exceeds the 0 bytes left/);
  t.same([e.api, e.version, e.field], ['CreateTopicsRequest', 4, 'Topics']);
  t.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, 'no large allocation');
});

t.test('a records length of 2 GB in a Produce request', async (t) => {
  // Produce v8: transactional id null, acks 1, timeout 1000, 1 topic "t", 1 partition 0, records length 0x7ffffff0
  const frame = hex('0000 0008 00000002 0001 63  ffff 0001 000003e8 00000001 0001 74 00000001 00000000 7ffffff0 0102');
  const before = process.memoryUsage().arrayBuffers;
  const e = errorOf(() => decodeRequestFrame(frame));
  t.type(e, InvalidLengthError);
  t.match(e.message, /ProduceRequest v8 field PartitionProduceData.Records/);
  t.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, 'no large allocation');
});

t.test('compact lengths, varints, nulls, truncation and leftovers', async (t) => {
  // Metadata v12 request (flexible, header v2): topics compact array with a varint claiming 2^32-2 entries
  const hugeCompact = errorOf(() => decodeRequestFrame(hex('0003 000c 00000003 0001 63 00  ffffffff0f')));
  t.type(hugeCompact, InvalidLengthError);
  t.match(hugeCompact.message, /MetadataRequest v12 field Topics/);

  const longVarint = errorOf(() => decodeRequestFrame(hex('0003 000c 00000003 0001 63 00  ffffffffff01')));
  t.type(longVarint, InvalidVarintError);
  t.equal(longVarint.code, 'KQP_PROTOCOL_INVALID_VARINT');

  // CreateTopics v4 with one topic whose name is null (non-nullable)
  const nullName = errorOf(() => decodeRequestFrame(createTopicsV4('00000001 ffff')));
  t.type(nullName, UnexpectedNullError);
  t.match(nullName.message, /CreatableTopic.Name/);

  const truncated = errorOf(() => decodeRequestFrame(createTopicsV4('00000001 0003 61')));
  t.type(truncated, InvalidLengthError, 'a string longer than the frame');
  const cut = errorOf(() => decodeRequestFrame(createTopicsV4('00000001 0001 61 0000')));
  t.type(cut, TruncatedError);
  t.equal(cut.code, 'KQP_PROTOCOL_TRUNCATED');

  // a valid empty CreateTopics v4 (0 topics, timeout, validateOnly) followed by junk
  const leftover = errorOf(() => decodeRequestFrame(createTopicsV4('00000000 00007530 00 99')));
  t.type(leftover, TrailingBytesError);
  t.equal(leftover.code, 'KQP_PROTOCOL_TRAILING_BYTES');
  t.doesNotThrow(() => decodeRequestFrame(createTopicsV4('00000000 00007530 00')), 'and without the junk it decodes');
});

t.test('unknown API keys and versions outside the schema', async (t) => {
  t.type(errorOf(() => decodeRequestFrame(hex('0fff 0000 00000001 0001 63'))), UnsupportedVersionError);
  const e = errorOf(() => decodeResponseFrame(hex('00000001 00'), 0, 99));
  t.type(e, UnsupportedVersionError);
  t.equal(e.code, 'KQP_PROTOCOL_UNSUPPORTED_VERSION');
});
