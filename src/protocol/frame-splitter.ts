// Splits a TCP byte stream into Kafka frames (int32 big-endian size, then that many bytes) without holding large
// frames: the handler first sees a frame's head (its size prefix and first `headLimit` bytes), then either asks for
// the whole frame in one buffer (for frames it must rewrite) or takes the rest as it arrives. Heads and whole frames
// include the 4-byte size prefix, so forwarding a frame is writing exactly the pieces handed over. A head or frame
// that lies inside one chunk is a zero-copy view; only one that spans chunks is copied.
import { FrameTooLargeError, NegativeFrameSizeError } from './errors.js';

export const SIZE_PREFIX = 4;

/** onFrame's answers: stream the rest, or hand over the whole frame (any larger number asks for a longer head). */
export const STREAM = 0;
export const WHOLE = -1;

export interface FrameHandler {
  /**
   * A frame begins. `head` holds its size prefix and its first min(size, headLimit) bytes. When
   * head.length === size + 4 this is the whole frame and the return value is ignored. Otherwise return STREAM to get
   * the remaining bytes through onBody and then onEnd, WHOLE to get the whole frame through onWhole, or a number of
   * bytes n (more than the head holds) to be called again with a head of min(n, size) bytes after the prefix.
   */
  onFrame(size: number, head: Buffer): number;
  /** The whole frame, size prefix included. */
  onWhole(frame: Buffer): void;
  onBody(chunk: Buffer): void;
  onEnd(): void;
}

const enum State {
  Prefix,
  Head,
  Whole,
  Body,
}

export class FrameSplitter {
  private state = State.Prefix;
  /** A size prefix split across chunks: its bytes so far, big-endian (a number, not a buffer per splitter). */
  private prefixValue = 0;
  private prefixHave = 0;
  private size = 0;
  /** Head or whole frame being assembled across chunks. */
  private pending: Buffer | undefined;
  private pendingHave = 0;
  private bodyLeft = 0;
  /** suspend() was called: no frame is begun until resume(). */
  private suspended = false;
  private resuming = false;
  /** What arrived while suspended (views of the pushed chunks, in order). */
  private readonly rest: Buffer[] = [];

  constructor(
    private readonly handler: FrameHandler,
    /** Largest frame accepted; a larger (or negative) size throws and the stream is unusable after it. */
    public maxFrameSize: number,
    /** Bytes of each frame (after the prefix) given to onFrame before it is streamed. */
    readonly headLimit: number,
  ) {}

  /** True between frames: no partial frame or unread bytes are held. */
  get idle(): boolean {
    return this.state === State.Prefix && this.prefixHave === 0 && this.rest.length === 0;
  }

  /**
   * Stops at the next frame boundary: the frame under way is handed over to its end, then what is left of the chunk
   * (and any chunk pushed meanwhile) is kept, as views, until resume(). The caller stops reading its source too, so
   * what is kept is what had been read already.
   */
  suspend(): void {
    this.suspended = true;
  }

  /** Hands over what was kept, then goes on with what is pushed; a handler may suspend again on the way. */
  resume(): void {
    if (!this.suspended || this.resuming) return;
    this.suspended = false;
    this.resuming = true;
    try {
      for (const chunk of this.rest.splice(0)) this.push(chunk); // once suspended again, push keeps them, in order
    } finally {
      this.resuming = false;
    }
  }

