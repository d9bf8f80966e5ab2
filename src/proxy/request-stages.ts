// What the proxy decides about each request before forwarding it. The decisions are small synchronous stages, one per
// API key, looked up in a table built at start-up (from what is configured), so that every request, Produce and Fetch
// included, costs one lookup and one call. A stage reads only the request's head (the header is already read) unless
// it asks for the whole frame, and fills in a Decision that the relay carries out: forward at once (the default), take
// the whole frame first (the stage is then called again with it), hold (not forwarded, the client not read), mute the
// client for a throttle, the throttle_time_ms the response must carry, no response to wait for, or answer the request
// itself (never forwarded; the answer reaches the client in order with the broker's responses), forward a request of
// its own making instead, have the response decoded and merged, or park: wait, unforwarded and its client not read,
// until something it waits for calls `resume` (the stage is then called again with the same whole frame). A stage reads every
// field it needs before it changes anything: a field beyond the head throws a ProtocolError, the relay reads more of
// the frame and the stage is called again. (A connection closes on a ProtocolError from a whole frame.)
import { API_SCHEMAS, ApiKey } from '../protocol/generated/api-table.js';
import type { RequestHeader } from '../protocol/headers.js';
import { TruncatedError } from '../protocol/errors.js';
import type { HoldCheck, QuotaEnforcer, TenantState } from '../quota/quota-enforcer.js';
import { REPLICATION, THROTTLE_COUNTED, type Merge } from './inflight-queue.js';
import type { GateTicket } from './admin-gate.js';
import { adminStage, CONTROLLER_BOUND, type AdminDeps } from './admin-stages.js';
import { deleteGroupsCount, fetchMaxBytesOffset, heartbeatMemberEpoch, isFollowerFetch, joinGroupIsNewMember, produceAcks, shareFetchMaxBytesAt } from './request-peek.js';
import { GROUP_JOINS } from '../quota/quota-kinds.js';
import { ErrorCode } from '../protocol/generated/error-codes.js';
import { defaultApiVersion, defaultApiVersionsResponse } from '../protocol/generated/api-versions-response.js';
import { encodeResponse } from './error-responses.js';

/** A request as a stage sees it. One object per connection, refilled for each request. */
export interface RequestView {
  /** The frame's first bytes, size prefix included; a stage may patch fields in place. */
  head: Buffer;
  /** The frame's size (without the prefix). */
  size: number;
  header: RequestHeader;
  /** Where the body starts in `head` (-1 when the API version is unknown: its header could not be read in full). */
  bodyAt: number;
  tenant: TenantState;
  /** Calls the stage again with the parked request (the relay's own function; a stage that parks hands it on). */
  resume: () => void;
  /** The request's place in the admin gate while it is parked there (set by the stage; cleared for each new request). */
  ticket: GateTicket | undefined;
  /** Its partition counts were looked up already (set by the stage; cleared for each new request). */
  lookedUp: boolean;
  /** A timer that resumes the parked request (set by the stage; cancelled if the connection closes first). */
  wake: NodeJS.Timeout | undefined;
  /**
   * When the request must be forwarded by, at the latest (the relay's clock; Infinity: no limit): the end of the SASL
   * session the broker gave the connection (KIP-368), past which the broker closes it on reading the request. Holds and
   * parks end by then: a parked admin request is answered as at admin.maxWaitMs, a debt not waited out further.
   */
  forwardBy: number;
  /** forwardBy from the time this stage call began (ms; <= 0 once it has passed). */
  forwardLeftMs: number;
  /**
   * The connection has not logged in, on a listener whose clients log in (a SASL login has succeeded on this sidecar;
   * before the first one, nothing says so).
   */
  beforeLogin: boolean;
}

/** What a stage decided. One object per connection, reset before each request. */
export interface Decision {
  /** Hold the request, unforwarded, with the client not read, for this long (ms): its tenant's debt. */
  holdMs: number;
  /** Hold it as long for the broker budget (broker-wide, not the tenant's: a reload does not shorten it). */
  budgetWaitMs: number;
  /** The hold was cut to one coordination interval: ask the enforcer again when it ends (QuotaEnforcer.holdLeft). */
  holdCheck: HoldCheck | undefined;
  /** Mute the client (do not read it) for this long from now (ms): its throttle. */
  muteMs: number;
  /** The throttle_time_ms its response must carry at least (ms). */
  responseThrottleMs: number;
  /** In-flight flags for its entry (THROTTLE_COUNTED). */
  flags: number;
  /** No response will come (acks=0 produce): nothing to track. */
  noResponse: boolean;
  /** Call the stage again with the whole frame (up to limits.maxRewriteFrameBytes; a larger one closes the connection). */
  whole: boolean;
  /** The response to send instead of forwarding the request (size prefix included). */
  answer: Buffer | undefined;
  /** Park the (whole) request until `resume` is called. */
  park: boolean;
  /** The (whole) request to forward instead of this one (size prefix included). */
  forward: Buffer | undefined;
  /** Take the response whole and pass its decoded body to this (it may learn from it or change it). */
  merge: Merge | undefined;
}

