// Connection storms, checked before the sidecar opens a broker connection, in Kafka's terms: a count of open
// connections per source IP (max.connections.per.ip, with per-network overrides like max.connections.per.ip.overrides)
// and a rate of new connections per source IP (KIP-612's connection_creation_rate); and, once a connection's SASL
// principal is bound, a count per principal. Over a count, the connection is refused; over the rate, it waits, unread
// and with no broker connection, until the rate allows it (at most `maxWaiting` of them at once; more are refused).
//
// The state is bounded by the config, never by the addresses seen: open counts are kept only for addresses and
// principals with a connection open (at most limits.maxConnections of each), and the rates live in a fixed-size
// bucket table (LRU; an address whose bucket is in debt keeps it, others share an overflow bucket).
import type { BlockList } from 'node:net';
import type { ConnectionLimits } from '../config/load-config.js';
import { BucketTable } from '../quota/bucket-table.js';
import { contains, networks, prefixBits } from '../quota/addresses.js';

export type Admission = { verdict: 'open' } | { verdict: 'wait'; ms: number } | { verdict: 'refuse'; reason: RefusalReason; limit: number };
export type RefusalReason = 'per_ip_limit' | 'creation_rate_queue_full' | 'per_principal_limit';

const OPEN: Admission = { verdict: 'open' };

export class ConnectionGuard {
  private readonly openPerIp = new Map<string, number>();
  private readonly openPerPrincipal = new Map<string, number>();
  private readonly overrides: { list: BlockList; max: number }[] = [];
  private readonly rates: BucketTable;
  /** Connections waiting for the creation rate. */
  waiting = 0;

  constructor(private readonly limits: ConnectionLimits, now: () => number) {
    // the most specific network first (as tenants.addresses): 10.20.0.0/16's override wins over 10.0.0.0/8's
    const specific = [...limits.maxPerIpOverrides].map(([cidr, max]) => ({ cidr, max, bits: prefixBits(cidr) }));
    for (const { cidr, max } of specific.sort((a, b) => b.bits - a.bits)) this.overrides.push({ list: networks([cidr]), max });
    // addresses beyond the table share one creation rate (the overflow bucket)
    this.rates = new BucketTable(limits.rateTableCapacity, 64, now, 1, 1, true);
  }

  get maxPerPrincipal(): number {
    return this.limits.maxPerPrincipal;
  }

  /** The most connections `ip` may have open: the most specific override whose network holds it, else maxPerIp. */
  maxFor(ip: string): number {
    for (const o of this.overrides) if (contains(o.list, ip)) return o.max;
    return this.limits.maxPerIp;
  }

  /**
   * A connection from `ip` was accepted: open it, make it wait (the creation rate), or refuse it. One that is not
   * refused counts as open from `ip` until closed() is called for it.
   */
  admit(ip: string): Admission {
    const open = this.openPerIp.get(ip) ?? 0;
    const max = this.maxFor(ip);
    if (open >= max) return { verdict: 'refuse', reason: 'per_ip_limit', limit: max };
    const { creationRatePerIp: rate, creationBurstPerIp: burst } = this.limits;
    const slot = this.rates.slotFor(ip);
    if (this.rates.tokensOf(slot, 0, rate, burst) < 1 && this.waiting >= this.limits.maxWaiting) {
      return { verdict: 'refuse', reason: 'creation_rate_queue_full', limit: this.limits.maxWaiting };
    }
    const ms = this.rates.charge(slot, 0, 1, rate, burst);
    this.openPerIp.set(ip, open + 1);
    return ms > 0 ? { verdict: 'wait', ms } : OPEN;
  }

  /**
   * A connection from `ip` that was waiting for the creation rate went away before its turn: it no longer counts, and
   * its charge is given back (Kafka unrecords a connection it does not accept:
   * ConnectionQuotas.recordIpConnectionMaybeThrottle), so that clients that give up waiting do not make the next ones
   * wait longer.
   */
  left(ip: string): void {
    const slot = this.rates.find(ip);
    if (slot !== undefined) this.rates.refund(slot, 0, 1, this.limits.creationRatePerIp, this.limits.creationBurstPerIp);
    this.closed(ip);
  }

  /** A connection admitted from `ip` closed (whether it had opened or was still waiting). */
  closed(ip: string): void {
    release(this.openPerIp, ip);
  }

  /** A connection's SASL principal was bound: false when that principal has its maximum open already. */
  bindPrincipal(principal: string): boolean {
    const open = this.openPerPrincipal.get(principal) ?? 0;
    if (open >= this.limits.maxPerPrincipal) return false;
    this.openPerPrincipal.set(principal, open + 1);
    return true;
  }

  /** A connection whose principal was bound (bindPrincipal returned true) closed. */
  principalClosed(principal: string): void {
    release(this.openPerPrincipal, principal);
  }

  /** What the guard holds: addresses and principals with connections open, and the creation-rate table's slots. */
  get stats(): { ips: number; principals: number; rateSlotsUsed: number; rateSlotsCapacity: number } {
    return { ips: this.openPerIp.size, principals: this.openPerPrincipal.size, rateSlotsUsed: this.rates.stats.used, rateSlotsCapacity: this.rates.capacity };
  }
}

function release(counts: Map<string, number>, key: string): void {
  const n = counts.get(key);
  if (n === undefined) return;
  if (n <= 1) counts.delete(key);
  else counts.set(key, n - 1);
}
