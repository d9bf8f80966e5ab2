// Stages of the controller-bound admin requests (CreateTopics, DeleteTopics, AlterConfigs, ...): the sidecar-wide
// admission gate (admin-gate.ts) and, for the three that create or delete partitions, the partition-mutation quota
// (KIP-599) and the broker-wide budget. They take the whole request (admin requests are small) and decode it.
//
// The partition-mutation quota does what Kafka's controller does (ControllerMutationQuotaManager,
// StrictControllerMutationQuota): the topics of a request are accepted, in order, while the tenant's bucket is not in
// debt, each charged its partitions (the one that takes the bucket into debt included); the rest of the request are
// answered THROTTLING_QUOTA_EXCEEDED (89) by the proxy, without reaching the broker, and the response carries the
// throttle. Unlike Kafka, a refused topic is given a turn (mutation-turns.ts): throttle_time_ms says when, and the
// tenant's refused topics are served in order rather than by whichever retry arrives first. Versions older than
// KIP-599's (CreateTopics v6, CreatePartitions v3, DeleteTopics v5: their clients do not know error 89) are held,
// unforwarded, while the tenant is in debt, then charged whole, as Kafka's PermissiveControllerMutationQuota charges
// them. validate_only requests are not charged. With admin.holdUntilAppliedMs, a mutation keeps its gate place until
// the broker has applied it (apply-watch.ts).
import { REQUEST_CODECS } from '../protocol/generated/codecs.js';
import { API_SCHEMAS, ApiKey } from '../protocol/generated/api-table.js';
import { ErrorCode, KAFKA_ERRORS } from '../protocol/generated/error-codes.js';
import type { CreateTopicsRequest } from '../protocol/generated/create-topics-request.js';
import type { CreateTopicsResponse } from '../protocol/generated/create-topics-response.js';
import type { CreatePartitionsRequest } from '../protocol/generated/create-partitions-request.js';
import type { CreatePartitionsResponse } from '../protocol/generated/create-partitions-response.js';
import type { DeleteTopicsRequest } from '../protocol/generated/delete-topics-request.js';
import type { DeleteTopicsResponse } from '../protocol/generated/delete-topics-response.js';
import { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { SIZE_PREFIX } from '../protocol/frame-splitter.js';
import type { QuotaEnforcer } from '../quota/quota-enforcer.js';
import { PARTITION_MUTATIONS } from '../quota/quota-kinds.js';
import type { BrokerBudget } from '../quota/broker-budget.js';
import type { AdminGate } from './admin-gate.js';
import type { ApplyWatch, TopicChange } from './apply-watch.js';
import type { MutationTurns } from '../quota/mutation-turns.js';
import type { TopicPartitions } from './topic-partitions.js';
import type { TopicRef } from './metadata-lookup.js';
import { ANSWERABLE, encodeResponse, errorResponse } from './error-responses.js';
import { GATED } from './inflight-queue.js';
import { throttleField } from './response-rewriter.js';
import { throttle, type Decision, type RequestView, type Stage } from './request-stages.js';
import { MAX_TIMER_MS } from './deadline-timer.js';

/** Requests the controller serialises: at most admin.maxInFlight of them at the broker at once. */
export const CONTROLLER_BOUND: readonly number[] = [...ANSWERABLE];

/** The first version of each mutation API whose clients understand THROTTLING_QUOTA_EXCEEDED (KIP-599). */
const STRICT_SINCE: Record<number, number> = { [ApiKey.CreateTopics]: 6, [ApiKey.CreatePartitions]: 3, [ApiKey.DeleteTopics]: 5 };

const THROTTLED_MESSAGE = KAFKA_ERRORS.get(ErrorCode.THROTTLING_QUOTA_EXCEEDED)!.message;
const GATE_TIMEOUT_MESSAGE = "waited for the sidecar's admission gate until admin.maxWaitMs or the end of its SASL session";

export interface AdminDeps {
  quotas: QuotaEnforcer;
  budget: BrokerBudget;
  gate: AdminGate;
  applied: ApplyWatch;
  topics: TopicPartitions;
  turns: MutationTurns;
}


/** One item of a mutation request and what it costs. */
interface Cost<T> {
  item: T;
  partitions: number;
}

/** A mutation API in the terms the stage needs. */
interface MutationApi<Req, Res, T> {
  items(req: Req): T[];
  withItems(req: Req, items: T[]): Req;
  validateOnly(req: Req): boolean;
  /** The topic (for the cache and its turn) and whether its partitions must be looked up. */
  ref(item: T): TopicRef;
  needsCount(item: T): boolean;
  cost(item: T, topics: TopicPartitions): number;
  /** The response's result list (refused results are appended to it). */
  results(res: Res): unknown[];
  /** Learns from the broker's results (accepted items, in order); returns the last change it accepted. */
  learn(accepted: T[], res: Res, topics: TopicPartitions): TopicChange | undefined;
}

type CreatableTopic = CreateTopicsRequest['topics'][number];
/** The partitions a CreateTopics topic asks for: its count, or its assignments' count, or (-1) the broker's default. */
const partitionsAsked = (t: CreatableTopic, topics: TopicPartitions) =>
  t.numPartitions >= 0 ? t.numPartitions : t.assignments.length > 0 ? t.assignments.length : topics.defaultPartitions;

const createTopics: MutationApi<CreateTopicsRequest, CreateTopicsResponse, CreatableTopic> = {
  items: (r) => r.topics,
  withItems: (r, topics) => ({ ...r, topics }),
  validateOnly: (r) => r.validateOnly,
  ref: (t) => ({ name: t.name }),
  needsCount: () => false,
  cost: partitionsAsked,
  results: (r) => r.topics,
  // a topic created: its count from the response (v5+), else from what was asked (older clients, kafkajs among them,
  // delete the topics they create: their DeleteTopics is charged from this)
  learn: (accepted, res, topics) => {
    let last: TopicChange | undefined;
    for (const result of res.topics) {
      if (result.errorCode !== ErrorCode.NONE) continue;
      const asked = accepted.find((t) => t.name === result.name);
      if (result.numPartitions >= 0) {
        topics.set(result, result.numPartitions);
        if (asked && asked.numPartitions < 0 && asked.assignments.length === 0) topics.defaultPartitions = result.numPartitions;
      } else if (asked) {
        topics.set(result, partitionsAsked(asked, topics));
      }
      last = { name: result.name, partitions: Math.max(1, topics.get(result) ?? 1), topicId: result.topicId };
    }
    return last;
  },
};

const createPartitions: MutationApi<CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsRequest['topics'][number]> = {
  items: (r) => r.topics,
  withItems: (r, topics) => ({ ...r, topics }),
  validateOnly: (r) => r.validateOnly,
  ref: (t) => ({ name: t.name }),
  needsCount: () => true,
  // partitions added: the new total less what the topic has (Kafka charges the difference)
  cost: (t, topics) => Math.max(0, t.count - (topics.get({ name: t.name }) ?? topics.defaultPartitions)),
  results: (r) => r.results,
  learn: (accepted, res, topics) => {
    let last: TopicChange | undefined;
    for (const result of res.results) {
      const asked = accepted.find((t) => t.name === result.name);
      if (asked && result.errorCode === ErrorCode.NONE) {
        topics.set({ name: result.name }, asked.count);
        last = { name: result.name, partitions: asked.count };
      }
    }
    return last;
  },
};

type DeleteItem = { name: string | null; topicId?: Buffer };

/** DeleteTopics names its topics in topicNames (v0-v5) or in topics, by name or id (v6+). */
const deleteTopics: MutationApi<DeleteTopicsRequest, DeleteTopicsResponse, DeleteItem> = {
  items: (r) => (r.topics.length > 0 ? r.topics : r.topicNames.map((name) => ({ name }))),
  withItems: (r, items) => (r.topics.length > 0 ? { ...r, topics: items as DeleteTopicsRequest['topics'] } : { ...r, topicNames: items.map((t) => t.name!) }),
  validateOnly: () => false,
  ref: (t) => t,
  needsCount: () => true,
  cost: (t, topics) => topics.get(t) ?? topics.defaultPartitions,
  results: (r) => r.responses,
  learn: (_accepted, res, topics) => {
    let last: TopicChange | undefined;
    for (const result of res.responses) {
      if (result.errorCode !== ErrorCode.NONE) continue;
      topics.forget(result);
      if (result.name !== null) last = { name: result.name, partitions: 0, topicId: result.topicId };
    }
    return last;
  },
};

const MUTATIONS = new Map<number, MutationApi<never, never, never>>([
  [ApiKey.CreateTopics, createTopics as unknown as MutationApi<never, never, never>],
  [ApiKey.CreatePartitions, createPartitions as unknown as MutationApi<never, never, never>],
  [ApiKey.DeleteTopics, deleteTopics as unknown as MutationApi<never, never, never>],
]);

/** The stage of a controller-bound API: the gate, then (for the mutation APIs) the partition-mutation quota. */
export function adminStage(apiKey: number, deps: AdminDeps): Stage {
  const mutation = MUTATIONS.get(apiKey) as MutationApi<object, object, object> | undefined;
  const maxVersion = API_SCHEMAS.find((a) => a.key === apiKey)!.maxVersion;
  return (req, d) => {
    // a version this build cannot read (a client that did not ask ApiVersions, whose answer is capped): forwarded as
    // it is, outside the gate (its body cannot be decoded; that closed the connection)
    if (req.bodyAt < 0 || req.header.apiVersion > maxVersion) return;
    if (req.head.length < req.size + SIZE_PREFIX) {
      d.whole = true;
      return;
    }
    const h = req.header;
    const body = REQUEST_CODECS.get(apiKey)!.decode(new Reader(req.head, req.bodyAt, req.head.length), h.apiVersion);
    const ticket = req.ticket;
    if (ticket === undefined) {
      if (mutation && !req.lookedUp && lookUpCounts(mutation, body, req, deps.topics)) {
        d.park = true;
        return;
      }
      // an older version waits out its tenant's debt before it takes a place at the gate: a tenant paying its debt
      // must not hold places that other tenants' requests wait for
      const debtMs = mutation ? Math.min(olderVersionDebtMs(apiKey, mutation, body, req, deps), req.forwardLeftMs) : 0;
      if (debtMs > 0) {
        // a longer debt is waited out in turns of setTimeout's longest delay
        req.wake = setTimeout(req.resume, Math.min(Math.ceil(debtMs), MAX_TIMER_MS)).unref();
        d.park = true;
        return;
      }
      if (!deps.gate.tryEnter()) {
        req.ticket = deps.gate.wait(deps.quotas.tenantOf(req.tenant, h.clientId), req.resume, req.forwardLeftMs);
        d.park = true;
        return;
      }
    } else if (ticket.state === 'timedOut') {
      d.answer = encodeResponse(apiKey, h.apiVersion, h.correlationId, errorResponse(apiKey, h.apiVersion, body, ErrorCode.REQUEST_TIMED_OUT, GATE_TIMEOUT_MESSAGE, 0));
      return;
    }
    d.flags |= GATED;
    const q = deps.quotas.active ? deps.quotas : undefined;
    if (q) throttle(q, req, d, q.chargeRequest(req.tenant, h.clientId));
    if (mutation) chargeMutations(apiKey, mutation, body, req, d, deps);
    if (d.answer) {
      d.flags &= ~GATED;
      deps.gate.release();
    }
  };
}

/** How long a mutation request of a version that cannot be told 89 waits for its tenant's debt (0: it need not). */
function olderVersionDebtMs(apiKey: number, api: MutationApi<object, object, object>, body: object, req: RequestView, deps: AdminDeps): number {
  const h = req.header;
  if (!deps.quotas.active || api.validateOnly(body) || h.apiVersion >= STRICT_SINCE[apiKey]!) return 0;
  return deps.quotas.debtMs(req.tenant, h.clientId, PARTITION_MUTATIONS);
}

/** Starts a lookup of the partition counts the request needs and the cache lacks; false when none is needed (or possible). */
function lookUpCounts(api: MutationApi<object, object, object>, body: object, req: RequestView, topics: TopicPartitions): boolean {
  if (api.validateOnly(body)) return false;
  const missing = api.items(body).filter((t) => api.needsCount(t) && topics.get(api.ref(t)) === undefined).map((t) => api.ref(t));
  if (missing.length === 0) return false;
  req.lookedUp = true;
  return topics.lookUp(missing, req.resume);
}

function chargeMutations(apiKey: number, api: MutationApi<object, object, object>, body: object, req: RequestView, d: Decision, deps: AdminDeps): void {
  const h = req.header;
  const items = api.items(body);
  const accepted: object[] = [];
  const refused: object[] = [];
  let partitions = 0;
  if (api.validateOnly(body)) return; // nothing is created: not charged, nothing to learn
  const costs: Cost<object>[] = items.map((item) => ({ item, partitions: api.cost(item, deps.topics) }));
  const q = deps.quotas.active ? deps.quotas : undefined;
  const strict = h.apiVersion >= STRICT_SINCE[apiKey]!;
  // older clients cannot be told 89: the request waits while the tenant is in debt (parked before the gate, above;
  // held here for what is left of it), then is charged whole
  if (q && !strict) d.holdMs = Math.max(d.holdMs, q.debtMs(req.tenant, h.clientId, PARTITION_MUTATIONS));
  const quota = strict ? q?.quotaOf(req.tenant, h.clientId, PARTITION_MUTATIONS) : undefined;
  let turnMs = 0;
  for (const c of costs) {
    if (quota) {
      const ref = api.ref(c.item);
      const topic = `${apiKey}:${ref.name ?? ref.topicId!.toString('hex')}`;
      const wait = deps.turns.decide(quota.key, topic, (c.partitions / quota.rate) * 1000, q!.debtMs(req.tenant, h.clientId, PARTITION_MUTATIONS));
      if (wait > 0) {
        refused.push(c.item);
        turnMs = Math.max(turnMs, wait);
        continue;
      }
    }
    accepted.push(c.item);
    partitions += c.partitions;
    q?.chargeKind(req.tenant, h.clientId, PARTITION_MUTATIONS, c.partitions);
  }
  // throttled for the debt, or until the last refused topic's turn (what a hold already waited out is not waited
  // again): muted and told, as Kafka does
  if (q) throttle(q, req, d, Math.max(turnMs, q.debtMs(req.tenant, h.clientId, PARTITION_MUTATIONS) - d.holdMs));
  if (accepted.length === 0 && refused.length > 0) {
    d.answer = encodeResponse(apiKey, h.apiVersion, h.correlationId, errorResponse(apiKey, h.apiVersion, body, ErrorCode.THROTTLING_QUOTA_EXCEEDED, THROTTLED_MESSAGE, throttleField(d.responseThrottleMs)));
    return;
  }
  const wait = deps.budget.waitMs('partitionMutations', partitions);
  if (wait > 0) {
    d.budgetWaitMs = wait;
    d.responseThrottleMs = Math.max(0, d.responseThrottleMs - wait);
  }
  if (refused.length > 0) d.forward = reencode(apiKey, req, api.withItems(body, accepted));
  const refusedBody = refused.length > 0 ? errorResponse(apiKey, h.apiVersion, api.withItems(body, refused), ErrorCode.THROTTLING_QUOTA_EXCEEDED, THROTTLED_MESSAGE, 0) : undefined;
  const { topics, gate, applied } = deps;
  d.merge = (res) => {
    // the change keeps this request's gate place until the broker has applied it (released right after this)
    const change = api.learn(accepted, res, topics);
    if (change && applied.watch(change, () => gate.release())) gate.reserve();
    if (refusedBody) api.results(res).push(...api.results(refusedBody));
    return refusedBody !== undefined;
  };
}

/** The request with a new body: its header bytes as they came, the body encoded again. */
function reencode(apiKey: number, req: RequestView, body: object): Buffer {
  const w = new Writer(req.size + SIZE_PREFIX);
  w.int32(0);
  w.raw(req.head.subarray(SIZE_PREFIX, req.bodyAt));
  REQUEST_CODECS.get(apiKey)!.encode(w, req.header.apiVersion, body);
  const frame = Buffer.from(w.finish());
  frame.writeInt32BE(frame.length - SIZE_PREFIX, 0);
  return frame;
}
