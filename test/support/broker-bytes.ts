// What a broker received, read from its own log files (not from the proxy): the bytes of a topic's segments on one
// node, sampled over time, and the rate that best fits the samples.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeInfo } from '../../src/local-kafka/kafka-cluster.js';

/** Bytes in the .log segments of a topic's partitions held by a node. */
export function topicLogBytes(node: NodeInfo, topic: string): number {
  let total = 0;
  for (const dir of readdirSync(node.dataDir)) {
    if (!dir.startsWith(`${topic}-`) || !/^\d+$/.test(dir.slice(topic.length + 1))) continue;
    for (const f of readdirSync(join(node.dataDir, dir))) {
      if (f.endsWith('.log')) {
        try {
          total += statSync(join(node.dataDir, dir, f)).size;
        } catch {
          // a segment deleted meanwhile
        }
      }
    }
  }
  return total;
}

export interface Sample {
  seconds: number;
  value: number;
}

/** Samples `read()` every `everyMs` until stop(); a read that fails (say, a group not yet known) is skipped. */
export function sampler(read: () => number | Promise<number>, everyMs = 1000): { samples: Sample[]; stop(): Promise<Sample[]> } {
  const samples: Sample[] = [];
  const start = performance.now();
  let busy = Promise.resolve();
  const take = () => {
    busy = busy.then(async () => {
      const seconds = (performance.now() - start) / 1000;
      try {
        samples.push({ seconds, value: await read() });
      } catch {
        // no sample this time
      }
    });
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    stop: async () => {
      clearInterval(timer);
      take();
      await busy;
      return samples;
    },
  };
}

/** Least-squares slope (value per second) of the samples taken between `from` and `to` seconds. */
export function slope(samples: readonly Sample[], from: number, to: number): number {
  const s = samples.filter((x) => x.seconds >= from && x.seconds <= to);
  const n = s.length;
  const mx = s.reduce((a, x) => a + x.seconds, 0) / n;
  const my = s.reduce((a, x) => a + x.value, 0) / n;
  const num = s.reduce((a, x) => a + (x.seconds - mx) * (x.value - my), 0);
  const den = s.reduce((a, x) => a + (x.seconds - mx) ** 2, 0);
  return num / den;
}
