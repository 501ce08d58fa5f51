// Record layout shared by both ring directions. Every record starts with a
// 16-byte header and its payload is padded to 8 bytes, so headers and
// payloads stay 8-byte aligned (misaligned copies into shared memory were
// several times slower in the prototypes):
//
//   offset 0  u32  payload length in bytes (for PAD: bytes to skip to the end)
//   offset 4  u8   kind (RecordKind)
//   offset 5  u8   flags
//   offset 6  u16  aux (close reason for CLOSE events, otherwise 0)
//   offset 8  f64  connection id
//   offset 16      payload
//
// A record never splits across the end of the ring: a producer that would
// cross the end writes a PAD marker (only its first 8 bytes are meaningful,
// and at least 8 bytes always remain because every position is 8-aligned)
// and starts the record at offset 0.

export const RECORD_HEADER_BYTES = 16;
export const RECORD_ALIGN = 8;

export const HDR_LENGTH_U32 = 0;
export const HDR_KIND_U8 = 4;
export const HDR_FLAGS_U8 = 5;
export const HDR_AUX_U16 = 6;
export const HDR_ID_F64 = 8;

export const RecordKind = {
  PAD: 0,
  // Events, worker to consumer.
  OPEN: 1,
  DATA: 2,
  CLOSE: 3,
  /** Written by the supervisor after a worker died: aux = worker index. Every id of that worker still open closes with 'worker-exit'. */
  WORKER_EXIT: 4,
  // Commands, producer to worker.
  SEND: 16,
  SEND_MANY: 17,
  CLOSE_CONN: 18,
  /** The consumer has handed out a CLOSE that carried AWAITS_RELEASE: end the write side once what was sent before is written. */
  RELEASE: 19,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** Flags of a CLOSE event record. */
export const CloseFlag = {
  /**
   * The peer half-closed: the worker keeps the socket's write side open so
   * replies still reach the client, until the consumer answers with a
   * RELEASE command for the id (or closeTimeoutMs passes).
   */
  AWAITS_RELEASE: 1,
} as const;

/** Flags of a SEND or SEND_MANY command record. */
export const SendFlag = {
  /** A piece of a send larger than one record; the message ends with the next piece that lacks this flag. */
  CONTINUES: 1,
  /** The application sent a string: a protocol that cares (WebSocket) sends it as text. On every piece of the message. */
  TEXT: 2,
} as const;

/** Flags of a DATA event record. */
export const DataFlag = {
  /** The protocol delivered the message as text (a WebSocket text frame). */
  TEXT: 1,
} as const;

/** Flags of an OPEN event record. */
export const OpenFlag = {
  /** The payload goes on after the address with what the protocol's handshake learnt (OpenRequest), as UTF-8 JSON. */
  REQUEST: 1,
} as const;

export function recordBytes(payloadLength: number): number {
  return RECORD_HEADER_BYTES + ((payloadLength + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1));
}

/**
 * Why a connection closed. The numeric code (the index here) travels in a
 * CLOSE record's aux field; this list is the one source of the reasons.
 */
export const CLOSE_REASONS = [
  'peer',
  'error',
  'idle-timeout',
  'frame-timeout',
  'local',
  'frame-too-large',
  'slow-consumer',
  'worker-exit',
  'shutdown',
] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

export const CloseCode = Object.freeze(Object.fromEntries(CLOSE_REASONS.map((reason, code) => [reason, code]))) as {
  readonly [R in CloseReason]: number;
};

export function closeReasonName(code: number): CloseReason {
  return CLOSE_REASONS[code] ?? 'error';
}

// CLOSE payload: empty, or the protocol's own close code (a WebSocket close
// code) as a u16, low byte first, when the protocol gave one.
export const CLOSE_PROTOCOL_CODE_U16 = 0;
export const CLOSE_PROTOCOL_CODE_BYTES = 2;

// OPEN payload: u8 family (4 or 6), u8 address length, u16 remote port,
// u16 local port, u16 reserved, then the address as ASCII; with the
// REQUEST flag, then the protocol's OpenRequest as UTF-8 JSON to the end of
// the payload (at most OPEN_REQUEST_MAX_BYTES).
export const OPEN_FAMILY_U8 = 0;
export const OPEN_ADDRESS_LENGTH_U8 = 1;
export const OPEN_REMOTE_PORT_U16 = 2;
export const OPEN_LOCAL_PORT_U16 = 4;
export const OPEN_ADDRESS = 8;
/** The longest address an OPEN record carries. */
export const OPEN_MAX_ADDRESS = 64;
/** The most JSON an OPEN record's request may take, bounded further by what one record of the event ring holds. */
export const OPEN_REQUEST_MAX_BYTES = 16 * 1024;

// SEND_MANY payload: u32 id count, u32 reserved, count f64 ids, then the
// bytes to send to each of them.
export const SEND_MANY_COUNT_U32 = 0;
export const SEND_MANY_IDS = 8;
