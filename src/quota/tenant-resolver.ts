// A request's quota entity in Kafka's terms: the user (SASL principal or client certificate's mapped name, or a name
// for the client's source address) and the client id (the request header's, or the named group "tenant" of a
// configured pattern).
import type { BlockList } from 'node:net';
import { contains, networks, prefixBits, sourceAddress } from './addresses.js';
import type { TenantsConfig } from '../config/load-config.js';

/** Kafka's principal name for connections that did not authenticate. */
export const ANONYMOUS = 'ANONYMOUS';

export class TenantResolver {
  /** Each tenant's networks, one at a time, the longest prefixes first (IPv4's counted as IPv4-mapped IPv6's). */
  private readonly blocks: { user: string; list: BlockList; bits: number }[] = [];

  constructor(private readonly config: Omit<TenantsConfig, 'oauthbearerSubClaim'>) {
    for (const [user, cidrs] of config.addresses) {
      for (const cidr of cidrs) {
        this.blocks.push({ user, list: networks([cidr]), bits: prefixBits(cidr) });
      }
    }
    this.blocks.sort((a, b) => b.bits - a.bits);
  }

  /**
   * The user of a connection before (or without) SASL: by source address, the tenant of the most specific network
   * that holds it (10.20.1.1 is payments' with payments 10.20.0.0/16 and corp 10.0.0.0/8, in either order), or
   * ANONYMOUS.
   */
  connectionUser(remoteAddress: string | undefined): string {
    if (this.config.user !== 'address' || !remoteAddress) return ANONYMOUS;
    const address = sourceAddress(remoteAddress);
    for (const b of this.blocks) if (contains(b.list, address)) return b.user;
    return ANONYMOUS;
  }

  /**
   * Whether a connection's principal becomes the user (tenants.user: sasl, "the principal Kafka would see"): its SASL
   * principal, or, on a TLS listener until (or without) SASL, its client certificate's mapped name.
   */
  get userFromSasl(): boolean {
    return this.config.user === 'sasl';
  }

  /** The client-id entity: the pattern's "tenant" group when configured and matching, else the client id itself. */
  clientEntity(clientId: string | null): string {
    const id = clientId ?? '';
    const pattern = this.config.clientIdPattern;
    if (!pattern) return id;
    return pattern.exec(id)?.groups?.tenant ?? id;
  }
}
