// Which quota applies to a request, with Kafka's precedence (DefaultQuotaCallback): for each kind of quota on its
// own, the most specific entity that sets it wins:
//   1 (user, client-id)          2 (user, <default> client-id)   3 user
//   4 (<default> user, client-id) 5 (<default> user, <default> client-id)  6 <default> user
//   7 client-id                  8 <default> client-id
// and the bucket it is charged to is keyed the way Kafka tags its quota sensors: a quota set on a user alone is shared
// by all of that user's client ids; one on a <default> is had separately by each user (or client id) it covers.
import type { QuotaEntry, Rate } from '../config/load-config.js';
import { KINDS, type QuotaKind } from './quota-kinds.js';

export const DEFAULT = '<default>';

export interface ResolvedQuota {
  kind: QuotaKind;
  /** 1 (most specific) to 8. */
  level: number;
  /** The entity that set it, as Kafka writes it, e.g. "user=alice,client-id=<default>". */
  entity: string;
  rate: number;
  burst: number;
  /** Measured as if enforced, nobody throttled (the entry's mode: shadow, or enforce: false). */
  shadow: boolean;
  /** scope: cluster: `rate` is the tenant's total across the sidecars; this sidecar serves its share of it. */
  cluster: boolean;
  /** Bucket key: the quota's user and client-id tags (empty when the quota is not per user or per client id). */
  userTag: string;
  clientTag: string;
}

type Setting = Rate & { shadow: boolean; cluster: boolean };
/** Tenants named in metric labels at most (the rest are reported as "other"). */
export const MAX_NAMED_TENANTS = 1000;
type Level = Map<string, Setting>;

export class QuotaRules {
  // per kind: level maps keyed by user, client id or "user\u0000client"
  private readonly levels: Level[][] = [];

  constructor(entries: readonly QuotaEntry[]) {
    for (let k = 0; k < KINDS; k++) this.levels.push(Array.from({ length: 9 }, () => new Map()));
    for (const e of entries) {
      const { level, key } = levelOf(e.user, e.clientId);
      for (let k = 0; k < KINDS; k++) {
        const r = e.rates[k];
        if (r) this.levels[k]![level]!.set(key, { ...r, shadow: e.shadow, cluster: e.cluster === true });
      }
    }
  }

  /**
   * Names quotas are set for (not <default>): the tenants reported by name in metrics, the first MAX_NAMED_TENANTS of
   * them in the config's order (a config may name 100,000; each name is a series of every per-tenant metric).
   */
  static namedTenants(entries: readonly QuotaEntry[]): { users: Set<string>; clients: Set<string> } {
    const users = new Set<string>();
    const clients = new Set<string>();
    for (const e of entries) {
      if (users.size + clients.size >= MAX_NAMED_TENANTS) break;
      if (e.user !== undefined && e.user !== DEFAULT) users.add(e.user);
      if (e.clientId !== undefined && e.clientId !== DEFAULT && users.size + clients.size < MAX_NAMED_TENANTS) clients.add(e.clientId);
    }
    return { users, clients };
  }

  /**
   * The quota of this kind for (user, clientId), or undefined when none applies. A request with no client id (null or
   * empty) is matched against the user's quotas alone, as Kafka's lookup does (ClientQuotaManager.quotaLimit: an empty
   * client-id tag leaves /config/users/<user> and /config/users/<default>; <default> client-id quotas are not for it).
   */
  resolve(kind: QuotaKind, user: string, clientId: string): ResolvedQuota | undefined {
    const l = this.levels[kind]!;
    let r: Setting | undefined;
    if (clientId === '') {
      if ((r = l[3]!.get(user))) return out(kind, 3, `user=${user}`, r, user, '');
      if ((r = l[6]!.get(''))) return out(kind, 6, `user=${DEFAULT}`, r, user, '');
      return undefined;
    }
    const uc = `${user}\u0000${clientId}`;
    if ((r = l[1]!.get(uc))) return out(kind, 1, `user=${user},client-id=${clientId}`, r, user, clientId);
    if ((r = l[2]!.get(user))) return out(kind, 2, `user=${user},client-id=${DEFAULT}`, r, user, clientId);
    if ((r = l[3]!.get(user))) return out(kind, 3, `user=${user}`, r, user, '');
    if ((r = l[4]!.get(clientId))) return out(kind, 4, `user=${DEFAULT},client-id=${clientId}`, r, user, clientId);
    if ((r = l[5]!.get(''))) return out(kind, 5, `user=${DEFAULT},client-id=${DEFAULT}`, r, user, clientId);
    if ((r = l[6]!.get(''))) return out(kind, 6, `user=${DEFAULT}`, r, user, '');
    if ((r = l[7]!.get(clientId))) return out(kind, 7, `client-id=${clientId}`, r, '', clientId);
    if ((r = l[8]!.get(''))) return out(kind, 8, `client-id=${DEFAULT}`, r, '', clientId);
    return undefined;
  }
}

/** A quota entry's entity as Kafka writes it (kafka-configs --describe): "user=alice", "user=alice,client-id=<default>", "client-id=app". */
export function entityOf(user: string | undefined, clientId: string | undefined): string {
  return [user === undefined ? [] : [`user=${user}`], clientId === undefined ? [] : [`client-id=${clientId}`]].flat().join(',');
}

function levelOf(user: string | undefined, clientId: string | undefined): { level: number; key: string } {
  if (user !== undefined && user !== DEFAULT) {
    if (clientId === undefined) return { level: 3, key: user };
    return clientId === DEFAULT ? { level: 2, key: user } : { level: 1, key: `${user}\u0000${clientId}` };
  }
  if (user === DEFAULT) {
    if (clientId === undefined) return { level: 6, key: '' };
    return clientId === DEFAULT ? { level: 5, key: '' } : { level: 4, key: clientId };
  }
  return clientId === DEFAULT ? { level: 8, key: '' } : { level: 7, key: clientId! };
}

function out(kind: QuotaKind, level: number, entity: string, r: Setting, userTag: string, clientTag: string): ResolvedQuota {
  return { kind, level, entity, rate: r.rate, burst: r.burst, shadow: r.shadow, cluster: r.cluster, userTag, clientTag };
}
