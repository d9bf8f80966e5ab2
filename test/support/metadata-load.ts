// Metadata requests (no topics) pipelined on one connection, each with a client id of the caller's choosing: cheap for
// the broker, so they exercise the proxy's quota table at tens of thousands of requests per second.
import { connect, type Socket } from 'node:net';
import { encodeRequest } from './raw-client.js';
import { FrameSplitter, STREAM } from '../../src/protocol/frame-splitter.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import { defaultMetadataRequest } from '../../src/protocol/generated/metadata-request.js';
import type { MetadataResponse } from '../../src/protocol/generated/metadata-response.js';
import type { ProduceResponse } from '../../src/protocol/generated/produce-response.js';
import { produceRequest } from './requests.js';
import { recordBatch } from './record-batch.js';

const PIPELINE = 500;
const metadata = { ...defaultMetadataRequest(), topics: [] };

/** Connects to the proxy; `onResponse` gets each whole response frame (its size prefix included). */
async function connectWithResponses(port: number, onResponse: (frame: Buffer) => void): Promise<Socket> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once('connect', resolve));
  const splitter = new FrameSplitter(
    {
      onFrame: (_size, head) => {
        onResponse(head);
        return STREAM;
      },
      onWhole: () => undefined,
      onBody: () => undefined,
      onEnd: () => undefined,
    },
    1 << 20,
    1 << 20,
  );
  socket.on('data', (c: Buffer) => splitter.push(c));
  return socket;
}

/**
 * Sends `count` requests, `PIPELINE` in flight at most; resolves with the first 1,000 responses' throttle_time_ms.
 * Every 50,000 responses it calls `onProgress` and sends nothing more until what that returns has settled.
 */
export async function pipelinedMetadata(
  port: number,
  clientIds: (i: number) => string,
  count: number,
  onProgress?: (done: number) => void | Promise<void>,
): Promise<number[]> {
  const throttles: number[] = [];
  let sent = 0;
  let done = 0;
  let wake: (() => void) | undefined;
  let progress: Promise<void> | undefined;
  const socket = await connectWithResponses(port, (frame) => {
    const body = decodeResponseFrame(frame.subarray(4), 3, 12).body as MetadataResponse;
    if (throttles.length < 1000) throttles.push(body.throttleTimeMs);
    done++;
    if (done % 50_000 === 0 && onProgress) progress = Promise.resolve(onProgress(done));
    wake?.();
  });
  while (done < count) {
    if (progress) {
      await progress;
      progress = undefined;
    }
    const batch: Buffer[] = [];
    while (sent < count && sent - done < PIPELINE) batch.push(encodeRequest(3, 12, ++sent, metadata, clientIds(sent)));
    if (batch.length) socket.write(Buffer.concat(batch));
    await new Promise<void>((resolve) => (wake = resolve));
  }
  socket.destroy();
  return throttles;
}


/** One Produce (v9, acks=1) of `kb` 1 KB records as `clientId`; resolves with the response's throttle_time_ms. */
export async function produceOnce(port: number, clientId: string, kb: number): Promise<number> {
  let answer: ((throttleMs: number) => void) | undefined;
  const answered = new Promise<number>((resolve) => (answer = resolve));
  const socket = await connectWithResponses(port, (frame) => answer!((decodeResponseFrame(frame.subarray(4), 0, 9).body as ProduceResponse).throttleTimeMs));
  try {
    const closed = new Promise<never>((_, reject) => socket.once('close', () => reject(new Error('closed before the produce response'))));
    socket.on('error', () => undefined);
    socket.write(encodeRequest(0, 9, 1, produceRequest(DEBT_TOPIC, 0, recordBatch(kb, 1024), 1), clientId));
    return await Promise.race([answered, closed]);
  } finally {
    socket.destroy();
  }
}

/**
 * A tenant in debt comes back on a new connection: a 1 KB produce, watched for `watchMs`. A produce that would take
 * its tenant deeper into debt than the proxy allows is held, unforwarded, until the debt is paid: then no response
 * comes while watched (answered: false). If one comes, its wait and its throttle_time_ms are what the tenant got.
 */
export async function comeBack(port: number, clientId: string, watchMs: number): Promise<{ answered: boolean; waitedMs: number; throttleMs: number }> {
  let answer: ((throttleMs: number) => void) | undefined;
  const answered = new Promise<number>((resolve) => (answer = resolve));
  const socket = await connectWithResponses(port, (frame) => answer!((decodeResponseFrame(frame.subarray(4), 0, 9).body as ProduceResponse).throttleTimeMs));
  try {
    socket.on('error', () => undefined);
    const sentAt = performance.now();
    socket.write(encodeRequest(0, 9, 1, produceRequest(DEBT_TOPIC, 0, recordBatch(1, 1024), 1), clientId));
    const watched = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), watchMs));
    const throttleMs = await Promise.race([answered, watched]);
    return throttleMs === undefined ? { answered: false, waitedMs: watchMs, throttleMs: 0 } : { answered: true, waitedMs: performance.now() - sentAt, throttleMs };
  } finally {
    socket.destroy();
  }
}

/** Where debtors' produce requests go (it need not exist: the proxy charges the request whatever the broker says). */
const DEBT_TOPIC = 'churn-debt';
/** Debtors' produce quota: 1 KB/s, burst 1 KB (a 400 KB request then owes about 400 s). */
export const DEBTOR_BYTES_PER_SEC = 1024;

/**
 * The config of the churn runs: a 10,000-slot table, a request quota per client id (so every new id needs a bucket),
 * and `debtors` client ids with a produce quota of 1 KB/s, to be left in debt.
 */
export function churnConfig(upstream: string, debtors: number): Record<string, unknown> {
  return {
    upstream,
    advertise: { mode: 'none' },
    quotaTable: { capacity: 10_000 },
    quotas: [
      { clientId: '<default>', requestsPerSec: 100_000 },
      ...Array.from({ length: debtors }, (_, i) => ({ clientId: `debtor-${i}`, produceBytesPerSec: DEBTOR_BYTES_PER_SEC, produceBurstBytes: DEBTOR_BYTES_PER_SEC })),
    ],
  };
}