  /** A frame's head was handed over and its body is being (onBody, then onEnd to come). */
  get inBody(): boolean {
    return this.state === State.Body;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      switch (this.state) {
        case State.Prefix: {
          if (this.suspended && this.prefixHave === 0) {
            this.rest.push(pos === 0 ? chunk : chunk.subarray(pos));
            return;
          }
          if (this.prefixHave === 0 && len - pos >= SIZE_PREFIX) {
            this.size = chunk.readInt32BE(pos);
            this.checkSize();
            const headLen = SIZE_PREFIX + Math.min(this.size, this.headLimit);
            if (len - pos >= headLen) {
              pos = this.headComplete(chunk.subarray(pos, pos + headLen), chunk, pos + headLen);
            } else {
              this.pending = Buffer.allocUnsafe(headLen);
              this.pendingHave = 0;
              this.state = State.Head;
            }
            break;
          }
          for (; this.prefixHave < SIZE_PREFIX && pos < len; this.prefixHave++) this.prefixValue = (this.prefixValue << 8) | chunk[pos++]!;
          if (this.prefixHave < SIZE_PREFIX) return;
          this.prefixHave = 0;
          this.size = this.prefixValue; // int32: the shifts above wrap as readInt32BE reads
          this.prefixValue = 0;
          this.checkSize();
          this.pending = Buffer.allocUnsafe(SIZE_PREFIX + Math.min(this.size, this.headLimit));
          this.pending.writeInt32BE(this.size, 0);
          this.pendingHave = SIZE_PREFIX;
          this.state = State.Head;
          if (this.pendingHave === this.pending.length) pos = this.completePending(pos);
          break;
        }
        case State.Head:
        case State.Whole: {
          const pending = this.pending!;
          const n = Math.min(pending.length - this.pendingHave, len - pos);
          chunk.copy(pending, this.pendingHave, pos, pos + n);
          this.pendingHave += n;
          pos += n;
          if (this.pendingHave < pending.length) return;
          pos = this.completePending(pos);
          break;
        }
        case State.Body: {
          const n = Math.min(this.bodyLeft, len - pos);
          this.bodyLeft -= n;
          const piece = pos === 0 && n === len ? chunk : chunk.subarray(pos, pos + n);
          pos += n;
          this.handler.onBody(piece);
          if (this.bodyLeft === 0) {
            this.state = State.Prefix;
            this.handler.onEnd();
          }
          break;
        }
      }
    }
  }

  /** The pending head or whole frame is complete; returns the position to continue from. */
  private completePending(pos: number): number {
    const pending = this.pending!;
    this.pending = undefined;
    if (this.state === State.Head) return this.headComplete(pending, undefined, pos);
    this.state = State.Prefix;
    this.handler.onWhole(pending);
    return pos;
  }

  private checkSize(): void {
    if (this.size < 0) throw new NegativeFrameSizeError('', -1, '', `negative frame size ${this.size}`);
    if (this.size > this.maxFrameSize) {
      throw new FrameTooLargeError(this.size, this.maxFrameSize);
    }
  }

  /**
   * The head is complete. When it is a view into `chunk` (ending at `after`), a longer head or a whole frame that lies
   * in the same chunk is handed over as a view too. Returns the position in the chunk to continue from.
   */
  private headComplete(head: Buffer, chunk: Buffer | undefined, after: number): number {
    for (;;) {
      this.state = State.Prefix;
      if (head.length === this.size + SIZE_PREFIX) {
        this.handler.onFrame(this.size, head);
        return after;
      }
      const answer = this.handler.onFrame(this.size, head);
      if (answer === STREAM) {
        this.state = State.Body;
        this.bodyLeft = this.size + SIZE_PREFIX - head.length;
        return after;
      }
      const want = answer === WHOLE ? this.size + SIZE_PREFIX : SIZE_PREFIX + Math.min(answer, this.size);
      if (want <= head.length) throw new RangeError(`onFrame asked for a ${answer}-byte head, already had ${head.length - SIZE_PREFIX}`);
      const start = after - head.length;
      if (chunk !== undefined && chunk.length - start >= want) {
        const view = chunk.subarray(start, start + want);
        if (answer === WHOLE) {
          this.handler.onWhole(view);
          return start + want;
        }
        head = view;
        after = start + want;
        continue;
      }
      const pending = Buffer.allocUnsafe(want);
      head.copy(pending, 0);
      this.pending = pending;
      this.pendingHave = head.length;
      this.state = answer === WHOLE ? State.Whole : State.Head;
      return after;
    }
  }
}
