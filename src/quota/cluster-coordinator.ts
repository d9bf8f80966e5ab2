// Coordination of cluster-scoped quotas through the cluster itself, with kafkajs: every coordination.intervalMs this
// sidecar publishes its cluster-scoped buckets' demands (coordination-records.ts) to a compacted topic (created if
// missing) and reads everyone's, its own included (reading its own back is what says coordination works); then the
// shares are computed again (cluster-shares.ts). kafkajs talks to the brokers directly (the sidecar's upstream as
// bootstrap, over TLS with upstream.tls), not through any sidecar, so coordination traffic is never charged to a tenant.
import { Kafka, logLevel, Partitioners, type Admin, type ConfigResourceTypes, type Consumer, type KafkaConfig, type Producer, type LogEntry } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { HostPort } from '../config/load-config.js';
import type { Logger, RateLimitedLog } from '../observability/logger.js';
import { RECOMPUTE_CHUNK_SLOTS, type ClusterShares } from './cluster-shares.js';
import { decodeReport, encodeReport } from './coordination-records.js';

/** The topic's settings when the sidecars create it: compacted, rolled and cleaned often (it holds reports only). */
const TOPIC_CONFIGS = [
  { name: 'cleanup.policy', value: 'compact' },
  { name: 'segment.ms', value: '60000' },
  { name: 'min.cleanable.dirty.ratio', value: '0.1' },
  { name: 'delete.retention.ms', value: '60000' },
];
/** Broker metadata (the static share's broker count) is read again this often. */
const METADATA_EVERY_MS = 30_000;
/**
 * A report's records go to the broker in sends of at most this many parts (RECORD_MAX_BYTES each): one send is one
 * record batch, and a batch over the topic's max.message.bytes (1 MB by default) would be refused whole.
 */
const PARTS_PER_SEND = 8;
/** While publishing fails, the topic is looked for (and created again if gone) at most this often. */
const TOPIC_CHECK_EVERY_MS = 10_000;
/**
 * A consumer that reads nothing back this long after it was (re)started, while publishing works, is started again:
 * more than a new group's first join takes (group.initial.rebalance.delay.ms, 3 s by default, and the join itself).
 */
const CONSUMER_STALL_MS = 15_000;
/** A consumer stopped by kafkajs is started again after 1 s, doubling to this at most while it keeps stopping. */
const MAX_RESTART_MS = 30_000;
/** ConfigResourceTypes.TOPIC (kafkajs' enum is not among the names its CommonJS module exports to ES modules). */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;

/** The kafkajs client the coordinator uses (a fake one in unit tests). */
export type KafkaClients = Pick<Kafka, 'admin' | 'producer' | 'consumer'>;

export class ClusterCoordinator {
  private readonly kafka: KafkaClients;
  private readonly admin: Admin;
  private readonly producer: Producer;
  private readonly consumer: Consumer;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private publishing = false;
  /** The producer is connected (start-up done): reports are published from then on. */
  private connected = false;
  private parts = 0;
  private metadataMs = -Infinity;
  private topicCheckedMs = -Infinity;
  private consumerStartedMs = -Infinity;
  private collisions = 0;
  /** The consumer's stops since it last read a report (its restart's back-off). */
  private crashes = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private warnedMaxSidecars = false;

