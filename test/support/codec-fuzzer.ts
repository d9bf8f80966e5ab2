// Feeds random and mutated frames to the decoders. Every outcome must be a decoded message or a ProtocolError:
// any other exception is a crash, and every decode is bounded by the frame's size (no endless loop, no allocation
// beyond what the frame holds).
import { ProtocolError } from '../../src/protocol/errors.js';
import { decodeRequestFrame, decodeResponseFrame } from '../../src/protocol/message.js';
import { prng } from './populate.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// buffer memory is measured after a full collection, so that it shows what decoding keeps, not when V8 collected
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export interface Seed {
  direction: 'request' | 'response';
  apiKey: number;
  apiVersion: number;
  frame: Buffer;
}

export interface FuzzReport {
  iterations: number;
  decoded: number;
  rejected: number;
  /** Exceptions that are not ProtocolErrors: each is a bug. */
  crashes: { error: string; direction: string; apiKey: number; apiVersion: number; frame: string }[];
  errorCodes: Record<string, number>;
  ms: number;
  /** Largest growth of arrayBuffers (MB), after a full collection, between checks every 65,536 frames: what decoding kept. */
  maxArrayBufferGrowthMB: number;
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, -1, -2];

function mutate(src: Buffer, rnd: () => number): Buffer {
  const int = (n: number) => Math.floor(rnd() * n);
  const b = Buffer.from(src);
  switch (int(8)) {
    case 0: // flip bits
      for (let i = 1 + int(4); i > 0 && b.length; i--) b[int(b.length)]! ^= 1 << int(8);
      return b;
    case 1: // random bytes
      for (let i = 1 + int(4); i > 0 && b.length; i--) b[int(b.length)] = int(256);
      return b;
    case 2: // truncate
      return b.subarray(0, int(b.length + 1));
    case 3: { // an interesting integer at a random offset (lengths, counts)
      if (b.length < 4) return b;
      const at = int(b.length - 3);
      const v = INTERESTING[int(INTERESTING.length)]!;
      if (rnd() < 0.5) b.writeUInt32BE(v >>> 0, at);
      else b.writeUInt16BE(v & 0xffff, at);
      return b;
    }
    case 4: { // insert random bytes
      const at = int(b.length + 1);
      const extra = Buffer.alloc(1 + int(8), int(256));
      return Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]);
    }
    case 5: { // delete a range
      const at = int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(8))]);
    }
    case 6: { // a varint run (0xff...) somewhere
      const at = int(b.length + 1);
      for (let i = at; i < Math.min(b.length, at + 1 + int(7)); i++) b[i] = 0xff;
      return b;
    }
    default: { // entirely random frame with a valid-looking header
      const r = Buffer.alloc(int(64));
      for (let i = 0; i < r.length; i++) r[i] = int(256);
      if (r.length >= 4 && src.length >= 4) src.copy(r, 0, 0, 4);
      return r;
    }
  }
}

export function fuzz(seeds: readonly Seed[], iterations: number, seed = 1): FuzzReport {
  const rnd = prng(seed);
  const report: FuzzReport = { iterations, decoded: 0, rejected: 0, crashes: [], errorCodes: {}, ms: 0, maxArrayBufferGrowthMB: 0 };
  const started = performance.now();
  gc();
  let baseline = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < iterations; i++) {
    const s = seeds[Math.floor(rnd() * seeds.length)]!;
    let frame = mutate(s.frame, rnd);
    if (rnd() < 0.3) frame = mutate(frame, rnd);
    try {
      if (s.direction === 'request') decodeRequestFrame(frame);
      else decodeResponseFrame(frame, s.apiKey, s.apiVersion);
      report.decoded++;
    } catch (err) {
      if (err instanceof ProtocolError) {
        report.rejected++;
        report.errorCodes[err.code] = (report.errorCodes[err.code] ?? 0) + 1;
      } else if (report.crashes.length < 20) {
        report.crashes.push({ error: String(err), direction: s.direction, apiKey: s.apiKey, apiVersion: s.apiVersion, frame: frame.toString('hex') });
      }
    }
    if ((i & 0xffff) === 0) {
      gc();
      const now = process.memoryUsage().arrayBuffers;
      report.maxArrayBufferGrowthMB = Math.max(report.maxArrayBufferGrowthMB, (now - baseline) / 1048576);
      baseline = Math.min(baseline, now);
    }
  }
  report.ms = Math.round(performance.now() - started);
  return report;
}
