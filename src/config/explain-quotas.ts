// `--check-config FILE --explain user:client`: which quota of each kind applies to a (user, client id) pair under a
// config, and why: the tenant's client-id entity (the clientIdPattern's tenant group, when it matches) and the
// precedence level that set each kind, as Kafka's DefaultQuotaCallback ranks them (see quota-rules.ts).
import type { ProxyConfig } from './load-config.js';
import { QuotaRules } from '../quota/quota-rules.js';
import { QUOTA_KINDS } from '../quota/quota-kinds.js';
import { ANONYMOUS, TenantResolver } from '../quota/tenant-resolver.js';

/** What each precedence level means (1 wins over 2, and so on). */
const LEVELS = [
  '',
  'user and client id',
  "user's <default> client id",
  'user',
  '<default> user with this client id',
  '<default> user and <default> client id',
  '<default> user',
  'client id',
  '<default> client id',
];

/**
 * A pair as given on the command line: USER:CLIENT-ID, split at the first colon (client ids may hold colons); an
 * empty user is a connection that did not authenticate (Kafka's ANONYMOUS).
 */
export function parsePair(text: string): { user: string; clientId: string } | undefined {
  const at = text.indexOf(':');
  if (at < 0) return undefined;
  return { user: text.slice(0, at) || ANONYMOUS, clientId: text.slice(at + 1) };
}

/** Lines that say, for each kind of quota, what applies to (user, clientId) and at which level. */
export function explainQuotas(config: ProxyConfig, user: string, clientId: string): string[] {
  const rules = new QuotaRules(config.quotas);
  const entity = new TenantResolver(config.tenants).clientEntity(clientId);
  const lines = [`user ${JSON.stringify(user)}, client id ${JSON.stringify(clientId)}` +
    (entity === clientId ? '' : ` (client-id entity ${JSON.stringify(entity)}, from tenants.clientIdPattern)`)];
  if (config.tenants.user === 'none' && user !== ANONYMOUS) {
    // the proxy then takes no user from SASL or addresses: every connection is ANONYMOUS to its quotas
    lines.push(`  (tenants.user is none: the proxy sees this connection's user as ${ANONYMOUS})`);
    user = ANONYMOUS;
  }
  QUOTA_KINDS.forEach((kind, k) => {
    const q = rules.resolve(k, user, entity);
    lines.push(q
      ? `  ${kind.name}: ${q.rate} ${kind.unit}/s, burst ${q.burst}, from the quota on ${q.entity} (level ${q.level} of 8: ${LEVELS[q.level]})${q.shadow ? ', in shadow mode' : ''}`
      : `  ${kind.name}: none (no quota entry sets ${kind.rateSetting} for this pair)`);
  });
  return lines;
}
