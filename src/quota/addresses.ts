// Source addresses as Kafka sees them, and networks (CIDR) to match them against: shared by the tenants named by
// address and by the per-address connection limits.
import { BlockList, isIP, isIPv6 } from 'node:net';

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address, as Kafka sees it. */
export function sourceAddress(remote: string | undefined): string {
  if (!remote) return '';
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote;
}

/** What is wrong with a CIDR string ("10.1/16", "10.0.0.0/33"), or undefined when BlockList takes it. */
export function cidrError(cidr: string): string | undefined {
  const [net, bits, extra] = cidr.split('/');
  const family = isIP(net ?? '');
  if (family === 0 || extra !== undefined) return `${cidr}: not an IPv4 or IPv6 address/prefix length`;
  const max = family === 4 ? 32 : 128;
  if (!/^[0-9]+$/.test(bits ?? '') || Number(bits) > max) return `${cidr}: prefix length must be 0-${max}`;
  return undefined;
}

/** The networks of CIDR strings ("10.1.0.0/16", "fd00::/8"), for contains(). */
export function networks(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split('/');
    list.addSubnet(net!, Number(bits), isIPv6(net!) ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** Whether an address (as sourceAddress gives it) is in the networks. */
export function contains(list: BlockList, address: string): boolean {
  return list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
}
