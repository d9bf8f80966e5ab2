// Produce round trips at a fixed rate on one connection, each timed to the microsecond.
import { connect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameSplitter, STREAM } from '../../src/protocol/frame-splitter.js';
import { encodeRequest } from './raw-client.js';
import { produceRequest } from './requests.js';
import { recordBatch } from './record-batch.js';

export interface LatencyRun {
  /** Round trips in ms, in order, the first 10% (warm-up) left out. */
  latencies: number[];
  p50: number;
  p99: number;
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Sends `requestsPerSec` Produce requests (batches of `records` × 1 KB, acks=1) for `seconds`, as client `clientId`. */
export function fixedRateProduce(
  port: number, topic: string, o: { requestsPerSec: number; seconds: number; records?: number; clientId?: string; tls?: ConnectionOptions },
): Promise<LatencyRun> {
  const template = encodeRequest(0, 9, 0, produceRequest(topic, 0, recordBatch(o.records ?? 16, 1024), 1), o.clientId ?? 'fixed-rate');
  return fixedRateRequests(port, template, o);
}

/** Sends copies of one request frame (each with its own correlation id), `requestsPerSec` for `seconds`; each must be answered. Over TLS with `tls`. */
export async function fixedRateRequests(port: number, template: Buffer, o: { requestsPerSec: number; seconds: number; tls?: ConnectionOptions }): Promise<LatencyRun> {
  const socket = o.tls ? tlsConnect({ host: '127.0.0.1', port, ...o.tls }) : connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once(o.tls ? 'secureConnect' : 'connect', resolve));
  const sentAt = new Map<number, number>();
  // Frames are reused once answered (the broker has read them, so the socket has written them): allocating 16 KB per
  // request made this client's own garbage collections (5-13 ms each, every second or so) most of a 1% tail.
  const sent = new Map<number, Buffer>();
  const free: Buffer[] = [];
  const latencies: number[] = [];
  const splitter = new FrameSplitter(
    {
      onFrame: (_size, head) => {
        const id = head.readInt32BE(4);
        latencies.push(performance.now() - sentAt.get(id)!);
        sentAt.delete(id);
        free.push(sent.get(id)!);
        sent.delete(id);
        return STREAM;
      },
      onWhole: () => undefined,
      onBody: () => undefined,
      onEnd: () => undefined,
    },
    1 << 30,
    64,
  );
  socket.on('data', (c: Buffer) => splitter.push(c));
  const total = Math.round(o.requestsPerSec * o.seconds);
  const start = performance.now();
  let count = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * o.requestsPerSec) / 1000));
      while (count < due) {
        const frame = free.pop() ?? Buffer.from(template);
        frame.writeInt32BE(++count, 8);
        sent.set(count, frame);
        sentAt.set(count, performance.now());
        socket.write(frame);
      }
      if (count >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  for (let i = 0; i < 200 && latencies.length < total; i++) await sleep(50);
  socket.destroy();
  const kept = latencies.slice(Math.floor(total * 0.1));
  return { latencies: kept, p50: percentile(kept, 50), p99: percentile(kept, 99) };
}