export type Stage = (req: RequestView, d: Decision) => void;

export function resetDecision(d: Decision): void {
  d.holdMs = 0;
  d.budgetWaitMs = 0;
  d.holdCheck = undefined;
  d.muteMs = 0;
  d.responseThrottleMs = 0;
  d.flags = 0;
  d.noResponse = false;
  d.whole = false;
  d.answer = undefined;
  d.park = false;
  d.forward = undefined;
  d.merge = undefined;
}

export function emptyDecision(): Decision {
  return { holdMs: 0, budgetWaitMs: 0, holdCheck: undefined, muteMs: 0, responseThrottleMs: 0, flags: 0, noResponse: false, whole: false, answer: undefined, park: false, forward: undefined, merge: undefined };
}

const forward: Stage = () => undefined;

/** The stage of each API key. */
export interface StageTable {
  of(apiKey: number): Stage;
}

/** The proxy's stages, from its config (an API key beyond the table, one this build does not know: the default stage). */
export class RequestStages implements StageTable {
  private readonly byKey: Stage[];
  private readonly fallback: Stage;

  /**
   * `shareFetchLimit`: ShareFetch's max_bytes is capped to it whatever the quotas (its responses are rewritten whole).
   * `wholeLimit`: the largest request the relay takes whole (limits.maxRewriteFrameBytes).
   */
  constructor(deps: AdminDeps, shareFetchLimit: number, wholeLimit: number) {
    const { quotas, budget } = deps;
    const q = quotas.active ? quotas : undefined;
    this.fallback = q ? requestQuota(q) : forward;
    this.byKey = Array.from({ length: Math.max(...API_SCHEMAS.map((a) => a.key)) + 1 }, () => this.fallback);
    this.byKey[ApiKey.Produce] = produce(q);
    if (q) this.byKey[ApiKey.Fetch] = exemptReplication(fetch(q, fetchMaxBytesField, Infinity, ONE_BATCH_BELOW), wholeLimit);
    if (q || shareFetchLimit !== Infinity) this.byKey[ApiKey.ShareFetch] = fetch(q, shareFetchMaxBytesField, shareFetchLimit);
    if (q || budget.limits('groupJoins')) {
      this.byKey[ApiKey.JoinGroup] = groupChurn(q, budget, (r) => (joinGroupIsNewMember(r.head, r.bodyAt, r.header.apiVersion) ? 1 : 0));
      for (const [key, message] of [
        [ApiKey.ConsumerGroupHeartbeat, 'ConsumerGroupHeartbeatRequest'],
        [ApiKey.ShareGroupHeartbeat, 'ShareGroupHeartbeatRequest'],
        [ApiKey.StreamsGroupHeartbeat, 'StreamsGroupHeartbeatRequest'],
      ] as const) {
        this.byKey[key] = groupChurn(q, budget, (r) => (heartbeatMemberEpoch(r.head, r.bodyAt, message, r.header.apiVersion) === 0 ? 1 : 0));
      }
      this.byKey[ApiKey.DeleteGroups] = groupChurn(q, budget, (r) => Math.max(0, deleteGroupsCount(r.head, r.bodyAt, r.header.apiVersion)));
    }
    for (const key of CONTROLLER_BOUND) this.byKey[key] = adminStage(key, deps);
    this.byKey[ApiKey.ApiVersions] = apiVersions(this.fallback);
    // the SASL exchange is never throttled (Kafka does not throttle it either: a client must be able to authenticate)
    this.byKey[ApiKey.SaslHandshake] = forward;
    this.byKey[ApiKey.SaslAuthenticate] = forward;
  }

  of(apiKey: number): Stage {
    return this.byKey[apiKey] ?? this.fallback;
  }
}

