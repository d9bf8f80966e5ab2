// An in-process stand-in for a broker, for unit tests of the proxy's connection handling only: it answers the proxy's
// readiness probe itself, and records every other frame it receives and answers it through a scripted handler (return
// frames to send, or nothing).
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import { FrameSplitter, WHOLE } from '../../src/protocol/frame-splitter.js';
import { configFromObject } from '../../src/config/load-config.js';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import { PROBE_REQUEST } from '../../src/proxy/broker-probe.js';
import type { StageTable } from '../../src/proxy/request-stages.js';
import { createLogger } from '../../src/observability/logger.js';
import { freePorts } from '../../src/local-kafka/ports.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';
import { encodeApiVersionsResponse, defaultApiVersionsResponse } from '../../src/protocol/generated/api-versions-response.js';
import { Writer } from '../../src/protocol/writer.js';

export type Script = (frame: Buffer, socket: Socket) => Buffer[] | undefined;

export class FakeBroker {
  readonly received: Buffer[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  /** With `tls`, a broker that only offers TLS. */
  constructor(private script: Script, tls?: TlsOptions) {
    const accept = (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      const splitter = new FrameSplitter(
        {
          onFrame: (size, head) => {
            if (head.length === size + 4) this.handle(Buffer.from(head), socket);
            return WHOLE;
          },
          onWhole: (f) => this.handle(Buffer.from(f), socket),
          onBody: () => undefined,
          onEnd: () => undefined,
        },
        1 << 30,
        1 << 30,
      );
      socket.on('data', (c: Buffer) => splitter.push(c));
    };
    this.server = tls ? createTlsServer(tls, accept) : createServer(accept);
  }

  setScript(script: Script): void {
    this.script = script;
  }

  private handle(frame: Buffer, socket: Socket): void {
    // The proxy's readiness probe (src/proxy/broker-probe.ts) is answered here: a proxy's start waits for its first
    // answer (up to 2 s), and scripts and `received` see only what clients sent.
    if (frame.equals(PROBE_REQUEST)) {
      for (const out of answerApiVersions(frame, socket) ?? []) socket.write(out);
      return;
    }
    this.received.push(frame);
    for (const out of this.script(frame, socket) ?? []) socket.write(out);
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as { port: number }).port)));
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Starts `broker` and an in-process proxy in front of it, on free ports, with `config` (listen, upstream and metrics
 * filled in; a listen or upstream given as {tls} gets its address), and the proxy's own stages or clock when given. The
 * caller stops both.
 */
export async function proxyBefore(
  broker: FakeBroker,
  config: Record<string, unknown>,
  logger: Logger = createLogger('silent'),
  opts: { stages?: StageTable; now?: () => number } = {},
): Promise<{ proxy: ProxyServer; port: number }> {
  const upstream = `127.0.0.1:${await broker.listen()}`;
  const [port, metricsPort] = await freePorts(2);
  const at = (given: unknown, address: string) => (typeof given === 'object' && given !== null ? { ...given, address } : address);
  const proxy = new ProxyServer(
    configFromObject({ logLevel: 'silent', ...config, listen: at(config.listen, `127.0.0.1:${port}`), upstream: at(config.upstream, upstream), metrics: `127.0.0.1:${metricsPort}` }),
    { logger, ...opts },
  );
  await proxy.start();
  return { proxy, port: port! };
}

/** A response frame: size prefix, correlation id, (header v1: empty tagged fields), body. */
export function responseFrame(correlationId: number, body: Buffer, headerV1 = false): Buffer {
  const header = Buffer.alloc(headerV1 ? 5 : 4);
  header.writeInt32BE(correlationId, 0);
  const size = Buffer.alloc(4);
  size.writeInt32BE(header.length + body.length, 0);
  return Buffer.concat([size, header, body]);
}

/** The correlation id of a request frame (size prefix included). */
export function correlationOf(frame: Buffer): number {
  return frame.readInt32BE(8);
}

export function apiKeyOf(frame: Buffer): number {
  return frame.readInt16BE(4);
}

/** A broker that answers ApiVersions (the codec's default list, in the version asked) and nothing else. */
export const answerApiVersions: Script = (frame) => {
  if (apiKeyOf(frame) !== ApiKey.ApiVersions) return undefined;
  const w = new Writer();
  encodeApiVersionsResponse(w, frame.readInt16BE(6), defaultApiVersionsResponse());
  return [responseFrame(correlationOf(frame), Buffer.from(w.finish()))];
};
