// The kinds of quota, as data: this one list gives the bucket table its width (one bucket per kind in each slot), the
// rules their per-kind levels, the config schema each kind's rate and burst settings, /quota its fields and the
// metrics their kind label. Adding a kind is one entry here, and the place where requests are charged to it.

export interface QuotaKindSpec {
  /** Its name in /quota, the config's documentation and metric labels. */
  readonly name: string;
  /** The config setting of its rate (per second) and of its burst. */
  readonly rateSetting: string;
  readonly burstSetting: string;
  /** What one token is. */
  readonly unit: 'bytes' | 'requests' | 'joins' | 'partitions';
  /** What is charged (for the config schema's descriptions). */
  readonly charged: string;
  /** The longest throttle one charge gives (the debt stays in the bucket: the next request is throttled again). */
  readonly maxThrottleMs?: number;
}

export const QUOTA_KINDS = [
  { name: 'produce', rateSetting: 'produceBytesPerSec', burstSetting: 'produceBurstBytes', unit: 'bytes', charged: 'produce request bytes (header and body, as Kafka counts them)' },
  { name: 'fetch', rateSetting: 'fetchBytesPerSec', burstSetting: 'fetchBurstBytes', unit: 'bytes', charged: 'fetch response bytes' },
  // a request throttle is at most one quota window, 1 s (Kafka's ClientRequestQuotaManager.maxThrottleTimeMs,
  // applied through QuotaUtils.boundedThrottleTime): one request more per connection of a tenant in debt must not mute
  // them all for N ÷ rate seconds (200 connections at 10 requests/s: 20 s, past their session timeouts)
  { name: 'requests', rateSetting: 'requestsPerSec', burstSetting: 'requestBurst', unit: 'requests', charged: 'requests (every API but the SASL exchange)', maxThrottleMs: 1000 },
  // a join throttle stays below the consumers' session timeout (45 s by default: session.timeout.ms, KIP-848's
  // group.consumer.session.timeout.ms): a member that waits longer is fenced, joins again and is charged again, and a
  // group of hundreds starting at once would never get its last members in
  {
    name: 'groupJoins', rateSetting: 'groupJoinsPerSec', burstSetting: 'groupJoinBurst', unit: 'joins',
    charged: 'consumer-group churn: members joining (JoinGroup with no member id; a group heartbeat with member epoch 0) and groups deleted',
    maxThrottleMs: 30_000,
  },
  {
    name: 'partitionMutations', rateSetting: 'partitionMutationsPerSec', burstSetting: 'partitionMutationBurst', unit: 'partitions',
    charged: "partitions created (CreateTopics, CreatePartitions) and deleted (DeleteTopics), as Kafka's controller_mutation_rate (KIP-599) counts them",
  },
] as const satisfies readonly QuotaKindSpec[];

/** A kind's index in QUOTA_KINDS (its bucket's place within a slot). */
export type QuotaKind = number;
export const PRODUCE: QuotaKind = 0;
export const FETCH: QuotaKind = 1;
export const REQUESTS: QuotaKind = 2;
export const GROUP_JOINS: QuotaKind = 3;
export const PARTITION_MUTATIONS: QuotaKind = 4;

/** Buckets per slot of the table. */
export const KINDS = QUOTA_KINDS.length;
