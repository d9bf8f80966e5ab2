// Responses the proxy gives in the broker's place: to an admin request it refuses (THROTTLING_QUOTA_EXCEEDED for the
// topics a partition-mutation quota refused, REQUEST_TIMED_OUT after a wait at the admission gate), a response of the
// request's API and version in which every item fails. Each is built as Kafka builds it in the request class's
// AbstractRequest.getErrorResponse(throttleTimeMs, exception) (kafka-clients 4.4.0, *Request.java): the same fields
// get the error, the others keep Kafka's defaults. One difference: throttle_time_ms is always set, where
// IncrementalAlterConfigs and AlterUserScramCredentials leave it 0 in getErrorResponse.
import { ApiKey } from '../protocol/generated/api-table.js';
import { RESPONSE_CODECS } from '../protocol/generated/codecs.js';
import { ErrorCode, KAFKA_ERRORS } from '../protocol/generated/error-codes.js';
import { apiName, responseHeaderVersion } from '../protocol/api.js';
import { writeResponseHeader } from '../protocol/headers.js';
import { Writer } from '../protocol/writer.js';
import { SIZE_PREFIX } from '../protocol/frame-splitter.js';
import { UnsupportedVersionError } from '../protocol/errors.js';
import { ZERO_UUID } from '../protocol/constants.js';
import type { CreateTopicsRequest } from '../protocol/generated/create-topics-request.js';
import { defaultCreatableTopicResult, defaultCreateTopicsResponse, type CreateTopicsResponse } from '../protocol/generated/create-topics-response.js';
import type { DeleteTopicsRequest } from '../protocol/generated/delete-topics-request.js';
import { defaultDeletableTopicResult, defaultDeleteTopicsResponse, type DeleteTopicsResponse } from '../protocol/generated/delete-topics-response.js';
import type { CreatePartitionsRequest } from '../protocol/generated/create-partitions-request.js';
import {
  defaultCreatePartitionsResponse,
  defaultCreatePartitionsTopicResult,
  type CreatePartitionsResponse,
} from '../protocol/generated/create-partitions-response.js';
import type { DeleteRecordsRequest } from '../protocol/generated/delete-records-request.js';
import {
  defaultDeleteRecordsPartitionResult,
  defaultDeleteRecordsResponse,
  defaultDeleteRecordsTopicResult,
  type DeleteRecordsResponse,
} from '../protocol/generated/delete-records-response.js';
import type { CreateAclsRequest } from '../protocol/generated/create-acls-request.js';
import { defaultAclCreationResult, defaultCreateAclsResponse, type CreateAclsResponse } from '../protocol/generated/create-acls-response.js';
import type { DeleteAclsRequest } from '../protocol/generated/delete-acls-request.js';
import { defaultDeleteAclsFilterResult, defaultDeleteAclsResponse, type DeleteAclsResponse } from '../protocol/generated/delete-acls-response.js';
import type { AlterConfigsRequest } from '../protocol/generated/alter-configs-request.js';
import {
  defaultAlterConfigsResourceResponse,
  defaultAlterConfigsResponse,
  type AlterConfigsResponse,
} from '../protocol/generated/alter-configs-response.js';
import type { IncrementalAlterConfigsRequest } from '../protocol/generated/incremental-alter-configs-request.js';
import {
  defaultAlterConfigsResourceResponse as defaultIncrementalResourceResponse,
  defaultIncrementalAlterConfigsResponse,
  type IncrementalAlterConfigsResponse,
} from '../protocol/generated/incremental-alter-configs-response.js';
import type { AlterPartitionReassignmentsRequest } from '../protocol/generated/alter-partition-reassignments-request.js';
import {
  defaultAlterPartitionReassignmentsResponse,
  defaultReassignablePartitionResponse,
  defaultReassignableTopicResponse,
  type AlterPartitionReassignmentsResponse,
} from '../protocol/generated/alter-partition-reassignments-response.js';
import type { ElectLeadersRequest } from '../protocol/generated/elect-leaders-request.js';
import {
  defaultElectLeadersResponse,
  defaultPartitionResult,
  defaultReplicaElectionResult,
  type ElectLeadersResponse,
} from '../protocol/generated/elect-leaders-response.js';
import type { AlterClientQuotasRequest } from '../protocol/generated/alter-client-quotas-request.js';
import {
  defaultAlterClientQuotasResponse,
  defaultEntityData,
  defaultEntryData,
  type AlterClientQuotasResponse,
} from '../protocol/generated/alter-client-quotas-response.js';
import type { AlterUserScramCredentialsRequest } from '../protocol/generated/alter-user-scram-credentials-request.js';
import {
  defaultAlterUserScramCredentialsResponse,
  defaultAlterUserScramCredentialsResult,
  type AlterUserScramCredentialsResponse,
} from '../protocol/generated/alter-user-scram-credentials-response.js';
import { defaultUpdateFeaturesResponse, type UpdateFeaturesResponse } from '../protocol/generated/update-features-response.js';
import {
  defaultCreateDelegationTokenResponse,
  type CreateDelegationTokenResponse,
} from '../protocol/generated/create-delegation-token-response.js';
import {
  defaultRenewDelegationTokenResponse,
  type RenewDelegationTokenResponse,
} from '../protocol/generated/renew-delegation-token-response.js';
import {
  defaultExpireDelegationTokenResponse,
  type ExpireDelegationTokenResponse,
} from '../protocol/generated/expire-delegation-token-response.js';

