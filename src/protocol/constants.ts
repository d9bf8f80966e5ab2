// Shared immutable values used as field defaults by the generated codecs. Never write into them.

/** Kafka's Uuid.ZERO_UUID: 16 zero bytes. */
export const ZERO_UUID: Buffer = Buffer.alloc(16);

/** An empty byte array (Kafka's Bytes.EMPTY). */
export const EMPTY: Buffer = Buffer.alloc(0);
