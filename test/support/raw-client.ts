// A bare Kafka client over one TCP connection: sends requests encoded with this project's codec and reads response
// frames. For tests that need exact control (malformed frames, stalled readers, timing).
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { FrameSplitter, WHOLE } from '../../src/protocol/frame-splitter.js';
import { REQUEST_CODECS } from '../../src/protocol/generated/codecs.js';
import { requestHeaderVersion } from '../../src/protocol/api.js';
import { writeRequestHeader } from '../../src/protocol/headers.js';
import { Writer } from '../../src/protocol/writer.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';

export function encodeRequest(apiKey: number, version: number, correlationId: number, body: object, clientId = 'raw-client'): Buffer {
  const w = new Writer();
  w.int32(0);
  writeRequestHeader(w, { apiKey, apiVersion: version, correlationId, clientId, headerVersion: requestHeaderVersion(apiKey, version)!, unknownTaggedFields: undefined });
  REQUEST_CODECS.get(apiKey)!.encode(w, version, body);
  const frame = Buffer.from(w.finish());
  frame.writeInt32BE(frame.length - 4, 0);
  return frame;
}

export class RawClient {
  readonly socket: Socket;
  /** Whole response frames (size prefix included), in arrival order. */
  readonly frames: Buffer[] = [];
  closed = false;
  private waiters: (() => void)[] = [];
  private nextCorrelationId = 1;

  private constructor(socket: Socket) {
    this.socket = socket;
    const splitter = new FrameSplitter(
      {
        onFrame: (size, head) => {
          if (head.length === size + 4) this.frames.push(Buffer.from(head));
          return WHOLE;
        },
        onWhole: (f) => void this.frames.push(Buffer.from(f)),
        onBody: () => undefined,
        onEnd: () => undefined,
      },
      1 << 30,
      1 << 30,
    );
    socket.on('data', (c: Buffer) => {
      splitter.push(c);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** Connects to host:port, from `localAddress` when given (any 127.x.y.z is a loopback address of its own). */
  static open(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port, ...(localAddress ? { localAddress } : {}) });
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Connects over TLS to 127.0.0.1:port; resolves once the handshake is done, rejects when it fails or the server closes. */
  static openTls(port: number, options: ConnectionOptions): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ...options });
      s.once('secureConnect', () => resolve(new RawClient(s)));
      s.once('error', reject);
      s.once('close', () => reject(new Error('closed during the handshake')));
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The client id of the requests it sends. */
  clientId = 'raw-client';

  /** Sends a request; returns its correlation id. */
  send(apiKey: number, version: number, body: object): number {
    const id = this.nextCorrelationId++;
    this.socket.write(encodeRequest(apiKey, version, id, body, this.clientId));
    return id;
  }

  /** Waits for the response with this correlation id (rejects on close or timeout). */
  async response(correlationId: number, timeoutMs = 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find((x) => x.length >= 8 && x.readInt32BE(4) === correlationId);
      if (f) return f;
      if (this.closed) throw new Error('connection closed before the response');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response ${correlationId} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until the connection closes; resolves with the time it took, or rejects after timeoutMs. */
  async closedWithin(timeoutMs: number): Promise<number> {
    const started = Date.now();
    while (!this.closed) {
      if (Date.now() - started > timeoutMs) throw new Error(`still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return Date.now() - started;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** An ApiVersions v3 request body. */
export const API_VERSIONS_V3 = { clientSoftwareName: 'raw-client', clientSoftwareVersion: '1', unknownTaggedFields: undefined };

/** Whether a connection is served: an ApiVersions round trip within `ms`. */
export async function served(c: RawClient, ms = 5_000): Promise<boolean> {
  try {
    await c.response(c.send(ApiKey.ApiVersions, 3, API_VERSIONS_V3), ms);
    return true;
  } catch {
    return false;
  }
}