/** What every item of the response gets. */
interface Failure {
  version: number;
  code: number;
  /** The message as Kafka's ApiError.fromThrowable keeps it: null when it only repeats the code's default message. */
  message: string | null;
  throttleTimeMs: number;
}

/** Kafka's DeleteRecordsResponse.INVALID_LOW_WATERMARK. */
const INVALID_LOW_WATERMARK = -1n;
/** Kafka's KafkaPrincipal.ANONYMOUS, the owner and requester of a token that was not created. */
const ANONYMOUS = { type: 'User', name: 'ANONYMOUS' } as const;
/** Kafka's "no timestamp" in CreateDelegationTokenResponse.prepareResponse. */
const NO_TIMESTAMP = -1n;

function createTopics(req: CreateTopicsRequest, f: Failure): CreateTopicsResponse {
  // topic id, partitions (-1), replication factor (-1) and configs (empty) keep their defaults
  const topics = req.topics.map((t) => ({ ...defaultCreatableTopicResult(), name: t.name, errorCode: f.code, errorMessage: f.message }));
  return { ...defaultCreateTopicsResponse(), throttleTimeMs: f.throttleTimeMs, topics };
}

function deleteTopics(req: DeleteTopicsRequest, f: Failure): DeleteTopicsResponse {
  // v6+ names topics by name or id: both are echoed as given. Kafka sets no error message.
  const topics: { name: string | null; topicId: Buffer }[] = f.version >= 6 ? req.topics : req.topicNames.map((name) => ({ name, topicId: ZERO_UUID }));
  const responses = topics.map((t) => ({ ...defaultDeletableTopicResult(), name: t.name, topicId: t.topicId, errorCode: f.code }));
  return { ...defaultDeleteTopicsResponse(), throttleTimeMs: f.throttleTimeMs, responses };
}

function createPartitions(req: CreatePartitionsRequest, f: Failure): CreatePartitionsResponse {
  const results = req.topics.map((t) => ({ ...defaultCreatePartitionsTopicResult(), name: t.name, errorCode: f.code, errorMessage: f.message }));
  return { ...defaultCreatePartitionsResponse(), throttleTimeMs: f.throttleTimeMs, results };
}

function deleteRecords(req: DeleteRecordsRequest, f: Failure): DeleteRecordsResponse {
  const topics = req.topics.map((t) => ({
    ...defaultDeleteRecordsTopicResult(),
    name: t.name,
    partitions: t.partitions.map((p) => ({
      ...defaultDeleteRecordsPartitionResult(),
      partitionIndex: p.partitionIndex,
      lowWatermark: INVALID_LOW_WATERMARK,
      errorCode: f.code,
    })),
  }));
  return { ...defaultDeleteRecordsResponse(), throttleTimeMs: f.throttleTimeMs, topics };
}

function createAcls(req: CreateAclsRequest, f: Failure): CreateAclsResponse {
  const results = req.creations.map(() => ({ ...defaultAclCreationResult(), errorCode: f.code, errorMessage: f.message }));
  return { ...defaultCreateAclsResponse(), throttleTimeMs: f.throttleTimeMs, results };
}

