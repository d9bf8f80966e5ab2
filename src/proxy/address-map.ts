// Where clients must connect for each broker (by node id): its sidecar's address, from an explicit map or a pattern.
import type { Advertise, HostPort } from '../config/load-config.js';
import { parseHostPort } from '../config/load-config.js';

export class AddressMap {
  private readonly cache = new Map<number, HostPort>();

  constructor(private readonly advertise: Advertise) {}

  /** False when brokers already advertise their sidecars: nothing is rewritten. */
  get enabled(): boolean {
    return this.advertise.mode !== 'none';
  }

  /** The sidecar address for a broker node id, or undefined to leave the broker's own address (unknown id in a map). */
  lookup(nodeId: number): HostPort | undefined {
    if (this.advertise.mode === 'map') return this.advertise.map.get(nodeId);
    if (this.advertise.mode !== 'pattern' || nodeId < 0) return undefined;
    let hp = this.cache.get(nodeId);
    if (!hp) {
      hp = parseHostPort(this.advertise.pattern.replaceAll('{nodeId}', String(nodeId)));
      if (this.cache.size < 10_000) this.cache.set(nodeId, hp);
    }
    return hp;
  }
}
