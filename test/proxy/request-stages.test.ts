// The relay carries out what a request's stage decides, against an in-process fake broker: a request the proxy
// answers itself never reaches the broker, and its answer reaches the client in order with the broker's responses to
// the requests pipelined around it (its body, however large, is dropped without breaking the framing of what
// follows); a stage that asks for the whole frame is called again with it; one too large to take whole closes the
// connection with one log line.
import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Writer } from '../../src/protocol/writer.js';
import { encodeApiVersionsResponse, defaultApiVersionsResponse } from '../../src/protocol/generated/api-versions-response.js';
import { defaultMetadataRequest } from '../../src/protocol/generated/metadata-request.js';
import { encodeProduceResponse, defaultProduceResponse } from '../../src/protocol/generated/produce-response.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { FakeBroker, apiKeyOf, correlationOf, responseFrame, proxyBefore } from '../support/fake-broker.js';
import { RawClient, API_VERSIONS_V3, encodeRequest } from '../support/raw-client.js';
import { produceRequest } from '../support/requests.js';
import type { Stage, StageTable } from '../../src/proxy/request-stages.js';

const forward: Stage = () => undefined;
const table = (stages: Partial<Record<number, Stage>>): StageTable => ({ of: (apiKey) => stages[apiKey] ?? forward });

/** A response frame the proxy makes up: the correlation id, then a marker body. */
const localAnswer = (correlationId: number) => responseFrame(correlationId, Buffer.from('answered by the proxy'));

const apiVersionsBody = (() => {
  const w = new Writer();
  encodeApiVersionsResponse(w, 3, defaultApiVersionsResponse());
  return Buffer.from(w.finish());
})();

/** A broker that answers ApiVersions after `delayMs` (so that a local answer could overtake it if it were not ordered). */
function slowBroker(delayMs: number): FakeBroker {
  return new FakeBroker((frame, socket) => {
    if (apiKeyOf(frame) === ApiKey.ApiVersions) setTimeout(() => socket.write(responseFrame(correlationOf(frame), apiVersionsBody)), delayMs);
    return undefined;
  });
}

async function setup(t: Test, broker: FakeBroker, stages: StageTable, config: Record<string, unknown> = {}) {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => void (lines.push(String(chunk)), cb()) });
  const { proxy, port } = await proxyBefore(broker, { logLevel: 'warn', ...config }, pino({ level: 'warn' }, sink), { stages });
  const client = await RawClient.open(port);
  t.teardown(async () => {
    client.close();
    await proxy.stop();
    await broker.close();
  });
  return { client, lines, received: broker.received };
}

const ids = (frames: Buffer[]) => frames.map((f) => f.readInt32BE(4));

t.test('a request answered by the proxy never reaches the broker, and its answer keeps its place among pipelined responses', async (t) => {
  const metadataAnswered: Stage = (req, d) => void (d.answer = localAnswer(req.header.correlationId));
  const broker = slowBroker(200);
  const { client, received } = await setup(t, broker, table({ [ApiKey.Metadata]: metadataAnswered }));
  // one write: ApiVersions (1), Metadata (2, answered by the proxy at once), ApiVersions (3), Metadata (4)
  client.socket.write(Buffer.concat([
    encodeRequest(ApiKey.ApiVersions, 3, 1, API_VERSIONS_V3),
    encodeRequest(ApiKey.Metadata, 12, 2, { ...defaultMetadataRequest(), topics: [] }),
    encodeRequest(ApiKey.ApiVersions, 3, 3, API_VERSIONS_V3),
    encodeRequest(ApiKey.Metadata, 12, 4, { ...defaultMetadataRequest(), topics: [] }),
  ]));
  await client.response(4, 10_000);
  t.same(ids(client.frames), [1, 2, 3, 4], 'the client got every response in request order');
  t.ok(client.frames[1]!.includes('answered by the proxy') && client.frames[3]!.includes('answered by the proxy'), 'the Metadata answers are the proxy\'s');
  t.same(received.map(apiKeyOf), [ApiKey.ApiVersions, ApiKey.ApiVersions], 'the broker saw only the ApiVersions requests');

  // with nothing in flight, the answer goes at once: not held for the response to the request sent after it, which
  // the broker keeps until the answer has come (a held answer would wait for it: no response within 10 s)
  const release = new Promise<() => void>((resolve) => broker.setScript((frame, socket) => {
    if (apiKeyOf(frame) === ApiKey.ApiVersions) resolve(() => socket.write(responseFrame(correlationOf(frame), apiVersionsBody)));
    return undefined;
  }));
  const started = performance.now();
  const [answered, behind] = [5, 6]; // after the four above (client.send would count from 1 again)
  client.socket.write(encodeRequest(ApiKey.Metadata, 12, answered, { ...defaultMetadataRequest(), topics: [] }));
  client.socket.write(encodeRequest(ApiKey.ApiVersions, 3, behind, API_VERSIONS_V3));
  await client.response(answered);
  t.notOk(ids(client.frames).includes(behind), `an answer with nothing ahead of it is not held: it came after ${(performance.now() - started).toFixed(0)} ms, the request behind it still unanswered`);
  (await release)();
  await client.response(behind);
  t.same(ids(client.frames).slice(-2), [answered, behind], 'then the one behind it');
});

