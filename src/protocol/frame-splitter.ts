// Splits a TCP byte stream into Kafka frames (int32 big-endian size, then that many bytes) without holding large
// frames: the handler first sees a frame's head (its first `headLimit` bytes), then either asks for the whole frame
// in one buffer (for frames it must rewrite) or takes the rest as it arrives. A frame that lies inside one chunk is a
// zero-copy view; only a head (or a whole frame the handler asked for) that spans chunks is copied.
import { FrameTooLargeError, NegativeFrameSizeError } from './errors.js';

export interface FrameHandler {
  /**
   * A frame begins. `head` holds its first min(size, headLimit) bytes. When head.length === size this is the whole
   * frame and the return value is ignored. Otherwise return true to get the whole frame later through onWhole, or
   * false to get the remaining bytes through onBody and then onEnd.
   */
  onFrame(size: number, head: Buffer): boolean;
  onWhole(frame: Buffer): void;
  onBody(chunk: Buffer): void;
  onEnd(): void;
}

const enum State {
  Size,
  Head,
  Whole,
  Body,
}

export class FrameSplitter {
  private state = State.Size;
  private readonly sizeBytes = Buffer.alloc(4);
  private sizeHave = 0;
  private size = 0;
  /** Head or whole frame being assembled across chunks. */
  private pending: Buffer | undefined;
  private pendingHave = 0;
  private bodyLeft = 0;

  constructor(
    private readonly handler: FrameHandler,
    /** Largest frame accepted; a larger (or negative) size throws and the stream is unusable after it. */
    readonly maxFrameSize: number,
    /** Bytes of each frame given to onFrame before it is streamed. */
    readonly headLimit: number,
  ) {}

  /** True between frames: no partial frame is held. */
  get idle(): boolean {
    return this.state === State.Size && this.sizeHave === 0;
  }

  /** Bytes of the current frame not yet delivered (0 between frames). */
  get frameBytesLeft(): number {
    if (this.state === State.Body) return this.bodyLeft;
    if (this.state === State.Head || this.state === State.Whole) return this.size - this.pendingHave;
    return 0;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      switch (this.state) {
        case State.Size: {
          if (this.sizeHave === 0 && len - pos >= 4) {
            this.size = chunk.readInt32BE(pos);
            pos += 4;
          } else {
            const n = Math.min(4 - this.sizeHave, len - pos);
            chunk.copy(this.sizeBytes, this.sizeHave, pos, pos + n);
            this.sizeHave += n;
            pos += n;
            if (this.sizeHave < 4) return;
            this.sizeHave = 0;
            this.size = this.sizeBytes.readInt32BE(0);
          }
          this.checkSize();
          const headSize = Math.min(this.size, this.headLimit);
          if (len - pos >= headSize) {
            const head = chunk.subarray(pos, pos + headSize);
            pos += headSize;
            this.headComplete(head, chunk, pos);
            if ((this.state as State) === State.Whole && this.pending === undefined) {
              // the whole frame is in this chunk
              this.handler.onWhole(chunk.subarray(pos - headSize, pos - headSize + this.size));
              pos += this.size - headSize;
              this.state = State.Size;
            }
          } else {
            this.pending = Buffer.allocUnsafe(headSize);
            this.pendingHave = 0;
            this.state = State.Head;
          }
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
          this.pending = undefined;
          if (this.state === State.Head) {
            this.headComplete(pending, undefined, 0);
          } else {
            this.state = State.Size;
            this.handler.onWhole(pending);
          }
          break;
        }
        case State.Body: {
          const n = Math.min(this.bodyLeft, len - pos);
          this.bodyLeft -= n;
          const piece = pos === 0 && n === len ? chunk : chunk.subarray(pos, pos + n);
          pos += n;
          this.handler.onBody(piece);
          if (this.bodyLeft === 0) {
            this.state = State.Size;
            this.handler.onEnd();
          }
          break;
        }
      }
    }
  }

  private checkSize(): void {
    if (this.size < 0) throw new NegativeFrameSizeError('', -1, '', `negative frame size ${this.size}`);
    if (this.size > this.maxFrameSize) {
      throw new FrameTooLargeError('', -1, '', `frame of ${this.size} bytes exceeds the maximum of ${this.maxFrameSize}`);
    }
  }

  /**
   * The head is complete. `source`/`after` locate the bytes that follow it when it is a view into the current chunk
   * (so a whole frame that lies in that chunk can be handed over as a view too).
   */
  private headComplete(head: Buffer, source: Buffer | undefined, after: number): void {
    if (head.length === this.size) {
      this.state = State.Size;
      this.handler.onFrame(this.size, head);
      return;
    }
    const whole = this.handler.onFrame(this.size, head);
    if (!whole) {
      this.state = State.Body;
      this.bodyLeft = this.size - head.length;
      return;
    }
    this.state = State.Whole;
    if (source !== undefined && source.length - after >= this.size - head.length) {
      this.pending = undefined; // delivered from the chunk by the caller
      return;
    }
    const frame = Buffer.allocUnsafe(this.size);
    head.copy(frame, 0);
    this.pending = frame;
    this.pendingHave = head.length;
  }
}
