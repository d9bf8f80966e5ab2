// The frames captured by test/fixtures/capture-frames.ts.
import { readFileSync } from 'node:fs';

export interface Fixture {
  source: string;
  direction: 'request' | 'response';
  apiKey: number;
  apiVersion: number;
  frame: Buffer;
}

export function loadFixtures(): Fixture[] {
  return readFileSync(new URL('../fixtures/captured-frames.jsonl', import.meta.url), 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const f = JSON.parse(line) as Omit<Fixture, 'frame'> & { frame: string };
      return { ...f, frame: Buffer.from(f.frame, 'base64') };
    });
}