t.test("a large request answered by the proxy has its body dropped; the next request's framing is intact", async (t) => {
  const produceAnswered: Stage = (req, d) => void (d.answer = localAnswer(req.header.correlationId));
  const { client, received } = await setup(t, slowBroker(0), table({ [ApiKey.Produce]: produceAnswered }));
  // 300 KB of records: far beyond the head, so most of it arrives after the stage has decided
  client.socket.write(Buffer.concat([
    encodeRequest(ApiKey.Produce, 9, 1, produceRequest('t', 0, Buffer.alloc(300_000, 7), 1)),
    encodeRequest(ApiKey.ApiVersions, 3, 2, API_VERSIONS_V3),
  ]));
  await client.response(2, 10_000);
  t.same(ids(client.frames), [1, 2], 'both answered, in order');
  t.same(received.map(apiKeyOf), [ApiKey.ApiVersions], 'no byte of the produce reached the broker, and the ApiVersions after it arrived whole');
});

t.test('a stage that asks for the whole frame is called again with it; the frame is forwarded intact', async (t) => {
  const seen: { headBytes: number; size: number }[] = [];
  const wantsWhole: Stage = (req, d) => {
    seen.push({ headBytes: req.head.length, size: req.size });
    if (req.head.length < req.size + 4) d.whole = true;
  };
  const produceResponse = (() => {
    const w = new Writer();
    encodeProduceResponse(w, 9, defaultProduceResponse());
    return Buffer.from(w.finish());
  })();
  const broker = new FakeBroker((frame) => (apiKeyOf(frame) !== ApiKey.Produce ? undefined : [responseFrame(correlationOf(frame), produceResponse, true)]));
  const { client, received } = await setup(t, broker, table({ [ApiKey.Produce]: wantsWhole }));
  const frame = encodeRequest(ApiKey.Produce, 9, 1, produceRequest('t', 0, Buffer.alloc(100_000, 3), 1));
  client.socket.write(frame);
  await client.response(1, 10_000);
  t.equal(seen.length, 2, 'called twice');
  t.ok(seen[0]!.headBytes < frame.length, `first with the head (${seen[0]!.headBytes} bytes)`);
  t.equal(seen[1]!.headBytes, frame.length, 'then with the whole frame');
  t.ok(received[0]!.equals(frame), 'the broker got the frame byte for byte');
});

t.test('a request too large to take whole closes its connection with one log line', async (t) => {
  const wantsWhole: Stage = (req, d) => void (d.whole = req.head.length < req.size + 4);
  const { client, lines, received } = await setup(t, slowBroker(0), table({ [ApiKey.Produce]: wantsWhole }), { limits: { maxRewriteFrameBytes: 65_536 } });
  client.socket.write(encodeRequest(ApiKey.Produce, 9, 1, produceRequest('t', 0, Buffer.alloc(100_000, 3), 1)));
  await client.closedWithin(5_000);
  t.same(received, [], 'nothing reached the broker');
  const logged = lines.filter((l) => l.includes('exceeds maxRewriteFrameBytes'));
  t.equal(logged.length, 1, `one log line: ${logged[0]?.trim()}`);
});