function deleteAcls(req: DeleteAclsRequest, f: Failure): DeleteAclsResponse {
  const filterResults = req.filters.map(() => ({ ...defaultDeleteAclsFilterResult(), errorCode: f.code, errorMessage: f.message }));
  return { ...defaultDeleteAclsResponse(), throttleTimeMs: f.throttleTimeMs, filterResults };
}

function alterConfigs(req: AlterConfigsRequest, f: Failure): AlterConfigsResponse {
  const responses = req.resources.map((r) => ({
    ...defaultAlterConfigsResourceResponse(),
    resourceType: r.resourceType,
    resourceName: r.resourceName,
    errorCode: f.code,
    errorMessage: f.message,
  }));
  return { ...defaultAlterConfigsResponse(), throttleTimeMs: f.throttleTimeMs, responses };
}

function incrementalAlterConfigs(req: IncrementalAlterConfigsRequest, f: Failure): IncrementalAlterConfigsResponse {
  const responses = req.resources.map((r) => ({
    ...defaultIncrementalResourceResponse(),
    resourceType: r.resourceType,
    resourceName: r.resourceName,
    errorCode: f.code,
    errorMessage: f.message,
  }));
  return { ...defaultIncrementalAlterConfigsResponse(), throttleTimeMs: f.throttleTimeMs, responses };
}

function alterPartitionReassignments(req: AlterPartitionReassignmentsRequest, f: Failure): AlterPartitionReassignmentsResponse {
  const responses = req.topics.map((t) => ({
    ...defaultReassignableTopicResponse(),
    name: t.name,
    partitions: t.partitions.map((p) => ({
      ...defaultReassignablePartitionResponse(),
      partitionIndex: p.partitionIndex,
      errorCode: f.code,
      errorMessage: f.message,
    })),
  }));
  // the top-level error too; allow_replication_factor_change keeps its default (true)
  return { ...defaultAlterPartitionReassignmentsResponse(), throttleTimeMs: f.throttleTimeMs, errorCode: f.code, errorMessage: f.message, responses };
}

function electLeaders(req: ElectLeadersRequest, f: Failure): ElectLeadersResponse {
  // null topic partitions (elect for all of them): no results, only the top-level error (v1+)
  const replicaElectionResults = (req.topicPartitions ?? []).map((t) => ({
    ...defaultReplicaElectionResult(),
    topic: t.topic,
    partitionResult: t.partitions.map((partitionId) => ({ ...defaultPartitionResult(), partitionId, errorCode: f.code, errorMessage: f.message })),
  }));
  const errorCode = f.version >= 1 ? f.code : ErrorCode.NONE;
  return { ...defaultElectLeadersResponse(), throttleTimeMs: f.throttleTimeMs, errorCode, replicaElectionResults };
}

function alterClientQuotas(req: AlterClientQuotasRequest, f: Failure): AlterClientQuotasResponse {
  // Kafka takes Errors.forException(e).message() here: the code's default message, never the exception's
  const errorMessage = KAFKA_ERRORS.get(f.code)?.message ?? null;
  const entries = req.entries.map((e) => ({
    ...defaultEntryData(),
    errorCode: f.code,
    errorMessage,
    entity: e.entity.map((x) => ({ ...defaultEntityData(), entityType: x.entityType, entityName: x.entityName })),
  }));
  return { ...defaultAlterClientQuotasResponse(), throttleTimeMs: f.throttleTimeMs, entries };
}

function alterUserScramCredentials(req: AlterUserScramCredentialsRequest, f: Failure): AlterUserScramCredentialsResponse {
  // one result per user, deletions and upsertions together, in sorted order (UTF-16 code units, as Java's String)
  const users = [...new Set([...req.deletions.map((d) => d.name), ...req.upsertions.map((u) => u.name)])].sort();
  const results = users.map((user) => ({ ...defaultAlterUserScramCredentialsResult(), user, errorCode: f.code, errorMessage: f.message }));
  return { ...defaultAlterUserScramCredentialsResponse(), throttleTimeMs: f.throttleTimeMs, results };
}

function updateFeatures(_req: object, f: Failure): UpdateFeaturesResponse {
  // UpdateFeaturesResponse.createWithErrors: a top-level error and no per-feature results
  return { ...defaultUpdateFeaturesResponse(), throttleTimeMs: f.throttleTimeMs, errorCode: f.code, errorMessage: f.message, results: [] };
}

