// A TCP relay that records every Kafka frame in both directions, with the API key and version of each (responses are
// matched to their requests by correlation id). Used to capture real traffic as codec fixtures.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { FrameSplitter, WHOLE } from '../../src/protocol/frame-splitter.js';
import { readRequestHeader } from '../../src/protocol/headers.js';

export interface RecordedFrame {
  source: string;
  direction: 'request' | 'response';
  apiKey: number;
  apiVersion: number;
  frame: Buffer;
}

export class FrameRecorder {
  readonly frames: RecordedFrame[] = [];
  /** Label stamped on frames from now on (which client is talking). */
  source = '';
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(public upstreamPort: number) {
    this.server = createServer((client) => this.relay(client));
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve) => this.server.listen(port, '127.0.0.1', resolve));
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  private relay(client: Socket): void {
    const upstream = connect({ host: '127.0.0.1', port: this.upstreamPort });
    this.sockets.add(client).add(upstream);
    const inflight = new Map<number, { apiKey: number; apiVersion: number }>();
    const source = this.source;
    const requests = recordingSplitter((head) => {
      const h = readRequestHeader(head);
      inflight.set(h.correlationId, { apiKey: h.apiKey, apiVersion: h.apiVersion });
      this.frames.push({ source, direction: 'request', apiKey: h.apiKey, apiVersion: h.apiVersion, frame: Buffer.from(head) });
    });
    const responses = recordingSplitter((head) => {
      const request = inflight.get(head.readInt32BE(0));
      if (request) this.frames.push({ source, direction: 'response', ...request, frame: Buffer.from(head) });
    });
    client.on('data', (c: Buffer) => {
      requests.push(c);
      upstream.write(c);
    });
    upstream.on('data', (c: Buffer) => {
      responses.push(c);
      client.write(c);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  }
}

/** A splitter that hands every whole frame (up to 1 GiB) to onFrame. */
function recordingSplitter(onFrame: (frame: Buffer) => void): FrameSplitter {
  const whole = 1 << 30;
  return new FrameSplitter(
    {
      onFrame: (_size, head) => {
        onFrame(head.subarray(4));
        return WHOLE;
      },
      onWhole: () => undefined,
      onBody: () => undefined,
      onEnd: () => undefined,
    },
    whole,
    whole,
  );
}
