// KIP-219: from these versions on, a client backs off for throttle_time_ms by itself, so the broker sends the
// response at once and only mutes the connection. Older versions get their response delayed. Kafka 4.4's clients
// decide by `*Response.shouldClientThrottle(short version)` in apache/kafka (clients/.../common/requests): the
// versions below for the responses that override it; for every other API the default, AbstractResponse's, which in
// 4.4 backs off in every version whose response schema has throttle_time_ms (earlier clients' default was never:
// such a client waits for the mute its next request meets instead, as a 4.4 broker makes it).
import { API_SCHEMAS } from '../protocol/generated/api-table.js';
import { ABSENT, THROTTLE_TIME_OFFSETS } from '../protocol/generated/throttle-time-offsets.js';

const FIRST_BACKOFF_VERSION: Record<string, number> = {
  Produce: 6, Fetch: 8, ListOffsets: 3, Metadata: 6, OffsetCommit: 4, OffsetFetch: 4, FindCoordinator: 2, JoinGroup: 3,
  Heartbeat: 2, LeaveGroup: 2, SyncGroup: 2, DescribeGroups: 2, ListGroups: 2, ApiVersions: 2, CreateTopics: 3,
  DeleteTopics: 2, DeleteRecords: 1, InitProducerId: 1, AddPartitionsToTxn: 1, AddOffsetsToTxn: 1, EndTxn: 1,
  TxnOffsetCommit: 1, DescribeAcls: 1, CreateAcls: 1, DeleteAcls: 1, DescribeConfigs: 2, AlterConfigs: 1,
  AlterReplicaLogDirs: 1, DescribeLogDirs: 1, CreatePartitions: 1, CreateDelegationToken: 1, RenewDelegationToken: 1,
  ExpireDelegationToken: 1, DescribeDelegationToken: 1, DeleteGroups: 1, ElectLeaders: 0, IncrementalAlterConfigs: 0,
  AlterPartitionReassignments: 0, ListPartitionReassignments: 0, OffsetDelete: 0, DescribeUserScramCredentials: 0,
  AlterUserScramCredentials: 0, BrokerRegistration: 0, BrokerHeartbeat: 0, UnregisterBroker: 0, DescribeTopicPartitions: 0,
};

/** AbstractResponse's default: the first version whose response has throttle_time_ms (Infinity: none has). */
function firstWithThrottleField(apiKey: number): number {
  const v = THROTTLE_TIME_OFFSETS[apiKey]?.findIndex((offset) => offset !== ABSENT) ?? -1;
  return v < 0 ? Infinity : v;
}

const BY_KEY: number[] = [];
for (const api of API_SCHEMAS) BY_KEY[api.key] = FIRST_BACKOFF_VERSION[api.name] ?? firstWithThrottleField(api.key);

/** Whether a client backs off for throttle_time_ms itself in this response version. */
export function clientBacksOff(apiKey: number, version: number): boolean {
  return version >= (BY_KEY[apiKey] ?? Infinity);
}
