// Metadata requests (no topics) pipelined on one connection, each with a client id of the caller's choosing: cheap for
// the broker, so they exercise the proxy's quota table at tens of thousands of requests per second.
import { connect, type Socket } from 'node:net';
import { encodeRequest } from './raw-client.js';
import { FrameSplitter, STREAM } from '../../src/protocol/frame-splitter.js';
import { decodeResponseFrame } from '../../src/protocol/message.js';
import { defaultMetadataRequest } from '../../src/protocol/generated/metadata-request.js';
import type { MetadataResponse } from '../../src/protocol/generated/metadata-response.js';

const PIPELINE = 500;
const metadata = { ...defaultMetadataRequest(), topics: [] };

/** Sends `count` requests, `PIPELINE` in flight at most; resolves with the first 1,000 responses' throttle_time_ms. */
export async function pipelinedMetadata(port: number, clientIds: (i: number) => string, count: number, onProgress?: (done: number) => void): Promise<number[]> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once('connect', resolve));
  const throttles: number[] = [];
  let sent = 0;
  let done = 0;
  let wake: (() => void) | undefined;
  const splitter = new FrameSplitter(
    {
      onFrame: (_size, head) => {
        const body = decodeResponseFrame(head.subarray(4), 3, 12).body as MetadataResponse;
        if (throttles.length < 1000) throttles.push(body.throttleTimeMs);
        done++;
        if (done % 50_000 === 0) onProgress?.(done);
        wake?.();
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
  while (done < count) {
    const batch: Buffer[] = [];
    while (sent < count && sent - done < PIPELINE) batch.push(encodeRequest(3, 12, ++sent, metadata, clientIds(sent)));
    if (batch.length) socket.write(Buffer.concat(batch));
    await new Promise<void>((resolve) => (wake = resolve));
  }
  socket.destroy();
  return throttles;
}


/**
 * The config of the churn runs: a 10,000-slot table, a request quota per client id (so every new id needs a bucket),
 * and `debtors` client ids allowed one request a second (burst 1), to be left in debt.
 */
export function churnConfig(upstream: string, debtors: number): Record<string, unknown> {
  return {
    upstream,
    advertise: { mode: 'none' },
    quotaTable: { capacity: 10_000 },
    quotas: [
      { clientId: '<default>', requestsPerSec: 100_000 },
      ...Array.from({ length: debtors }, (_, i) => ({ clientId: `debtor-${i}`, requestsPerSec: 1, requestBurst: 1 })),
    ],
  };
}
