// API key → name, valid versions, flexible versions and header versions (from the generated schema table).
import { API_SCHEMAS, ApiKey, type ApiSchema } from './generated/api-table.js';

export type { ApiSchema };

const BY_KEY: (ApiSchema | undefined)[] = [];
for (const api of API_SCHEMAS) BY_KEY[api.key] = api;

/** The schema of an API key, or undefined for a key this build does not know (it is passed through). */
export function apiSchema(key: number): ApiSchema | undefined {
  return key >= 0 ? BY_KEY[key] : undefined;
}

export function apiName(key: number): string {
  return BY_KEY[key]?.name ?? `Unknown(${key})`;
}

/**
 * Whether (key, version) uses flexible encodings. Flexible versions are open-ended ("N+") in every schema, so a
 * version newer than the schema's maximum is flexible when the API has gone flexible at all.
 */
export function isFlexible(key: number, version: number): boolean | undefined {
  const api = BY_KEY[key];
  if (!api) return undefined;
  return api.firstFlexibleVersion >= 0 && version >= api.firstFlexibleVersion;
}

/** Request header version: 2 for flexible versions, else 1 (0 only for ControlledShutdown v0); undefined if unknown. */
export function requestHeaderVersion(key: number, version: number): 0 | 1 | 2 | undefined {
  if (key === 7 && version === 0) return 0; // ControlledShutdown v0 (Kafka's ApiKeys.requestHeaderVersion)
  const flexible = isFlexible(key, version);
  if (flexible === undefined) return undefined;
  return flexible ? 2 : 1;
}

/**
 * Response header version: 1 for flexible versions, else 0. ApiVersions responses always use v0, so a client that
 * sent a version the broker does not support can still read the error (KIP-511; ApiKeys.responseHeaderVersion).
 */
export function responseHeaderVersion(key: number, version: number): 0 | 1 | undefined {
  if (key === ApiKey.ApiVersions) return 0;
  const flexible = isFlexible(key, version);
  if (flexible === undefined) return undefined;
  return flexible ? 1 : 0;
}
