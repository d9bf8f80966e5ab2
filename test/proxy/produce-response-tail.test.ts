// The Produce response walker against the generated codec: for every version it covers, responses of every shape
// (topics, partitions, record errors, null and set messages, CurrentLeader, unknown tagged fields, NodeEndpoints)
// encoded by the codec; the walker must find the throttle_time_ms the codec wrote and say whether top-level tagged
// fields follow. Then the rewriter: such a response without NodeEndpoints goes on as the same buffer.
import t from 'tap';
import { produceResponseTail, PRODUCE_TAIL_MAX_VERSION } from '../../src/proxy/produce-response-tail.js';
import { ResponseRewriter } from '../../src/proxy/response-rewriter.js';
import { AddressMap } from '../../src/proxy/address-map.js';
import { parseHostPort } from '../../src/config/load-config.js';
import * as Produce from '../../src/protocol/generated/produce-response.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import { encodeResponseFrame } from '../support/encode-response.js';
import { prng } from '../support/populate.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { Reader } from '../../src/protocol/reader.js';

const rnd = prng(7);
const random = (n: number) => Math.floor(rnd() * n);

function response(i: number): Produce.ProduceResponse {
  const m = Produce.defaultProduceResponse();
  m.throttleTimeMs = 1000 + i;
  for (let topic = random(4); topic > 0; topic--) {
    const tp = { ...Produce.defaultTopicProduceResponse(), name: 't'.repeat(1 + random(40)), topicId: Buffer.alloc(16, random(256)) };
    for (let p = random(4); p > 0; p--) {
      const pp = { ...Produce.defaultPartitionProduceResponse(), index: random(100), errorCode: random(3) === 0 ? 6 : 0, baseOffset: BigInt(random(1e6)) };
      for (let e = random(3); e > 0; e--) pp.recordErrors.push({ ...Produce.defaultBatchIndexAndErrorMessage(), batchIndex: random(9), batchIndexErrorMessage: random(2) ? null : 'bad record' });
      pp.errorMessage = random(2) ? null : 'x'.repeat(random(200));
      if (random(2)) pp.currentLeader = { ...Produce.defaultLeaderIdAndEpoch(), leaderId: 3, leaderEpoch: 9 };
      if (random(4) === 0) pp.unknownTaggedFields = [{ tag: 5, data: Buffer.from([1, 2, 3]) }];
      tp.partitionResponses.push(pp);
    }
    if (random(4) === 0) tp.unknownTaggedFields = [{ tag: 3, data: Buffer.alloc(random(300)) }];
    m.responses.push(tp);
  }
  if (random(3) === 0) m.nodeEndpoints.push({ ...Produce.defaultNodeEndpoint(), nodeId: 3, host: 'b3', port: 9 });
  if (random(5) === 0) m.unknownTaggedFields = [{ tag: 9, data: Buffer.from([0]) }];
  return m;
}

const frame = (version: number, m: Produce.ProduceResponse) => encodeResponseFrame(0, version, m);

t.equal(PRODUCE_TAIL_MAX_VERSION, Produce.MAX_VERSION, 'the walker covers every version the codec has (a new one needs the walker reviewed against ProduceResponse.json)');

t.test('every version, 300 shapes each: the codec\'s throttle_time_ms found, tagged fields told', async (t) => {
  for (let v = Produce.MIN_VERSION; v <= PRODUCE_TAIL_MAX_VERSION; v++) {
    let wrong = 0;
    let tagged = 0;
    for (let i = 0; i < 300; i++) {
      const m = response(i);
      const { frame: f, bodyAt } = frame(v, m);
      const r = new Reader(f, bodyAt);
      const tail = produceResponseTail(r, v);
      const expectTagged = v >= 9 && ((v >= 10 && m.nodeEndpoints.length > 0) || m.unknownTaggedFields !== undefined);
      if (tail.tagged) tagged++;
      if (f.readInt32BE(tail.throttleAt) !== m.throttleTimeMs || tail.tagged !== expectTagged || (!tail.tagged && r.offset !== f.length)) wrong++;
    }
    t.equal(wrong, 0, `v${v}: ${tagged} of 300 with top-level tagged fields`);
  }
});

t.test('a truncated response is a protocol error, never a read past its end', async (t) => {
  const { frame: f, bodyAt } = frame(11, { ...response(1), nodeEndpoints: [], unknownTaggedFields: undefined, responses: [{ ...Produce.defaultTopicProduceResponse(), name: 'topic', partitionResponses: [Produce.defaultPartitionProduceResponse()] }] });
  const failed = [];
  for (let end = bodyAt; end < f.length; end++) {
    try {
      produceResponseTail(new Reader(f, bodyAt, end), 11);
    } catch (err) {
      if (err instanceof ProtocolError) failed.push(end);
    }
  }
  t.equal(failed.length, f.length - bodyAt, `each of the ${f.length - bodyAt} cuts`);
});

t.test('the rewriter passes a Produce v10+ response without NodeEndpoints on as the same buffer, its throttle raised in place', async (t) => {
  const rw = new ResponseRewriter(new AddressMap({ mode: 'map', map: new Map([[3, parseHostPort('proxy-3:9092')]]) }));
  const plain = { ...response(2), nodeEndpoints: [], unknownTaggedFields: undefined, throttleTimeMs: 0 };
  const { frame: f } = frame(12, plain);
  const copy = Buffer.from(f);
  const out = rw.rewrite(f, 0, 12, 250.2);
  t.equal(out, f, 'the same buffer');
  const body = decodeResponseFrame(out.subarray(4), 0, 12).body as Produce.ProduceResponse;
  t.equal(body.throttleTimeMs, 251, 'throttle_time_ms raised (rounded up)');
  t.strictSame({ ...body, throttleTimeMs: 0 }, decodeResponseFrame(copy.subarray(4), 0, 12).body, 'nothing else changed');
  t.equal(rw.rewrite(f, 0, 12, 100), f, 'a lower throttle leaves it');
  t.equal((decodeResponseFrame(f.subarray(4), 0, 12).body as Produce.ProduceResponse).throttleTimeMs, 251);
  const withEndpoints = frame(12, { ...plain, nodeEndpoints: [{ ...Produce.defaultNodeEndpoint(), nodeId: 3, host: 'b3', port: 9 }] }).frame;
  const rewritten = decodeResponseFrame(rw.rewrite(withEndpoints, 0, 12).subarray(4), 0, 12).body as Produce.ProduceResponse;
  t.match(rewritten.nodeEndpoints[0], { host: 'proxy-3', port: 9092 }, 'with NodeEndpoints: decoded and rewritten as before');
});
