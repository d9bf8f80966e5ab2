// The frame splitter: frames cut at every possible boundary come out whole and exact; heads, streamed bodies and
// whole frames on request; size limits; no whole-frame copy for streamed frames.
import t from 'tap';
import { FrameSplitter, type FrameHandler, STREAM, WHOLE } from '../../src/protocol/frame-splitter.js';
import { FrameTooLargeError, NegativeFrameSizeError } from '../../src/protocol/errors.js';
import { prng } from '../support/populate.js';

type Event = { kind: 'frame' | 'whole' | 'body' | 'end'; data: Buffer; size?: number };

function frame(payload: Buffer): Buffer {
  const b = Buffer.alloc(4 + payload.length);
  b.writeInt32BE(payload.length, 0);
  payload.copy(b, 4);
  return b;
}

function payload(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Collects events; wantWhole decides per frame whether to ask for the whole frame. */
function recorder(wantWhole: (size: number) => boolean): { handler: FrameHandler; events: Event[] } {
  const events: Event[] = [];
  return {
    events,
    handler: {
      onFrame: (size, head) => {
        events.push({ kind: 'frame', data: Buffer.from(head), size });
        return wantWhole(size) ? WHOLE : STREAM;
      },
      onWhole: (f) => void events.push({ kind: 'whole', data: Buffer.from(f) }),
      onBody: (c) => void events.push({ kind: 'body', data: Buffer.from(c) }),
      onEnd: () => void events.push({ kind: 'end', data: Buffer.alloc(0) }),
    },
  };
}

/** Rebuilds the frames' payloads from events (head + body, or the whole frame; heads carry the size prefix). */
function reassemble(events: Event[]): Buffer[] {
  const out: Buffer[] = [];
  let current: Buffer[] = [];
  let size = 0;
  for (const e of events) {
    if (e.kind === 'frame') {
      size = e.size!;
      if (e.data.readInt32BE(0) !== size) throw new Error('head without its size prefix');
      current = [e.data.subarray(4)];
      if (e.data.length === size + 4) out.push(e.data.subarray(4));
    } else if (e.kind === 'whole') {
      if (e.data.readInt32BE(0) !== size) throw new Error('whole frame without its size prefix');
      out.push(e.data.subarray(4));
      current = [];
    } else if (e.kind === 'body') current.push(e.data);
    else out.push(Buffer.concat(current));
  }
  return out;
}

const payloads = [0, 1, 5, 16, 17, 100, 1000, 5000].map((n, i) => payload(n, i));
const stream = Buffer.concat(payloads.map(frame));

for (const mode of ['stream', 'whole'] as const) {
  t.test(`every single split point and random chunkings reassemble exactly (${mode} mode)`, async (t) => {
    let bad = 0;
    const check = (chunks: Buffer[]) => {
      const { handler, events } = recorder(() => mode === 'whole');
      const s = new FrameSplitter(handler, 1 << 20, 16);
      for (const c of chunks) s.push(c);
      const got = reassemble(events);
      if (got.length !== payloads.length || got.some((g, i) => !g.equals(payloads[i]!)) || !s.idle) bad++;
    };
    for (let cut = 0; cut <= stream.length; cut++) check([stream.subarray(0, cut), stream.subarray(cut)]);
    const rnd = prng(7);
    for (let trial = 0; trial < 500; trial++) {
      const chunks: Buffer[] = [];
      for (let pos = 0; pos < stream.length; ) {
        const n = 1 + Math.floor(rnd() * 64);
        chunks.push(stream.subarray(pos, pos + n));
        pos += n;
      }
      check(chunks);
    }
    t.equal(bad, 0, `${stream.length + 1} two-piece splits and 500 random chunkings`);
  });
}

t.test('heads are at most headLimit bytes; streamed bodies are views, never a whole-frame copy', async (t) => {
  const big = payload(200_000, 3);
  const bytes = frame(big);
  const bodies: Buffer[] = [];
  let head: Buffer | undefined;
  const s = new FrameSplitter(
    {
      onFrame: (_size, h) => {
        head = h;
        return STREAM;
      },
      onWhole: () => t.fail('not asked for'),
      onBody: (c) => void bodies.push(c),
      onEnd: () => undefined,
    },
    1 << 20,
    64,
  );
  for (let pos = 0; pos < bytes.length; pos += 16_384) s.push(bytes.subarray(pos, pos + 16_384));
  t.equal(head!.length, 4 + 64, 'the size prefix and headLimit bytes');
  t.ok(bodies.every((b) => b.buffer === bytes.buffer), 'every body piece is a view of the input');
  t.ok(Buffer.concat([head!, ...bodies]).equals(bytes), 'head and bodies are exactly the frame as received');
});

t.test('a frame inside one chunk is handed over as a view', async (t) => {
  const bytes = Buffer.concat([frame(payload(10, 1)), frame(payload(300, 2))]);
  const seen: Buffer[] = [];
  const s = new FrameSplitter(
    {
      onFrame: (_size, h) => {
        seen.push(h);
        return WHOLE;
      },
      onWhole: (f) => void seen.push(f),
      onBody: () => t.fail('whole was asked for'),
      onEnd: () => undefined,
    },
    1 << 20,
    32,
  );
  s.push(bytes);
  t.equal(seen.length, 3, 'small frame, then head + whole of the large one');
  t.ok(seen.every((b) => b.buffer === bytes.buffer), 'all views, no copies');
});

t.test('sizes: negative and oversized frames throw typed errors', async (t) => {
  const handler = recorder(() => false).handler;
  const neg = Buffer.alloc(4);
  neg.writeInt32BE(-5);
  t.throws(() => new FrameSplitter(handler, 1000, 16).push(neg), NegativeFrameSizeError);
  const over = Buffer.alloc(4);
  over.writeInt32BE(1001);
  t.throws(() => new FrameSplitter(handler, 1000, 16).push(over), FrameTooLargeError);
  // the same sizes one byte per chunk (the prefix assembled across chunks)
  for (const [size, error] of [[neg, NegativeFrameSizeError], [over, FrameTooLargeError]] as const) {
    const byBytes = new FrameSplitter(handler, 1000, 16);
    for (let i = 0; i < 3; i++) byBytes.push(size.subarray(i, i + 1));
    t.throws(() => byBytes.push(size.subarray(3)), error, `${size.readInt32BE(0)} read across four chunks`);
  }
  const huge = Buffer.from([0x7f, 0xff, 0xff, 0xff]);
  const err = (() => {
    try {
      new FrameSplitter(handler, 100 * 1024 * 1024, 16).push(huge);
    } catch (e) {
      return e as FrameTooLargeError;
    }
  })();
  t.equal(err?.code, 'KQP_FRAME_TOO_LARGE', 'a 2 GB size is refused before anything is allocated');
  const atMax = new FrameSplitter(recorder(() => false).handler, 1000, 16);
  t.doesNotThrow(() => atMax.push(frame(payload(1000, 1))), 'exactly the maximum is fine');
});

t.test('inBody only while a streamed body is under way; idle only between frames', async (t) => {
  const s = new FrameSplitter(recorder(() => false).handler, 1 << 20, 8);
  const bytes = frame(payload(100, 1));
  s.push(bytes.subarray(0, 2));
  t.notOk(s.idle, 'partial size held');
  t.notOk(s.inBody, 'nothing of the frame handed over yet');
  s.push(bytes.subarray(2, 10));
  t.notOk(s.inBody, 'its head still being read');
  s.push(bytes.subarray(10, 50));
  t.ok(s.inBody, 'head handed over, body under way');
  s.push(bytes.subarray(50));
  t.ok(s.idle);
  t.notOk(s.inBody);
});

t.test('a handler can ask for a longer head; it gets a view when the chunk holds it, a copy when it does not', async (t) => {
  const payloadBytes = payload(3000, 9);
  const bytes = frame(payloadBytes);
  for (const chunkSize of [bytes.length, 700, 50]) {
    const heads: Buffer[] = [];
    const bodies: Buffer[] = [];
    const s = new FrameSplitter(
      {
        onFrame: (_size, h) => {
          heads.push(h);
          return h.length - 4 < 1000 ? (h.length - 4) * 4 : STREAM; // 100 → 400 → 1600 bytes, then stream
        },
        onWhole: () => t.fail('not asked for'),
        onBody: (c) => void bodies.push(c),
        onEnd: () => undefined,
      },
      1 << 20,
      100,
    );
    for (let pos = 0; pos < bytes.length; pos += chunkSize) s.push(bytes.subarray(pos, pos + chunkSize));
    t.same(heads.map((h) => h.length - 4), [100, 400, 1600], `heads grew as asked (chunks of ${chunkSize})`);
    t.ok(Buffer.concat([heads.at(-1)!, ...bodies]).equals(bytes), 'and the frame is exact');
    if (chunkSize === bytes.length) t.ok(heads.every((h) => h.buffer === bytes.buffer), 'all views when the chunk holds them');
  }
});

t.test('suspend stops at the end of the frame under way; resume hands over the rest, in order, without copies', async (t) => {
  const frames = [payload(10, 1), payload(300, 2), payload(20, 3), payload(5, 4)].map(frame);
  const seen: Buffer[] = [];
  let bodies = 0;
  const s: FrameSplitter = new FrameSplitter({
    onFrame: (size, head) => {
      seen.push(head);
      if (head.length === size + 4 || seen.length !== 2) s.suspend(); // suspend after every frame but the streamed one
      return STREAM;
    },
    onWhole: () => undefined,
    onBody: () => void bodies++,
    onEnd: () => s.suspend(),
  }, 1 << 20, 64);
  const first = Buffer.concat(frames.slice(0, 3));
  s.push(first);
  t.equal(seen.length, 1, 'one frame handed over, then suspended');
  t.notOk(s.idle, 'the rest of the chunk is kept');
  s.push(frames[3]!);
  t.equal(seen.length, 1, 'a chunk pushed while suspended is kept too');
  s.resume();
  t.equal(seen.length, 2, 'resume: the next frame, streamed to its end (it suspended at its end)');
  t.equal(bodies, 1, 'its body, in one piece');
  s.resume();
  s.resume();
  t.equal(seen.length, 4, 'then the others, in order');
  t.same(seen.map((h) => h.readInt32BE(0)), [10, 300, 20, 5]);
  t.equal(seen[2]!.buffer, first.buffer, 'kept frames are views of the chunk they came in');
  t.ok(s.idle);
});
