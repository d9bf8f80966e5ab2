// Typed protocol errors: one class per condition, each with a stable code, naming the API, version and field.

export abstract class ProtocolError extends Error {
  abstract readonly code: string;
  readonly api: string;
  readonly version: number;
  readonly field: string;

  constructor(api: string, version: number, field: string, detail: string) {
    super(`${api || 'frame'}${version >= 0 ? ` v${version}` : ''}${field ? ` field ${field}` : ''}: ${detail}`);
    this.api = api;
    this.version = version;
    this.field = field;
  }
}

/** A field or frame ends before its declared size. */
export class TruncatedError extends ProtocolError {
  readonly code = 'KQP_PROTOCOL_TRUNCATED';
  override readonly name = 'TruncatedError';
}

/** A length prefix is negative (and not the null marker) or larger than what is left. */
export class InvalidLengthError extends ProtocolError {
  readonly code = 'KQP_PROTOCOL_INVALID_LENGTH';
  override readonly name = 'InvalidLengthError';
}

/** An unsigned varint runs past 5 bytes. */
export class InvalidVarintError extends ProtocolError {
  readonly code = 'KQP_PROTOCOL_INVALID_VARINT';
  override readonly name = 'InvalidVarintError';
}

/** A null where the schema does not allow one in this version. */
export class UnexpectedNullError extends ProtocolError {
  readonly code = 'KQP_PROTOCOL_UNEXPECTED_NULL';
  override readonly name = 'UnexpectedNullError';
}

/** Bytes left over after a message that should fill its frame exactly. */
export class TrailingBytesError extends ProtocolError {
  readonly code = 'KQP_PROTOCOL_TRAILING_BYTES';
  override readonly name = 'TrailingBytesError';
}

/** An API key this codec does not know, or a version outside the API's schema. */
export class UnsupportedVersionError extends ProtocolError {
  readonly code = 'KQP_PROTOCOL_UNSUPPORTED_VERSION';
  override readonly name = 'UnsupportedVersionError';
}

/** A frame size prefix above the configured maximum (Kafka: socket.request.max.bytes). */
export class FrameTooLargeError extends ProtocolError {
  readonly code = 'KQP_FRAME_TOO_LARGE';
  override readonly name = 'FrameTooLargeError';

  constructor(readonly frameSize: number, maxFrameSize: number) {
    super('', -1, '', `frame of ${frameSize} bytes exceeds the maximum of ${maxFrameSize}`);
  }
}

/** A negative frame size prefix. */
export class NegativeFrameSizeError extends ProtocolError {
  readonly code = 'KQP_FRAME_NEGATIVE_SIZE';
  override readonly name = 'NegativeFrameSizeError';
}