/**
 * ApiVersions: not charged before a SASL login (below). At a version this build cannot read (a client newer than the
 * Kafka jar the codec comes from): answered as Kafka answers a version it does not know (KIP-511;
 * KafkaApis.handleApiVersionsRequest, ApiVersionsRequest.getErrorResponse): UNSUPPORTED_VERSION in the v0 format,
 * listing the ApiVersions versions taken, so that the client asks again with one. Forwarded, a broker that knows the
 * version answers in it, which the proxy cannot cap, and the connection was closed each time the client tried.
 */
function apiVersions(next: Stage): Stage {
  const max = API_SCHEMAS.find((a) => a.key === ApiKey.ApiVersions)!.maxVersion;
  return (req, d) => {
    // before a SASL login, Kafka's authenticator answers ApiVersions itself (SaslServerAuthenticator), uncharged: charged
    // here, every connecting client of every tenant shared ANONYMOUS's request bucket, and a burst of connections
    // throttled the logins of all
    if (!req.beforeLogin) next(req, d);
    if (req.header.apiVersion <= max) return;
    const body = { ...defaultApiVersionsResponse(), errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: [{ ...defaultApiVersion(), apiKey: ApiKey.ApiVersions, maxVersion: max }] };
    d.answer = encodeResponse(ApiKey.ApiVersions, 0, req.header.correlationId, body);
  };
}

/** Any request under a request-rate quota: one request charged; over it, the client is muted and told. */
function requestQuota(quotas: QuotaEnforcer): Stage {
  return (req, d) => throttle(quotas, req, d, quotas.chargeRequest(req.tenant, req.header.clientId));
}

/** Throttles the request's tenant for `ms` (none when <= 0): the client muted and told, at least that long. */
export function throttle(quotas: QuotaEnforcer, req: RequestView, d: Decision, ms: number): void {
  if (ms <= 0) return;
  quotas.throttled(req.tenant, ms);
  d.muteMs = Math.max(d.muteMs, ms);
  d.responseThrottleMs = Math.max(d.responseThrottleMs, ms);
}

/**
 * Consumer-group churn: `joins` (read from the head) are charged to the tenant's groupJoins bucket with the request
 * itself; over the quota the client is muted and told, as for any throttle. They are paid to the broker-wide budget
 * too, before forwarding: over it, the request waits its turn (a rate, never a cap on JoinGroups in flight: those wait
 * at the coordinator for a rebalance, and a cap could deadlock it).
 */
function groupChurn(quotas: QuotaEnforcer | undefined, budget: AdminDeps['budget'], joins: (req: RequestView) => number): Stage {
  return (req, d) => {
    const n = req.bodyAt >= 0 ? joins(req) : 0;
    const clientId = req.header.clientId;
    if (quotas) throttle(quotas, req, d, n > 0 ? quotas.chargeUnits(req.tenant, clientId, GROUP_JOINS, n) : quotas.chargeRequest(req.tenant, clientId));
    const wait = budget.waitMs('groupJoins', n);
    if (wait > 0) {
      // the wait is served before forwarding: the response carries only the tenant's throttle left after it
      d.budgetWaitMs = wait;
      d.responseThrottleMs = Math.max(0, d.responseThrottleMs - wait);
    }
  };
}

/**
 * Produce: acks=0 gets no response (its throttle is the mute alone). Under a produce quota its bytes are charged; one
 * that would take the tenant deeper into debt than the enforcer allows is held first, and its response carries what
 * is left of the throttle once it is forwarded (a KIP-219 client must not wait twice).
 */
function produce(quotas: QuotaEnforcer | undefined): Stage {
  return (req, d) => {
    const h = req.header;
    d.noResponse = req.bodyAt >= 0 && produceAcks(req.head, req.bodyAt, h.apiVersion) === 0;
    if (!quotas) return;
    const charged = quotas.chargeProduce(req.tenant, h.clientId, req.size, d.noResponse);
    throttle(quotas, req, d, charged.throttleMs);
    d.holdMs = charged.holdMs;
    d.holdCheck = charged.check;
    d.responseThrottleMs -= charged.holdMs;
  };
}

/**
 * Fetch: a follower's (a broker replicating through the sidecar) is charged to no quota, neither its bytes nor as a
 * request, and never held or capped: Kafka exempts replication from client quotas (KafkaApis.handleFetchRequest sends a
 * follower's response with sendResponseExemptThrottle). From v15 the replica id ends the body, so a fetch whose head is
 * not the whole frame is taken whole first (up to `wholeLimit`: a larger one is a consumer's as far as the proxy knows).
 * Every other fetch goes to `consumer`.
 */
