// Connections to the broker: plaintext (a broker on loopback, the sidecar case), or TLS with the broker's certificate
// and host name verified (upstream.tls). Shared by the relay, the readiness probe and the topic lookups, so that a
// reload's new upstream.tls (a rotated CA file, say) and upstream.sasl reach all three.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Upstream } from '../config/load-config.js';
import type { SaslLogin } from './sasl-client.js';

export class UpstreamDialer {
  constructor(
    private upstream: Upstream,
    /** The sidecar's own login (upstream.sasl) did not succeed: why, and whether its lookup went on without it. */
    readonly loginRefused: (reason: string, goesOn: boolean) => void,
  ) {}

  /** New settings (a reload): connections opened from now on use them. */
  configure(upstream: Upstream): void {
    this.upstream = upstream;
  }

  /** The sidecar's own login on its own connections (its Metadata lookups), when the broker's listener is a SASL one. */
  get sasl(): SaslLogin | undefined {
    return this.upstream.sasl;
  }

  /** A new broker connection; what is written before it is established (or secured) is sent once it is. */
  connect(): Socket {
    const { host, port, tls } = this.upstream;
    return tls ? tlsConnect({ host, port, ...tls.options }) : netConnect({ host, port });
  }
}
