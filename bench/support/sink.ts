// A TCP server standing in for a broker that only reads: it counts the bytes it receives and answers nothing.
import { createServer, type Server, type Socket } from 'node:net';

export class Sink {
  bytes = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((s) => {
      this.sockets.add(s);
      s.on('data', (c: Buffer) => void (this.bytes += c.length));
      s.on('error', () => undefined);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  get connections(): number {
    return this.sockets.size;
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as { port: number }).port)));
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