function exemptReplication(consumer: Stage, wholeLimit: number): Stage {
  return (req, d) => {
    if (req.bodyAt >= 0) {
      const v = req.header.apiVersion;
      const partial = req.head.length < req.size + 4;
      if (v >= 15 && partial && req.size <= wholeLimit) {
        d.whole = true;
        return;
      }
      // up to v14 the replica id opens the body (a head too short for it is one for max_bytes too: `consumer` reads more)
      const readable = v <= 14 ? req.head.length >= req.bodyAt + 4 : !partial;
      if (readable && isFollowerFetch(req.head, req.bodyAt, v)) {
        d.flags = REPLICATION;
        return;
      }
    }
    consumer(req, d);
  };
}

/** Where a fetch's max_bytes is in the request's head, -1 when it has none; throws a ProtocolError when it is beyond the head. */
type MaxBytesAt = (req: RequestView) => number;

/** Fetch: at a fixed offset in the body from v3 (KIP-74); v0-v2 have none. */
const fetchMaxBytesField: MaxBytesAt = (req) => {
  const offset = fetchMaxBytesOffset(req.header.apiVersion);
  if (offset < 0) return -1;
  const at = req.bodyAt + offset;
  if (at + 4 <= req.head.length) return at;
  // beyond the head (a client id of hundreds of bytes): the relay reads more and asks again
  if (req.head.length < req.size + 4) throw new TruncatedError('FetchRequest', req.header.apiVersion, 'MaxBytes', `at byte ${at}, beyond the ${req.head.length} read`);
  return -1;
};

/** ShareFetch: after its group and member ids. */
const shareFetchMaxBytesField: MaxBytesAt = (req) => shareFetchMaxBytesAt(req.head, req.bodyAt, req.header.apiVersion);

/**
 * A Fetch capped below this many bytes asks for one record batch instead (max_bytes 1: the broker returns the first
 * batch whole, KIP-74). A max_bytes this small holds one of Java's default 16 KB batches and cuts through the next,
 * whose part the consumer drops and fetches again, charged twice: a Java consumer of a 100 KB/s tenant (capped to a
 * quarter of the burst, 25 KB) was sent 4.69 MB for 3.13 MB of records. Above it the part cut off is a smaller share
 * (16 KB batches: 12% of 64 KB, 3% of 256 KB), and one batch a round trip would slow consumers more than that: kafkajs
 * read 16 KB batches one a fetch at 151 KB/s, 0.30 of a 512 KB/s quota (0.98-1.01 with its 128 KB cap). ShareFetch
 * keeps its cap (its broker acquires records by batch and releases what it does not send).
 */
const ONE_BATCH_BELOW = 32 * 1024;

/**
 * Fetch and ShareFetch under a fetch quota (Kafka charges both to it: KafkaApis' handleFetchRequest and
 * processShareFetchResponse): max_bytes is capped to what the tenant may take (one response then overshoots by one
 * record batch at most, KIP-74), and the fetch is held while the tenant is in debt; a capped or held fetch counts as
 * throttled (THROTTLE_COUNTED: its response adds time, not a second request). Its response is charged when it comes.
 * Fetch v0-v2 have no max_bytes: they are held, not capped, and their responses are charged and throttled the same.
 * `limit` caps max_bytes whatever the quota (a ShareFetch response taken whole to rewrite its addresses must fit
 * limits.maxRewriteFrameBytes); `quotas` undefined: that cap only. A cap under `oneBatchBelow` is one batch.
 */
function fetch(quotas: QuotaEnforcer | undefined, maxBytesAt: MaxBytesAt, limit = Infinity, oneBatchBelow = 0): Stage {
  return (req, d) => {
    if (req.bodyAt >= 0) {
      const at = maxBytesAt(req);
      const asked = at >= 0 ? req.head.readInt32BE(at) : -1;
      const allowance = quotas?.fetchAllowance(req.tenant, req.header.clientId);
      const cap = Math.min(allowance?.maxBytes ?? Infinity, limit);
      if (asked > cap) req.head.writeInt32BE(cap < oneBatchBelow ? 1 : cap, at);
      if (quotas && allowance && (asked > allowance.maxBytes || allowance.waitMs > 0)) {
        quotas.throttled(req.tenant, allowance.waitMs);
        d.holdMs = allowance.waitMs;
        d.holdCheck = allowance.check;
        d.flags = THROTTLE_COUNTED;
      }
    }
    if (quotas) throttle(quotas, req, d, quotas.chargeRequest(req.tenant, req.header.clientId));
  };
}
