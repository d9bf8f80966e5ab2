// Where a Produce response's throttle_time_ms sits and whether top-level tagged fields follow it, found by skipping
// the per-partition results without decoding them. Every Produce response of v10+ is taken whole because it may carry
// NodeEndpoints (KIP-951: broker addresses, which the sidecar rewrites); Kafka only adds them for partitions answered
// NOT_LEADER_OR_FOLLOWER, so nearly every response carries none and goes on as it came, its throttle_time_ms (which
// sits after the variable-length results) patched in place. The layout is ProduceResponse.json's, v3-13: a version
// beyond what this walker knows is decoded in full instead (see response-rewriter.ts).
import { Reader } from '../protocol/reader.js';

/** The highest Produce response version whose layout produceResponseTail follows. */
export const PRODUCE_TAIL_MAX_VERSION = 13;

export interface ProduceTail {
  /** Offset of throttle_time_ms in the buffer. */
  throttleAt: number;
  /** Whether top-level tagged fields follow (NodeEndpoints is tag 0 of v10+). */
  tagged: boolean;
}

/** Walks a Produce response body (v3 to PRODUCE_TAIL_MAX_VERSION) from the reader's offset; throws a ProtocolError where it is malformed. */
export function produceResponseTail(r: Reader, v: number): ProduceTail {
  const flexible = v >= 9;
  for (let topics = r.arrayLength('Responses', flexible, false); topics > 0; topics--) {
    if (v >= 13) r.skip(16, 'TopicId');
    else r.skipString('Name', flexible);
    for (let partitions = r.arrayLength('PartitionResponses', flexible, false); partitions > 0; partitions--) {
      // Index, ErrorCode, BaseOffset, LogAppendTimeMs (v2+), LogStartOffset (v5+)
      r.skip(v >= 5 ? 30 : 22, 'PartitionResponses');
      if (v >= 8) {
        for (let errors = r.arrayLength('RecordErrors', flexible, false); errors > 0; errors--) {
          r.skip(4, 'BatchIndex');
          r.skipString('BatchIndexErrorMessage', flexible);
          if (flexible) r.skipTaggedFields('RecordErrors');
        }
        r.skipString('ErrorMessage', flexible);
      }
      if (flexible) r.skipTaggedFields('PartitionResponses'); // CurrentLeader is tag 0 of v10+
    }
    if (flexible) r.skipTaggedFields('Responses');
  }
  const throttleAt = r.offset;
  r.skip(4, 'ThrottleTimeMs');
  return { throttleAt, tagged: flexible && r.uvarint('TaggedFields') > 0 };
}
