// Reads and validates the YAML config file. Every error names the field and what is wrong with it.
import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { CONFIG_SCHEMA } from './config-schema.js';
import { withLines } from './config-lines.js';
import { QUOTA_KINDS } from '../quota/quota-kinds.js';
import type { BrokerBudgetConfig } from '../quota/broker-budget.js';
import type { CoordinationSasl, CoordinationSettings } from '../quota/cluster-shares.js';
import { MAX_SIDECAR_ID_LENGTH } from '../quota/coordination-records.js';
import { isIP } from 'node:net';
import { cidrError, cidrKey } from '../quota/addresses.js';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import { listenerTls, upstreamTls, untrustedBroker, TlsSettingError, type ListenerTls, type TlsFileSettings, type UpstreamTls } from '../tls/tls-settings.js';
import type { SaslLogin } from '../proxy/sasl-client.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Where clients connect, and the TLS they speak there (none: plaintext). */
export interface Listen extends HostPort {
  tls: ListenerTls | undefined;
}

/** The broker, the TLS the sidecar speaks to it (none: plaintext), and the sidecar's own login there (none: not a SASL listener). */
export interface Upstream extends HostPort {
  tls: UpstreamTls | undefined;
  sasl?: SaslLogin;
}

export type Advertise =
  | { mode: 'none' }
  | { mode: 'map'; map: ReadonlyMap<number, HostPort> }
  | { mode: 'pattern'; pattern: string };

export interface Limits {
  maxFrameBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
  maxInFlightPerConnection: number;
  maxRewriteFrameBytes: number;
  shutdownGraceMs: number;
}

/** Connection storms (config `connections`). */
export interface ConnectionLimits {
  maxPerIp: number;
  /** CIDR → max open connections per address in it, in config order. */
  maxPerIpOverrides: ReadonlyMap<string, number>;
  creationRatePerIp: number;
  creationBurstPerIp: number;
  maxWaiting: number;
  maxPerPrincipal: number;
  rateTableCapacity: number;
}

/** Controller-bound admin requests (config `admin`). */
export interface AdminConfig {
  maxInFlight: number;
  maxWaitMs: number;
  /** A topic change keeps its gate place until the broker has applied it, for this long at most (0: off). */
  holdUntilAppliedMs: number;
  defaultPartitions: number;
  topicCacheCapacity: number;
}

export interface Rate {
  /** Per second: bytes for produce and fetch, requests for requests. */
  rate: number;
  /** Bucket size in the same unit: what may be used at once after an idle spell. */
  burst: number;
}

/** A quota in Kafka's entity terms: user and client-id are a name, '<default>', or absent. */
export interface QuotaEntry {
  user: string | undefined;
  clientId: string | undefined;
  /** By kind (QUOTA_KINDS' order): the rate it sets, or undefined. */
  rates: (Rate | undefined)[];
  /** Measured as if enforced, but nobody throttled (mode: shadow, or enforce: false). */
  shadow: boolean;
  /** scope: cluster: the rate is the tenant's total across the cluster's sidecars (default false: per broker). */
  cluster?: boolean;
}

export interface TenantsConfig {
  user: 'sasl' | 'address' | 'none';
  addresses: ReadonlyMap<string, readonly string[]>;
  clientIdPattern: RegExp | undefined;
  oauthbearerSubClaim: string;
}

export interface ProxyConfig {
  listen: Listen;
  upstream: Upstream;
  advertise: Advertise;
  limits: Limits;
  connections: ConnectionLimits;
  brokerBudget: BrokerBudgetConfig;
  admin: AdminConfig;
  metrics: HostPort;
  logLevel: string;
  reload: { watch: boolean };
  tenants: TenantsConfig;
  quotas: QuotaEntry[];
  quotaTable: { capacity: number; maxKeyLength: number; newBucketShare: number };
  coordination: CoordinationSettings;
}

