// Small requests (ApiVersions v3, Metadata v12 for one topic, Produce v12 of 100 B with acks=1): the frames, and the most a relay
// passes per second to clients that keep a window of requests in flight.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameSplitter, STREAM } from '../../src/protocol/frame-splitter.js';
import { ZERO_UUID } from '../../src/protocol/constants.js';
import { API_VERSIONS_V3, encodeRequest } from '../../test/support/raw-client.js';
import { produceRequest } from '../../test/support/requests.js';
import { recordBatch } from '../../test/support/record-batch.js';
import { cpuSeconds } from './processes.js';

export type SmallRequest = 'apiVersions' | 'metadata' | 'produce100B';
export const SMALL_REQUESTS: readonly SmallRequest[] = ['apiVersions', 'metadata', 'produce100B'];

/** The request frame of each kind (correlation id 0; senders set their own). */
export function smallRequestFrame(kind: SmallRequest, topic: string): Buffer {
  switch (kind) {
    case 'apiVersions':
      return encodeRequest(18, 3, 0, API_VERSIONS_V3, 'small-requests');
    case 'metadata':
      return encodeRequest(3, 12, 0, {
        topics: [{ topicId: ZERO_UUID, name: topic, unknownTaggedFields: undefined }],
        allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false, unknownTaggedFields: undefined,
      }, 'small-requests');
    case 'produce100B':
      // v12, as Kafka 4's Java producer sends it (by topic name; v13 names topics by id): responses from v10 may carry NodeEndpoints, so the proxy looks at each
      return encodeRequest(0, 12, 0, produceRequest(topic, 0, recordBatch(1, 100), 1), 'small-requests');
  }
}

class WindowedClient {
  answered = 0;
  private sent = 0;
  running = true;
  private readonly splitter: FrameSplitter;

  constructor(private readonly socket: Socket, private readonly template: Buffer) {
    this.splitter = new FrameSplitter({
      onFrame: () => {
        this.answered++;
        if (this.running) this.send();
        return STREAM;
      },
      onWhole: () => undefined,
      onBody: () => undefined,
      onEnd: () => undefined,
    }, 1 << 30, 64);
    socket.on('data', (c: Buffer) => this.splitter.push(c));
  }

  send(): void {
    const frame = Buffer.from(this.template);
    frame.writeInt32BE(++this.sent, 8);
    this.socket.write(frame);
  }
}

/**
 * `clients` connections each keep `window` copies of `template` in flight for `seconds` (after a 0.5 s warm-up);
 * returns the answers per second all together and, when `pid` (the relay) is given, the CPU it spent over those
 * seconds per request answered (µs).
 */
export async function maxRequestRate(
  port: number, template: Buffer, o: { clients: number; window: number; seconds: number; pid?: number },
): Promise<{ perSec: number; cpuUsPerRequest?: number }> {
  const sockets: Socket[] = [];
  const clients: WindowedClient[] = [];
  for (let i = 0; i < o.clients; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.setNoDelay(true);
    s.on('error', () => undefined);
    await new Promise((resolve) => s.once('connect', resolve));
    sockets.push(s);
    clients.push(new WindowedClient(s, template));
  }
  const answered = () => clients.reduce((n, c) => n + c.answered, 0);
  for (const c of clients) for (let i = 0; i < o.window; i++) c.send();
  await sleep(500);
  const from = answered();
  const cpuFrom = o.pid === undefined ? 0 : cpuSeconds(o.pid);
  const start = performance.now();
  await sleep(o.seconds * 1000);
  const n = answered() - from;
  const rate = n / ((performance.now() - start) / 1000);
  const cpuUsPerRequest = o.pid === undefined ? undefined : ((cpuSeconds(o.pid) - cpuFrom) * 1e6) / n;
  for (const c of clients) c.running = false;
  await sleep(200);
  for (const s of sockets) s.destroy();
  return { perSec: rate, cpuUsPerRequest };
}
