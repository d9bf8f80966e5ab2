// The 3-node cluster that `npm test` starts once and shares with every test file that can share it.
import { randomBytes } from 'node:crypto';
import type { ClusterInfo, SaslUsers } from '../../src/local-kafka/kafka-cluster.js';
import type { Certificates } from './tls-certificates.js';

export const SHARED_CLUSTER_ENV = 'KQP_SHARED_CLUSTER';
/** The certificates the runner made before starting the shared cluster (its brokers' SSL listeners use `server` and trust `ca`). */
export const SHARED_CERTIFICATES_ENV = 'KQP_SHARED_CERTIFICATES';

/** Users on the shared cluster's SASL listener. */
export const SHARED_SASL_USERS: SaslUsers = {
  plain: { alice: 'alice-secret', carol: 'carol-secret' },
  scramSha512: { bob: 'bob-secret', dave: 'dave-secret' },
};

export function sharedCluster(): ClusterInfo {
  const json = process.env[SHARED_CLUSTER_ENV];
  if (!json) throw new Error(`${SHARED_CLUSTER_ENV} is not set: run the tests with "npm test" (it starts the shared Kafka cluster)`);
  return JSON.parse(json) as ClusterInfo;
}

/** The shared cluster's certificates (files the runner removes at the end: cleanup() does nothing here). */
export function sharedCertificates(): Certificates {
  const json = process.env[SHARED_CERTIFICATES_ENV];
  if (!json) throw new Error(`${SHARED_CERTIFICATES_ENV} is not set: run the tests with "npm test" (it makes the shared cluster's certificates)`);
  return { ...(JSON.parse(json) as Omit<Certificates, 'cleanup'>), cleanup: () => undefined };
}

/** A name no other test uses (topics, groups, client ids). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