/** The largest config file read (100,000 quota entries of some 60 bytes fit): a wrong path to a big file is refused, not read. */
const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;
/** A burst defaults to one second of the rate. */
const DEFAULT_BURST_SECONDS = 1;

export class ConfigError extends Error {
  readonly code = 'KQP_CONFIG_INVALID';
  override readonly name = 'ConfigError';
}

export function parseHostPort(text: string): HostPort {
  const at = text.lastIndexOf(':');
  const host = text.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(text.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`bad address ${text}`);
  return { host, port };
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(CONFIG_SCHEMA);

/** Settings that have moved: where they are now. */
const MOVED: Record<string, string> = { 'coordination.sasl': "now upstream.sasl: the sidecar's own login, its coordination client's and its lookups'" };

function describe(e: ErrorObject): string {
  // a JSON pointer: / between keys, ~1 and ~0 for / and ~ within one (a CIDR key's /16)
  const path = e.instancePath.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~')).join('.') || '(top level)';
  if (e.keyword === 'additionalProperties') {
    const setting = `${path === '(top level)' ? '' : `${path}.`}${(e.params as { additionalProperty: string }).additionalProperty}`;
    return `${setting}: unknown setting${MOVED[setting] ? ` (${MOVED[setting]})` : ''}`;
  }
  if (e.keyword === 'required') return `${(e.params as { missingProperty: string }).missingProperty}: is required`;
  if (/^\/(listen|upstream)(\/address)?$/.test(e.instancePath) && ['pattern', 'type', 'anyOf'].includes(e.keyword)) {
    return `${path.replace(/\.address$/, '')}: must be host:port, or {address: host:port, tls: {...}${path.startsWith('upstream') ? ', sasl: {...}' : ''}}`;
  }
  if (e.keyword === 'pattern' && e.instancePath.match(/(metrics|map\/\d+)$/)) return `${path}: must be host:port`;
  if (e.keyword === 'enum') return `${path}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  return `${path}: ${e.message ?? 'is invalid'}`;
}

/** Validates a parsed config object (defaults filled in) and converts it to a ProxyConfig. */
export function configFromObject(raw: unknown): ProxyConfig {
  const doc = structuredClone(raw ?? {});
  if (!validate(doc)) throw new ConfigError(`invalid config:\n  ${[...new Set(validate.errors!.map(describe))].join('\n  ')}`);
  const c = doc as {
    listen: Endpoint; upstream: Endpoint; metrics: string; logLevel: string; reload: { watch: boolean }; enforce: boolean; limits: Limits;
    connections: Omit<ConnectionLimits, 'maxPerIpOverrides'> & { maxPerIpOverrides: Record<string, number> };
    brokerBudget: Record<string, number | undefined>;
    admin: AdminConfig;
    advertise: { mode: 'none' | 'map' | 'pattern'; map?: Record<string, string>; pattern?: string };
    tenants: { user: 'sasl' | 'address' | 'none'; addresses?: Record<string, string[]>; clientIdPattern?: string; oauthbearerSubClaim: string };
    quotas: Record<string, string | number | undefined>[];
    quotaTable: { capacity: number; maxKeyLength: number; newBucketShare: number };
    coordination: Omit<CoordinationSettings, 'sidecarId' | 'sasl'> & { sidecarId?: string };
  };
  let advertise: Advertise;
  if (c.advertise.mode === 'map') {
    if (!c.advertise.map || Object.keys(c.advertise.map).length === 0) throw new ConfigError('invalid config:\n  advertise.map: is required when advertise.mode is map');
    advertise = { mode: 'map', map: new Map(Object.entries(c.advertise.map).map(([id, a]) => [Number(id), parseHostPort(a)])) };
  } else if (c.advertise.mode === 'pattern') {
    if (!c.advertise.pattern) throw new ConfigError('invalid config:\n  advertise.pattern: is required when advertise.mode is pattern');
    parseHostPort(c.advertise.pattern.replace('{nodeId}', '0'));
    advertise = { mode: 'pattern', pattern: c.advertise.pattern };
  } else {
    advertise = { mode: 'none' };
  }
  const upstreamSasl = typeof c.upstream === 'string' || !c.upstream.sasl ? undefined : saslLogin(c.upstream.sasl);
  const upstreamAt: Upstream = { ...endpoint('upstream', c.upstream, (tls, host) => upstreamTls(tls, host)), ...(upstreamSasl ? { sasl: upstreamSasl } : {}) };
  if (c.coordination.staleAfterMs <= c.coordination.intervalMs) throw new ConfigError('invalid config:\n  coordination.staleAfterMs: must be more than coordination.intervalMs');
  if (c.coordination.forgetAfterMs < c.coordination.staleAfterMs) throw new ConfigError('invalid config:\n  coordination.forgetAfterMs: must be at least coordination.staleAfterMs');
  const quotas = c.quotas.map((q, i) => quotaEntry(q, i, c.enforce));
  checkEntities(quotas);
  checkCidrs(Object.keys(c.connections.maxPerIpOverrides).map((cidr) => ['connections.maxPerIpOverrides', cidr]));
  checkCidrs(Object.entries(c.tenants.addresses ?? {}).flatMap(([user, cidrs]) => cidrs.map((cidr) => [`tenants.addresses.${user}`, cidr] as const)));
  return {
    listen: endpoint('listen', c.listen, (tls) => listenerTls(tls)),
    upstream: upstreamAt,
    advertise,
    limits: c.limits,
    connections: { ...c.connections, maxPerIpOverrides: new Map(Object.entries(c.connections.maxPerIpOverrides)) },
    brokerBudget: brokerBudget(c.brokerBudget),
    admin: c.admin,
    metrics: parseHostPort(c.metrics),
    logLevel: c.logLevel,
    reload: c.reload,
    tenants: tenants(c.tenants),
    quotas,
    quotaTable: c.quotaTable,
    coordination: {
      ...c.coordination,
      sidecarId: c.coordination.sidecarId ?? defaultSidecarId(upstreamAt),
      ...(upstreamAt.tls && typeof c.upstream !== 'string' && c.upstream.tls ? { tls: coordinationTls(upstreamAt.tls, c.upstream.tls) } : {}),
      ...(upstreamSasl ? { sasl: { ...upstreamSasl, mechanism: upstreamSasl.mechanism.toLowerCase() } as CoordinationSasl } : {}),
    },
  };
}

/**
 * coordination.sidecarId when not set: this machine's host name and the upstream's address. The host name tells the
 * sidecars apart where each relays to its broker on the same loopback address (127.0.0.1:19092 on every broker), as in
 * the deploy kit's pods; the address tells apart sidecars of several brokers on one machine.
 */
export function defaultSidecarId(upstream: HostPort): string {
  return `${hostname()}/${upstream.host}:${upstream.port}`.slice(0, MAX_SIDECAR_ID_LENGTH);
}

/**
 * The coordination client's TLS (kafkajs' ssl) with upstream.tls: the same context (trust store, key store, protocols,
 * ciphers), but it reaches every broker of the cluster, so each broker's certificate is checked against the host it is
 * reached at (or upstream.tls.serverName when set), unless ssl.endpoint.identification.algorithm is empty.
 */
function coordinationTls(upstream: UpstreamTls, s: TlsFileSettings): ConnectionOptions {
  const verifyName = (s.endpointIdentificationAlgorithm ?? 'https') === 'https';
  const name = s.serverName;
  return {
    secureContext: upstream.options.secureContext,
    rejectUnauthorized: true,
    ...(name !== undefined && !isIP(name) ? { servername: name } : {}),
    checkServerIdentity: (host, cert) => untrustedBroker(upstream.trust, cert) ?? (verifyName ? checkServerIdentity(name ?? host, cert) : undefined),
  };
}

/** upstream.sasl as written: the password in a file or an environment variable. */
interface SaslFileSettings {
  mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  username: string;
  passwordFile?: string;
  passwordEnv?: string;
}

/** A password file larger than this is not one (a wrong path to a big file is refused rather than read whole). */
const MAX_PASSWORD_FILE_BYTES = 4096;

/** The sidecar's own login (upstream.sasl), its password read now: a missing secret fails the start or the check. */
function saslLogin(s: SaslFileSettings): SaslLogin {
  const bad = (field: string, why: string) => new ConfigError(`invalid config:\n  upstream.sasl.${field}: ${why}`);
  if ((s.passwordFile === undefined) === (s.passwordEnv === undefined)) throw bad('passwordFile', 'give exactly one of passwordFile and passwordEnv');
  let password: string;
  if (s.passwordFile !== undefined) {
    let size: number;
    try {
      size = statSync(s.passwordFile).size;
    } catch (err) {
      throw bad('passwordFile', `cannot read ${s.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    if (size > MAX_PASSWORD_FILE_BYTES) throw bad('passwordFile', `${s.passwordFile} holds ${size} bytes, more than a password (${MAX_PASSWORD_FILE_BYTES} at most)`);
    password = readFileSync(s.passwordFile, 'utf8').replace(/\r?\n$/, '');
  } else {
    password = process.env[s.passwordEnv!] ?? '';
  }
  if (password === '') throw bad(s.passwordFile !== undefined ? 'passwordFile' : 'passwordEnv', `the password in ${s.passwordFile ?? `$${s.passwordEnv}`} is empty or missing`);
  return { mechanism: s.mechanism, username: s.username, password };
}

/** listen and upstream: host:port, or {address, tls} (upstream: and sasl). */
type Endpoint = string | { address: string; tls?: TlsFileSettings; sasl?: SaslFileSettings };

function endpoint<T>(name: string, e: Endpoint, tls: (settings: TlsFileSettings, host: string) => T): HostPort & { tls: T | undefined } {
  const at = parseHostPort(typeof e === 'string' ? e : e.address);
  if (typeof e === 'string' || e.tls === undefined) return { ...at, tls: undefined };
  try {
    return { ...at, tls: tls(e.tls, at.host) };
  } catch (err) {
    if (err instanceof TlsSettingError) throw new ConfigError(`invalid config:\n  ${name}.tls.${err.field}: ${err.message}`);
    throw err;
  }
}

/**
 * CIDRs the schema's pattern lets through but an address list would refuse or misread (at start, or at a reload), and
 * a network named twice (which of two tenants, or of two overrides, would win is not what the file says).
 */
function checkCidrs(cidrs: readonly (readonly [path: string, cidr: string])[]): void {
  const errors: string[] = [];
  const seen = new Map<string, string>();
  for (const [path, cidr] of cidrs) {
    const error = cidrError(cidr);
    if (error !== undefined) {
      errors.push(`${path}: ${error}`);
      continue;
    }
    const first = seen.get(cidrKey(cidr));
    if (first !== undefined) errors.push(`${path}: ${cidr} is named in ${first} too`);
    else seen.set(cidrKey(cidr), path);
  }
  if (errors.length > 0) throw new ConfigError(`invalid config:\n  ${errors.join('\n  ')}`);
}

/**
 * One rate of a kind per entity, as Kafka keeps one value per quota key: two entries for one (user, client id) may set
 * different kinds (each with its own mode and scope: the README's shadow roll-out of a new kind is a second entry),
 * but one kind set twice would leave one of them silently unused.
 */
function checkEntities(quotas: readonly QuotaEntry[]): void {
  const seen = new Map<string, number>();
  quotas.forEach((q, i) => {
    const entity = `${q.user === undefined ? '' : `user=${q.user}`}${q.user !== undefined && q.clientId !== undefined ? ', ' : ''}${q.clientId === undefined ? '' : `clientId=${q.clientId}`}`;
    q.rates.forEach((rate, kind) => {
      if (rate === undefined) return;
      const key = `${entity}\u0000${kind}`;
      const first = seen.get(key);
      if (first !== undefined) {
        throw new ConfigError(`invalid config:\n  quotas.${i}.${QUOTA_KINDS[kind]!.rateSetting}: set for the same entity in quotas.${first} (${entity}): one of them would go unused`);
      }
      seen.set(key, i);
    });
  });
}

function tenants(t: { user: 'sasl' | 'address' | 'none'; addresses?: Record<string, string[]>; clientIdPattern?: string; oauthbearerSubClaim: string }): TenantsConfig {
  let clientIdPattern: RegExp | undefined;
  if (t.clientIdPattern !== undefined) {
    try {
      clientIdPattern = new RegExp(t.clientIdPattern);
    } catch (err) {
      throw new ConfigError(`invalid config:\n  tenants.clientIdPattern: ${(err as Error).message}`);
    }
    // a pattern that matches the empty string or not, with its alternative that does: groups names every group
    if (!('tenant' in (new RegExp(`(?:${t.clientIdPattern})|`).exec('')?.groups ?? {}))) {
      throw new ConfigError('invalid config:\n  tenants.clientIdPattern: must have a named group (?<tenant>...)');
    }
  }
  const networks = Object.values(t.addresses ?? {}).flat().length;
  if (t.user === 'address' && networks === 0) throw new ConfigError('invalid config:\n  tenants.addresses: is required (at least one network) when tenants.user is address');
  if (t.user !== 'address' && t.addresses !== undefined) throw new ConfigError(`invalid config:\n  tenants.addresses: applies only when tenants.user is address (it is ${t.user})`);
  return { user: t.user, addresses: new Map(Object.entries(t.addresses ?? {})), clientIdPattern, oauthbearerSubClaim: t.oauthbearerSubClaim };
}

function brokerBudget(b: Record<string, number | undefined>): BrokerBudgetConfig {
  const rate = (perSec: string, burst: string): Rate | undefined => {
    const r = b[perSec];
    if (r === undefined) {
      if (b[burst] !== undefined) throw new ConfigError(`invalid config:\n  brokerBudget.${burst}: needs ${perSec}`);
      return undefined;
    }
    return { rate: r, burst: b[burst] ?? Math.max(1, r * DEFAULT_BURST_SECONDS) };
  };
  return {
    groupJoins: rate('groupJoinsPerSec', 'groupJoinBurst'),
    partitionMutations: rate('partitionMutationsPerSec', 'partitionMutationBurst'),
  };
}

function quotaEntry(q: Record<string, string | number | undefined>, i: number, enforce: boolean): QuotaEntry {
  const rate = (perSec: string, burst: string): Rate | undefined => {
    const r = q[perSec] as number | undefined;
    if (r === undefined) {
      if (q[burst] !== undefined) throw new ConfigError(`invalid config:\n  quotas.${i}.${burst}: needs ${perSec}`);
      return undefined;
    }
    return { rate: r, burst: (q[burst] as number | undefined) ?? r * DEFAULT_BURST_SECONDS };
  };
  const entry: QuotaEntry = {
    user: q.user as string | undefined,
    clientId: q.clientId as string | undefined,
    rates: QUOTA_KINDS.map((k) => rate(k.rateSetting, k.burstSetting)),
    shadow: q.mode === 'shadow' || !enforce,
    cluster: q.scope === 'cluster',
  };
  if (entry.user === undefined && entry.clientId === undefined) throw new ConfigError(`invalid config:\n  quotas.${i}: needs user, clientId or both`);
  if (entry.rates.every((r) => r === undefined)) throw new ConfigError(`invalid config:\n  quotas.${i}: sets no quota`);
  return entry;
}

export function loadConfig(file: string): ProxyConfig {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_CONFIG_FILE_BYTES) throw new Error(`it holds ${size} bytes, more than a config file may (${MAX_CONFIG_FILE_BYTES})`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid YAML: ${(err as Error).message}`);
  }
  try {
    return configFromObject(raw);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(withLines(err.message, text));
    throw err;
  }
}