function createDelegationToken(_req: object, f: Failure): CreateDelegationTokenResponse {
  const requester = f.version >= 3 ? { tokenRequesterPrincipalType: ANONYMOUS.type, tokenRequesterPrincipalName: ANONYMOUS.name } : {};
  return {
    ...defaultCreateDelegationTokenResponse(),
    errorCode: f.code,
    principalType: ANONYMOUS.type,
    principalName: ANONYMOUS.name,
    ...requester,
    issueTimestampMs: NO_TIMESTAMP,
    expiryTimestampMs: NO_TIMESTAMP,
    maxTimestampMs: NO_TIMESTAMP,
    throttleTimeMs: f.throttleTimeMs,
  };
}

function renewDelegationToken(_req: object, f: Failure): RenewDelegationTokenResponse {
  return { ...defaultRenewDelegationTokenResponse(), errorCode: f.code, throttleTimeMs: f.throttleTimeMs };
}

function expireDelegationToken(_req: object, f: Failure): ExpireDelegationTokenResponse {
  return { ...defaultExpireDelegationTokenResponse(), errorCode: f.code, throttleTimeMs: f.throttleTimeMs };
}

/** Builds the error response to a request of one API (as REQUEST_CODECS decodes it); typed `never` to share a table. */
type Builder = (request: never, f: Failure) => object;

const BUILDERS: ReadonlyMap<number, Builder> = new Map<number, Builder>([
  [ApiKey.CreateTopics, createTopics],
  [ApiKey.DeleteTopics, deleteTopics],
  [ApiKey.CreatePartitions, createPartitions],
  [ApiKey.DeleteRecords, deleteRecords],
  [ApiKey.CreateAcls, createAcls],
  [ApiKey.DeleteAcls, deleteAcls],
  [ApiKey.AlterConfigs, alterConfigs],
  [ApiKey.IncrementalAlterConfigs, incrementalAlterConfigs],
  [ApiKey.AlterPartitionReassignments, alterPartitionReassignments],
  [ApiKey.ElectLeaders, electLeaders],
  [ApiKey.AlterClientQuotas, alterClientQuotas],
  [ApiKey.AlterUserScramCredentials, alterUserScramCredentials],
  [ApiKey.UpdateFeatures, updateFeatures],
  [ApiKey.CreateDelegationToken, createDelegationToken],
  [ApiKey.RenewDelegationToken, renewDelegationToken],
  [ApiKey.ExpireDelegationToken, expireDelegationToken],
]);

/** The APIs errorResponse can answer. */
export const ANSWERABLE: ReadonlySet<number> = new Set(BUILDERS.keys());

/**
 * A response body (decoded form, encodable by RESPONSE_CODECS) to `request` (decoded by REQUEST_CODECS) in which every
 * item fails with `errorCode`. `message` goes where Kafka puts the exception's message (null when it is the code's
 * default message, as Kafka's ApiError does). Throws a RangeError for an API not in ANSWERABLE.
 */
export function errorResponse(apiKey: number, version: number, request: object, errorCode: number, message: string | null, throttleTimeMs: number): object {
  const build = BUILDERS.get(apiKey);
  if (!build) throw new RangeError(`the proxy cannot answer ${apiName(apiKey)} requests itself`);
  return build(request as never, { version, code: errorCode, message: apiErrorMessage(errorCode, message), throttleTimeMs });
}

/**
 * Encodes a response body as a whole frame, size prefix included, with the response header of (apiKey, version).
 * Throws an UnsupportedVersionError for an API key or version the codec does not have.
 */
export function encodeResponse(apiKey: number, version: number, correlationId: number, body: object): Buffer {
  const codec = RESPONSE_CODECS.get(apiKey);
  if (!codec) throw new UnsupportedVersionError('Response', version, '', `unknown API key ${apiKey}`);
  const w = new Writer(256);
  w.int32(0); // the size, once known
  writeResponseHeader(w, correlationId, responseHeaderVersion(apiKey, version)!);
  codec.encode(w, version, body);
  const frame = w.finish();
  frame.writeInt32BE(frame.length - SIZE_PREFIX, 0);
  return frame;
}

/** Kafka's ApiError.fromThrowable: no message for UNKNOWN_SERVER_ERROR, nor one that only repeats the default. */
function apiErrorMessage(code: number, message: string | null): string | null {
  if (code === ErrorCode.UNKNOWN_SERVER_ERROR || message === KAFKA_ERRORS.get(code)?.message) return null;
  return message;
}
