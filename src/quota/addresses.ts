// Source addresses as Kafka sees them, and networks (CIDR) to match them against: shared by the tenants named by
// address and by the per-address connection limits.
import { BlockList, isIP, isIPv6 } from 'node:net';

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address, as Kafka sees it. */
export function sourceAddress(remote: string | undefined): string {
  if (!remote) return '';
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote;
}

/** An address as a number (IPv4 in 32 bits, IPv6 in 128), for comparing networks. */
function addressBits(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split('.').reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n);
  let text = address.replace(/%.*$/, '');
  // a trailing dotted IPv4 part (::ffff:10.1.2.3) as its two 16-bit groups
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const all = tail === undefined ? groups(head) : [...groups(head), ...Array<string>(8 - groups(head).length - groups(tail).length).fill('0'), ...groups(tail)];
  return all.reduce((n, group) => (n << 16n) | BigInt(parseInt(group, 16)), 0n);
}

/**
 * A CIDR string ("10.1.0.0/16", "fd00::/8") as its family, prefix length and network number, or what is wrong with it
 * ("10.1/16", "10.0.0.0/33", and host bits set: "10.1.2.0/8" is a typo for /24 that would mean all of 10/8).
 */
export function parseCidr(cidr: string): { family: 4 | 6; bits: number; network: bigint } | string {
  const [net, bits, extra] = cidr.split('/');
  const family = isIP(net ?? '');
  if (family === 0 || extra !== undefined) return `${cidr}: not an IPv4 or IPv6 address/prefix length`;
  const max = family === 4 ? 32 : 128;
  if (!/^[0-9]+$/.test(bits ?? '') || Number(bits) > max) return `${cidr}: prefix length must be 0-${max}`;
  const network = addressBits(net!, family as 4 | 6);
  const hostBits = BigInt(max - Number(bits));
  if ((network & ((1n << hostBits) - 1n)) !== 0n) return `${cidr}: host bits set (the network of /${bits} is ${maskedText(network >> hostBits << hostBits, family as 4 | 6)}/${bits})`;
  return { family: family as 4 | 6, bits: Number(bits), network };
}

/** A network number as text (IPv6 uncompressed). */
function maskedText(n: bigint, family: 4 | 6): string {
  const parts = family === 4 ? 4 : 8;
  const width = family === 4 ? 8n : 16n;
  return Array.from({ length: parts }, (_, i) => ((n >> (width * BigInt(parts - 1 - i))) & ((1n << width) - 1n)).toString(family === 4 ? 10 : 16)).join(family === 4 ? '.' : ':');
}

/** What is wrong with a CIDR string, or undefined when it is a network (parseCidr). */
export function cidrError(cidr: string): string | undefined {
  const c = parseCidr(cidr);
  return typeof c === 'string' ? c : undefined;
}

/** The same network, however written ("fd00::/8", "FD00:0::/8"): a key for finding a network named twice. */
export function cidrKey(cidr: string): string {
  const c = parseCidr(cidr);
  return typeof c === 'string' ? cidr : `${c.family}/${c.bits}/${c.network}`;
}

/** A CIDR's prefix length as an IPv6 one (an IPv4 /8 is the IPv4-mapped /104), for ordering networks most specific first. */
export function prefixBits(cidr: string): number {
  const [net, bits] = cidr.split('/');
  return Number(bits) + (isIPv6(net!) ? 0 : 96);
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