  constructor(
    private readonly shares: ClusterShares,
    upstream: HostPort,
    private readonly log: Logger,
    private readonly warn: RateLimitedLog,
    private readonly kinds: number,
    private readonly maxKeyLength: number,
    clients: (config: KafkaConfig) => KafkaClients = (config) => new Kafka(config),
  ) {
    // kafkajs' own log lines, as rate-limited warnings
    const logCreator = () => ({ log: entry }: { log: LogEntry['log'] }) =>
      this.warn.warn('coordination-client', { kafkajs: entry.message, error: entry.error }, 'quota coordination client');
    this.kafka = clients({
      clientId: `kqp-coordinator-${shares.settings.sidecarId}`,
      brokers: [`${upstream.host}:${upstream.port}`],
      // with upstream.tls, the same trust and key stores; each broker's certificate checked against its own host
      ...(shares.settings.tls ? { ssl: shares.settings.tls } : {}),
      ...(shares.settings.sasl ? { sasl: { ...shares.settings.sasl } } : {}),
      logLevel: logLevel.WARN,
      logCreator,
      connectionTimeout: 3000,
      requestTimeout: Math.max(3000, shares.settings.intervalMs * 3),
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
    });
    this.admin = this.kafka.admin();
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    // a group of its own (kafkajs reads through groups only), starting at the end: every sidecar publishes each
    // interval, so one interval is all it takes to hear everyone
    // allowAutoTopicCreation false: a deleted topic stays deleted (coordination is lost, shares fall back) rather than
    // coming back as the broker's default (not compacted) through the consumer's metadata requests
    this.consumer = this.kafka.consumer({ allowAutoTopicCreation: false, groupId: `kqp-coordinator-${shares.settings.sidecarId}-${randomBytes(4).toString('hex')}`, sessionTimeout: 10_000, heartbeatInterval: 1000 });
    // kafkajs starts its consumer again only after an error it retries: after any other (authorization lost, a group
    // coordinator not found within its retries, a SASL login refused) it stays stopped, and this sidecar would hear
    // nobody (the static share) until it restarted. It is started again here, with a back-off.
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.restartConsumer(payload.error);
    });
  }

  /** Starts in the background (coordination may be down: shares fall back meanwhile); resolves at once. */
  start(): void {
    void this.connect();
    this.timer = setInterval(() => void this.tick(), this.shares.settings.intervalMs);
    this.timer.unref();
  }

  private async connect(): Promise<void> {
    const { topic } = this.shares.settings;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.admin.connect();
        await this.refreshBrokers();
        const brokers = this.shares.brokers;
        if (!(await this.createTopicIfGone())) await this.checkTopic();
        await this.producer.connect();
        this.connected = true;
        await this.consume();
        this.log.info({ topic, sidecarId: this.shares.settings.sidecarId, brokers }, 'quota coordination started');
        return;
      } catch (err) {
        if (this.stopped) return;
        this.warn.warn('coordination-start', { err: (err as Error).message, attempt }, 'quota coordination: cannot start yet (cluster-scoped quotas use their fallback share)');
        await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** attempt)).unref());
      }
    }
  }

  /** Creates the topic if it does not exist; says whether this sidecar did. */
  private async createTopicIfGone(): Promise<boolean> {
    const { topic } = this.shares.settings;
    if ((await this.admin.listTopics()).includes(topic)) return false;
    // another sidecar may create it first: kafkajs answers false then (TOPIC_ALREADY_EXISTS), and that is as good
    return this.admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: Math.min(3, this.shares.brokers), configEntries: TOPIC_CONFIGS }] });
  }

  /**
   * Publishing failed: if the topic is gone (deleted while the sidecars ran), it is created again, at most once every
   * TOPIC_CHECK_EVERY_MS (the consumer is then started again by tick: published, but not read back). Until this
   * sidecar reads its own report back, cluster-scoped quotas use their fallback share.
   */
  private async recreateTopic(): Promise<void> {
    const now = Date.now();
    if (now - this.topicCheckedMs < TOPIC_CHECK_EVERY_MS) return;
    this.topicCheckedMs = now;
    try {
      if (!(await this.createTopicIfGone())) return;
      this.warn.warn('coordination-recreated', { topic: this.shares.settings.topic },
        'quota coordination: its topic was gone (deleted?) and was created again; coordination resumes once the sidecars read their reports back');
    } catch (err) {
      this.warn.warn('coordination-recreate-failed', { err: (err as Error).message }, 'quota coordination: its topic is gone and could not be created again');
    }
  }

  /**
   * A topic made by someone else (where the sidecars may not create topics) must be what they would have made: one
   * partition, so that a report's parts are read in order and whole (spread over several, reports never complete and
   * others' demands are read as none), and compacted (one report per sidecar kept). Said as a warning.
   */
  private async checkTopic(): Promise<void> {
    const { topic } = this.shares.settings;
    const metadata = await this.admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = metadata.topics[0]?.partitions.length ?? 0;
    const configs = await this.admin.describeConfigs({ includeSynonyms: false, resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['cleanup.policy'] }] });
    const policy = configs.resources[0]?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue ?? '';
    if (partitions !== 1 || !policy.split(',').includes('compact')) {
      this.warn.warn('coordination-topic', { topic, partitions, cleanupPolicy: policy },
        'quota coordination: its topic needs one partition and cleanup.policy compact (create it so, or let the sidecars create it): cluster-scoped quotas may not be shared right');
    }
  }

  /** Subscribes the consumer to the topic (from its end) and runs it. */
  private async consume(): Promise<void> {
    this.consumerStartedMs = Date.now();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.shares.settings.topic, fromBeginning: false });
    await this.consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        this.crashes = 0;
        const r = decodeReport(message.value, this.kinds, this.maxKeyLength);
        if (r) this.shares.received(r);
        if (this.shares.stats.sidecarIdCollisions !== this.collisions) {
          this.collisions = this.shares.stats.sidecarIdCollisions;
          this.warn.warn('coordination-sidecar-id', { sidecarId: r?.sidecar, instance: r?.instance },
            'quota coordination: two sidecar processes publish with the same sidecarId (each counts as one sidecar; give each its own coordination.sidecarId)');
        }
      },
    });
  }

  /**
   * The consumer stopped (or would not start again), or reads nothing: it is started again after a back-off, stopped
   * first (kafkajs may be retrying on a back-off of its own, which that ends).
   */
  private restartConsumer(err: Error, why = 'its consumer stopped on an error kafkajs does not retry'): void {
    if (this.stopped) return;
    const ms = Math.min(MAX_RESTART_MS, 1000 * 2 ** this.crashes++);
    this.warn.warn('coordination-consumer', { err: err.message, restartInMs: ms },
      `quota coordination: ${why} (started again; meanwhile this sidecar falls back to the static share)`);
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.consumer.stop().then(() => this.consume()).catch((e: Error) => this.restartConsumer(e));
    }, ms);
    this.restartTimer.unref();
  }

  private async refreshBrokers(): Promise<void> {
    const { brokers } = await this.admin.describeCluster();
    if (brokers.length > 0) this.shares.brokers = brokers.length;
    this.metadataMs = Date.now();
    const { maxSidecars } = this.shares.settings;
    if (brokers.length > maxSidecars && !this.warnedMaxSidecars) {
      this.warnedMaxSidecars = true;
      this.warn.warn('coordination-max-sidecars', { brokers: brokers.length, maxSidecars },
        'quota coordination: more brokers than coordination.maxSidecars: each sidecar serves at most quota ÷ brokers of a cluster-scoped quota (raise maxSidecars to the broker count)');
    }
  }

  /** One interval: publish this sidecar's demands, then compute the shares again from everyone's. */
  private async tick(): Promise<void> {
    if (this.stopped || this.publishing || !this.connected) return;
    this.publishing = true;
    try {
      const entries = this.shares.collect();
      // in chunks, the event loop running between them (10,000 tenants' shares took up to 270 ms in one piece)
      for (let from = 0; from < this.shares.slotCount && !this.stopped; from += RECOMPUTE_CHUNK_SLOTS) {
        if (from > 0) await yieldToEventLoop();
        this.shares.recompute(from, from + RECOMPUTE_CHUNK_SLOTS);
      }
      // a sidecar that is not coordinated serves the static share: it says so, and the others reserve that for it
      const from = { sidecar: this.shares.settings.sidecarId, instance: this.shares.instance, staticShare: this.shares.mode() !== 'coordinated' };
      const { records, dropped } = encodeReport(from, Date.now(), entries, this.parts);
      this.shares.stats.entriesDropped += dropped;
      this.parts = records.filter((r) => r.value !== null).length;
      for (let i = 0; i < records.length && !this.stopped; i += PARTS_PER_SEND) {
        await this.producer.send({ topic: this.shares.settings.topic, acks: 1, messages: records.slice(i, i + PARTS_PER_SEND) });
      }
      this.shares.published(records.length, records.reduce((n, r) => n + r.key.length + (r.value?.length ?? 0), 0), entries.length);
      // published, yet its own reports are not read back (the topic deleted and created again, by this sidecar or
      // another; a consumer kafkajs keeps retrying): its consumer is started again
      const sinceStart = Date.now() - this.consumerStartedMs;
      if (this.shares.mode() === 'stale' && sinceStart > CONSUMER_STALL_MS && this.restartTimer === undefined) {
        this.restartConsumer(new Error(`nothing read back for ${this.shares.settings.staleAfterMs} ms`), 'its consumer reads none of the reports published');
      }
      if (Date.now() - this.metadataMs > METADATA_EVERY_MS) await this.refreshBrokers();
    } catch (err) {
      this.warn.warn('coordination-publish', { err: (err as Error).message }, 'quota coordination: publishing failed');
      await this.recreateTopic();
    } finally {
      this.publishing = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.restartTimer);
    await Promise.allSettled([this.consumer.disconnect(), this.producer.disconnect(), this.admin.disconnect()]);
  }
}
