// Request bodies for raw-client tests, built from the generated codecs' defaults.
import { defaultProduceRequest, defaultTopicProduceData, defaultPartitionProduceData, type ProduceRequest } from '../../src/protocol/generated/produce-request.js';
import { defaultFetchRequest, defaultFetchTopic, defaultFetchPartition, type FetchRequest } from '../../src/protocol/generated/fetch-request.js';

/** A Fetch v12 (topic names) for partitions of one topic, from `offset`, each up to partitionMaxBytes. */
export function fetchRequest(topic: string, o: { partitions?: number[]; offset?: bigint; maxWaitMs?: number; minBytes?: number; maxBytes?: number; partitionMaxBytes?: number } = {}): FetchRequest {
  const m = defaultFetchRequest();
  m.replicaId = -1;
  m.maxWaitMs = o.maxWaitMs ?? 500;
  m.minBytes = o.minBytes ?? 1;
  m.maxBytes = o.maxBytes ?? 52_428_800;
  const t = defaultFetchTopic();
  t.topic = topic;
  for (const p of o.partitions ?? [0]) {
    const fp = defaultFetchPartition();
    fp.partition = p;
    fp.fetchOffset = o.offset ?? 0n;
    fp.partitionMaxBytes = o.partitionMaxBytes ?? 1_048_576;
    t.partitions.push(fp);
  }
  m.topics.push(t);
  return m;
}

/** A Produce (v3-v12: topic names) of one batch to one partition. */
export function produceRequest(topic: string, partition: number, batch: Buffer, acks = -1): ProduceRequest {
  const m = defaultProduceRequest();
  m.acks = acks;
  m.timeoutMs = 30_000;
  const td = defaultTopicProduceData();
  td.name = topic;
  const pd = defaultPartitionProduceData();
  pd.index = partition;
  pd.records = batch;
  td.partitionData.push(pd);
  m.topicData.push(td);
  return m;
}
