// Codec speed: request header peeks, and whole-message decoding of Produce requests (1 KB and 100 KB batches),
// Fetch responses and Metadata responses (100 topics × 10 partitions). Each figure is the median of 5 runs of ~1 s;
// the same run measures a plain Buffer copy of the same bytes as a baseline for the machine's speed.
import { randomBytes } from 'node:crypto';
import { defaultProduceRequest, defaultTopicProduceData, defaultPartitionProduceData, encodeProduceRequest } from '../src/protocol/generated/produce-request.js';
import {
  defaultFetchResponse, defaultFetchableTopicResponse, defaultPartitionData, encodeFetchResponse,
} from '../src/protocol/generated/fetch-response.js';
import {
  defaultMetadataResponse, defaultMetadataResponseBroker, defaultMetadataResponseTopic, defaultMetadataResponsePartition,
  encodeMetadataResponse,
} from '../src/protocol/generated/metadata-response.js';
import { readRequestHeader, emptyRequestHeader, writeRequestHeader, writeResponseHeader } from '../src/protocol/headers.js';
import { decodeRequestFrame, decodeResponseFrame } from '../src/protocol/message.js';
import { Writer } from '../src/protocol/writer.js';

function requestFrame(apiKey: number, version: number, encodeBody: (w: Writer) => void): Buffer {
  const w = new Writer(1 << 16);
  writeRequestHeader(w, { apiKey, apiVersion: version, correlationId: 1, clientId: 'bench-client', headerVersion: version >= 9 ? 2 : 1, unknownTaggedFields: undefined });
  encodeBody(w);
  return Buffer.from(w.finish());
}

function responseFrame(headerVersion: number, encodeBody: (w: Writer) => void): Buffer {
  const w = new Writer(1 << 16);
  writeResponseHeader(w, 1, headerVersion);
  encodeBody(w);
  return Buffer.from(w.finish());
}

function produce(batchBytes: number): Buffer {
  const m = defaultProduceRequest();
  m.acks = -1;
  m.timeoutMs = 30_000;
  const topic = defaultTopicProduceData();
  topic.name = 'bench-topic';
  const p = defaultPartitionProduceData();
  p.records = randomBytes(batchBytes);
  topic.partitionData.push(p);
  m.topicData.push(topic);
  return requestFrame(0, 11, (w) => encodeProduceRequest(w, 11, m));
}

function fetchResponse(): Buffer {
  const m = defaultFetchResponse();
  for (let t = 0; t < 4; t++) {
    const topic = defaultFetchableTopicResponse();
    topic.topicId = randomBytes(16);
    for (let p = 0; p < 5; p++) {
      const part = defaultPartitionData();
      part.partitionIndex = p;
      part.highWatermark = 1000n;
      part.records = randomBytes(64 * 1024);
      topic.partitions.push(part);
    }
    m.responses.push(topic);
  }
  return responseFrame(1, (w) => encodeFetchResponse(w, 16, m));
}

function metadataResponse(): Buffer {
  const m = defaultMetadataResponse();
  for (let b = 1; b <= 3; b++) {
    const broker = defaultMetadataResponseBroker();
    broker.nodeId = b;
    broker.host = `broker-${b}.kafka.internal`;
    broker.port = 9092;
    m.brokers.push(broker);
  }
  for (let t = 0; t < 100; t++) {
    const topic = defaultMetadataResponseTopic();
    topic.name = `topic-${t}`;
    topic.topicId = randomBytes(16);
    for (let p = 0; p < 10; p++) {
      const part = defaultMetadataResponsePartition();
      part.partitionIndex = p;
      part.leaderId = (p % 3) + 1;
      part.replicaNodes = [1, 2, 3];
      part.isrNodes = [1, 2, 3];
      topic.partitions.push(part);
    }
    m.topics.push(topic);
  }
  return responseFrame(1, (w) => encodeMetadataResponse(w, 12, m));
}

/** Runs fn repeatedly for about a second; returns operations per second. */
function rate(fn: () => void): number {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < 1000) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    elapsed = performance.now() - start;
  }
  return (n * 1000) / elapsed;
}

function median(fn: () => void): number {
  rate(fn); // warm-up
  const runs = Array.from({ length: 5 }, () => rate(fn)).sort((a, b) => a - b);
  return runs[2]!;
}

export async function run(): Promise<Record<string, number>> {
  const p1k = produce(1024);
  const p100k = produce(100 * 1024);
  const fetch = fetchResponse();
  const metadata = metadataResponse();
  const header = emptyRequestHeader();
  let sink = 0;

  const headerPeekPerSec = median(() => {
    sink += readRequestHeader(p1k, header).correlationId;
  });
  const produce1kPerSec = median(() => {
    sink += decodeRequestFrame(p1k).header.apiKey;
  });
  const produce100kPerSec = median(() => {
    sink += decodeRequestFrame(p100k).header.apiKey;
  });
  const fetchPerSec = median(() => {
    sink += decodeResponseFrame(fetch, 1, 16).header.correlationId;
  });
  const metadataPerSec = median(() => {
    sink += decodeResponseFrame(metadata, 3, 12).header.correlationId;
  });
  const scratch = Buffer.alloc(p100k.length);
  const copyPerSec = median(() => {
    sink += p100k.copy(scratch);
  });
  if (sink === 42) console.error('');
  const mb = (bytes: number, perSec: number) => Math.round((bytes * perSec) / 1048576);
  console.error(`frames: produce ${p1k.length} B and ${p100k.length} B, fetch ${fetch.length} B, metadata ${metadata.length} B`);
  return {
    headerPeekPerSec: Math.round(headerPeekPerSec),
    produceDecodeMBps: mb(p1k.length, produce1kPerSec),
    produceDecodePerSec: Math.round(produce1kPerSec),
    produce100KBDecodeMBps: mb(p100k.length, produce100kPerSec),
    produce100KBDecodePerSec: Math.round(produce100kPerSec),
    fetchDecodeMBps: mb(fetch.length, fetchPerSec),
    fetchDecodePerSec: Math.round(fetchPerSec),
    metadataDecodePerSec: Math.round(metadataPerSec),
    metadataDecodeMBps: mb(metadata.length, metadataPerSec),
    baselineCopyMBps: mb(p100k.length, copyPerSec),
  };
}
