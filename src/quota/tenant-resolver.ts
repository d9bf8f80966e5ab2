// A request's quota entity in Kafka's terms: the user (SASL principal, or a name for the client's source address)
// and the client id (the request header's, or the named group "tenant" of a configured pattern).
import { BlockList, isIPv6 } from 'node:net';
import type { TenantsConfig } from '../config/load-config.js';

/** Kafka's principal name for connections that did not authenticate. */
export const ANONYMOUS = 'ANONYMOUS';

export class TenantResolver {
  private readonly blocks: { user: string; list: BlockList }[] = [];

  constructor(private readonly config: TenantsConfig) {
    for (const [user, cidrs] of config.addresses) {
      const list = new BlockList();
      for (const cidr of cidrs) {
        const [net, bits] = cidr.split('/');
        list.addSubnet(net!, Number(bits), isIPv6(net!) ? 'ipv6' : 'ipv4');
      }
      this.blocks.push({ user, list });
    }
  }

  /** The user of a connection before (or without) SASL: by source address, or ANONYMOUS. */
  connectionUser(remoteAddress: string | undefined): string {
    if (this.config.user !== 'address' || !remoteAddress) return ANONYMOUS;
    const address = remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
    const family = isIPv6(address) ? 'ipv6' : 'ipv4';
    for (const b of this.blocks) if (b.list.check(address, family)) return b.user;
    return ANONYMOUS;
  }

  /** Whether a SASL principal becomes the user. */
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
