// Requests at a fixed rate on one connection, each timed to the microsecond, for the benches' latency figures and the
// isolation test. Request k is due k ÷ rate after the start; the schedule is kept (a sender behind it sends what is
// due at once, it never starts again from "now"). A request's latency runs from its write, or, when the sender wrote
// it more than one timer tick (1 ms) after it was due, from one tick after it was due: a sender that fell behind (its
// own garbage collection, an event loop busy with answers, a socket that would not take more) waited for the relay
// too, and timing from the late write would leave that out (coordinated omission), while the tick's own granularity
// (0.7 ms at p50, 3-4 ms at p99 against a local echo server at 2,000/s) is no one's latency. Requests never answered
// are counted and reported, not dropped from the percentiles silently. With `fromWrite` every latency runs from its
// write (the isolation test compares two runs of one sender, whose stalls are not the relay's).
import { connect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameSplitter, STREAM } from '../../src/protocol/frame-splitter.js';
import { encodeRequest } from './raw-client.js';
import { produceRequest } from './requests.js';
import { recordBatch } from './record-batch.js';

/** How long answers are awaited after the last request was sent. */
const ANSWER_WAIT_MS = 10_000;
/** The sender's timer tick: lateness up to this is the tick's, not the relay's. */
const TICK_MS = 1;

export interface LatencyRun {
  /** Round trips in ms, in order, the first 10% of the schedule (warm-up) left out. */
  latencies: number[];
  /** Percentiles of `latencies` (NaN when there is none). */
  p50: number;
  p99: number;
  /** Requests scheduled. */
  requests: number;
  /** Requests scheduled and never answered (the connection closed, or no answer within 10 s of the last send): failures. */
  unanswered: number;
  /** How far behind its schedule the sender fell at worst, ms. */
  maxSendLagMs: number;
}

export interface FixedRateOptions {
  requestsPerSec: number;
  seconds: number;
  tls?: ConnectionOptions;
  /** Time each request from its write alone (see above). */
  fromWrite?: boolean;
}

/** Nearest rank above p% (NaN for no values). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Sends `requestsPerSec` Produce requests (batches of `records` × 1 KB, acks=1) for `seconds`, as client `clientId`. */
export function fixedRateProduce(port: number, topic: string, o: FixedRateOptions & { records?: number; clientId?: string }): Promise<LatencyRun> {
  const template = encodeRequest(0, 9, 0, produceRequest(topic, 0, recordBatch(o.records ?? 16, 1024), 1), o.clientId ?? 'fixed-rate');
  return fixedRateRequests(port, template, o);
}

/** Sends copies of one request frame (each with its own correlation id), `requestsPerSec` for `seconds`. Over TLS with `tls`. */
export async function fixedRateRequests(port: number, template: Buffer, o: FixedRateOptions): Promise<LatencyRun> {
  const socket = o.tls ? tlsConnect({ host: '127.0.0.1', port, ...o.tls }) : connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  let closed = false;
  socket.on('error', () => undefined); // seen as 'close': what is left unanswered counts
  socket.on('close', () => {
    closed = true;
  });
  await new Promise((resolve) => socket.once(o.tls ? 'secureConnect' : 'connect', resolve));
  const total = Math.round(o.requestsPerSec * o.seconds);
  const warmUp = Math.floor(total * 0.1);
  const msPerRequest = 1000 / o.requestsPerSec;
  let start = 0;
  const dueAt = (id: number) => start + id * msPerRequest;
  // Frames are reused once answered (the broker has read them, so the socket has written them): allocating 16 KB per
  // request made this client's own garbage collections (5-13 ms each, every second or so) most of a 1% tail.
  const sent = new Map<number, Buffer>();
  const timedFrom = new Map<number, number>();
  const free: Buffer[] = [];
  const latencies: number[] = [];
  let answered = 0;
  const splitter = new FrameSplitter(
    {
      onFrame: (_size, head) => {
        const id = head.readInt32BE(4);
        const frame = sent.get(id);
        if (frame === undefined) return STREAM; // not one of ours (or answered twice): not counted
        if (id > warmUp) latencies.push(performance.now() - timedFrom.get(id)!);
        sent.delete(id);
        timedFrom.delete(id);
        free.push(frame);
        answered++;
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
  start = performance.now();
  let count = 0;
  let maxSendLagMs = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - start) / msPerRequest));
      if (due > count) maxSendLagMs = Math.max(maxSendLagMs, now - dueAt(count + 1));
      while (count < due && !closed) {
        const frame = free.pop() ?? Buffer.from(template);
        frame.writeInt32BE(++count, 8);
        sent.set(count, frame);
        const written = performance.now();
        timedFrom.set(count, o.fromWrite ? written : Math.min(written, dueAt(count) + TICK_MS));
        socket.write(frame);
      }
      if (count >= total || closed) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  for (let waited = 0; waited < ANSWER_WAIT_MS && answered < count && !closed; waited += 50) await sleep(50);
  socket.destroy();
  return { latencies, p50: percentile(latencies, 50), p99: percentile(latencies, 99), requests: total, unanswered: total - answered, maxSendLagMs };
}
