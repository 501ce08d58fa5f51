// The frame parser of a WebSocket server (RFC 6455 section 5): cuts each
// connection's bytes, after its handshake, into whole messages, answers
// pings and the closing handshake, and fails a connection that breaks the
// protocol with the close code the RFC names.
//
// Contract:
// - push(slot, chunk) parses one read. Whole messages go to sink.message in
//   order, as (payload, isText), a view valid only during the call: the
//   sink copies it at once and must not call back into the parser. A pong
//   answering each ping goes to sink.write, in order with the messages. A
//   sink that throws leaves the slot's stream lost: the caller closes it.
// - push unmasks in place: the payload bytes of any frame that lies whole
//   in `chunk` are overwritten with their unmasked values, and a message
//   made of one such frame is delivered as a view of `chunk`, without a
//   copy. The caller must not need the read's bytes after pushing it (a
//   socket's read buffer is the worker's to spend). A frame cut by a read
//   boundary, and any fragmented message, is unmasked into a buffer the
//   parser owns: allocated once at the frame's size up to 64 KiB, beyond
//   that grown (doubling) as bytes arrive, so a connection's memory follows
//   what its peer sent, not what a header announced.
// - Limits are checked as soon as a header is read, before any payload is
//   buffered: a data frame that would take its message over
//   maxMessageBytes, or announces 2^53 bytes or more, fails with 1009.
// - Protocol errors fail the connection: an unmasked frame, RSV bits (no
//   extension is ever agreed), an unknown opcode, a fragmented or oversized
//   control frame, a continuation without a message or a new message inside
//   one, a malformed close frame (1002); text that is not UTF-8, checked as
//   it arrives across fragments, or a close reason that is not (1007).
// - push returns OK while the connection stays open. CLOSED: the peer sent
//   a close frame (its code in closeCodes, 1005 when it carried none; its
//   reason in lastCloseReason). FAILED: the peer broke the protocol (the
//   code it is failed with in closeCodes). Either way the push leaves in
//   finalBytes the close frame to write last, answering the peer's or
//   failing the connection (undefined when this side had closed first),
//   and the caller ends the TCP connection once it is flushed. The slot
//   delivers nothing more and returns the same result, with no final
//   bytes, until reset.
// - close(slot) starts the closing handshake from this side: it returns the
//   close frame to write; afterwards messages are discarded and pings go
//   unanswered until the peer's close arrives (CLOSED).
//
// Per connection at rest (between messages): one byte of state and two of
// close code in typed arrays indexed by slot. A connection owns a Pending
// only while a frame or fragmented message is incomplete.

import {
  CloseStatus,
  FIN_BIT,
  LENGTH_16,
  LENGTH_64,
  LENGTH_BITS,
  MASK_BIT,
  MASK_KEY_BYTES,
  MAX_CONTROL_PAYLOAD,
  MAX_HEADER_BYTES,
  OPCODE_BITS,
  Opcode,
  RSV_BITS,
  encodeClose,
  encodePong,
  isValidCloseCode,
  isValidUtf8,
  unmask,
  validUtf8Prefix,
} from './websocket-frames.ts';

export interface FrameSink {
  /** One whole message; `payload` is valid only during the call. */
  message(slot: number, payload: Uint8Array, isText: boolean): void;
  /** Bytes to send the peer now (a pong, the handshake's 101); valid only during the call. */
  write(slot: number, bytes: Uint8Array): void;
}

export const FrameResult = { OK: 0, CLOSED: 1, FAILED: 2 } as const;
export type FrameResult = (typeof FrameResult)[keyof typeof FrameResult];

/** A slot's state (FrameParser.#state). */
const SlotState = { OPEN: 0, CLOSE_SENT: 1, CLOSED: 2, FAILED: 3 } as const;

/** A cut frame's buffer is allocated whole up to this size; a larger one grows as its bytes arrive. */
const EAGER_CAPACITY = 64 * 1024;
const EMPTY = new Uint8Array(0);
/** The answer to a close frame without a code: a close frame without a code. */
const EMPTY_CLOSE = encodeClose();

/** One connection's unfinished business: a frame cut by a read, or a fragmented message. */
class Pending {
  /** The bytes of a header cut by a read, while it is incomplete. */
  readonly header = new Uint8Array(MAX_HEADER_BYTES);
  headerLength = 0;
  /** A header was read and its payload is being read. */
  inFrame = false;
  opcode = 0;
  fin = false;
  /** Payload bytes of the current frame still to come. */
  remaining = 0;
  readonly mask = new Uint8Array(MASK_KEY_BYTES);
  /** Which mask byte the next payload byte takes (0-3). */
  maskIndex = 0;
  /** A control frame's payload, while the frame is cut by a read. */
  control: Uint8Array | undefined = undefined;
  /** The opcode of the data message being assembled (TEXT or BINARY), 0 when none is. */
  messageOpcode = 0;
  message: Uint8Array = EMPTY;
  messageLength = 0;
  /** A text message is valid UTF-8 up to here, a character boundary. */
  validated = 0;

  busy(): boolean {
    return this.headerLength > 0 || this.inFrame || this.messageOpcode !== 0;
  }

  bufferedBytes(): number {
    return this.headerLength + (this.control === undefined ? 0 : this.control.length - this.remaining) + this.messageLength;
  }

  clear(): void {
    this.headerLength = 0;
    this.inFrame = false;
    this.control = undefined;
    this.endMessage();
  }

  endMessage(): void {
    this.messageOpcode = 0;
    this.message = EMPTY;
    this.messageLength = 0;
    this.validated = 0;
  }
}

/** A header's size, from its second byte: 2, the extended length, the masking key. */
function headerSize(second: number): number {
  const length = second & LENGTH_BITS;
  return 2 + (length === LENGTH_16 ? 2 : length === LENGTH_64 ? 8 : 0) + MASK_KEY_BYTES;
}

export class FrameParser {
  readonly #maxMessageBytes: number;
  readonly #sink: FrameSink;
  readonly #state: Uint8Array;
  /** Each slot's close code once it ended (the peer's, or the one it was failed with); 0 while open. */
  readonly closeCodes: Uint16Array;
  /** The reason text of the close frame behind the last CLOSED result. */
  lastCloseReason = '';
  /** Set by a push that ends its slot: the close frame to write last; undefined when there is none. */
  finalBytes: Uint8Array | undefined = undefined;
  readonly #partials = new Map<number, Pending>();
  /** Parses a slot with nothing pending; handed to the slot if it ends a read mid-frame. */
  #scratch = new Pending();

  constructor(capacity: number, maxMessageBytes: number, sink: FrameSink) {
    this.#maxMessageBytes = maxMessageBytes;
    this.#sink = sink;
    this.#state = new Uint8Array(capacity);
    this.closeCodes = new Uint16Array(capacity);
  }

  push(slot: number, chunk: Uint8Array): FrameResult {
    this.finalBytes = undefined;
    const state = this.#state[slot]!;
    if (state === SlotState.CLOSED) return FrameResult.CLOSED;
    if (state === SlotState.FAILED) return FrameResult.FAILED;
    let pending = this.#partials.get(slot);
    const stored = pending !== undefined;
    if (pending === undefined) {
      pending = this.#scratch;
      // A sink that threw out of an earlier push may have left it mid-frame.
      pending.clear();
    }
    const result = this.#parse(slot, pending, chunk);
    if (result !== FrameResult.OK) {
      if (stored) this.#partials.delete(slot);
      pending.clear();
    } else if (pending.busy()) {
      if (!stored) {
        this.#partials.set(slot, pending);
        this.#scratch = new Pending();
      }
    } else if (stored) {
      this.#partials.delete(slot);
    }
    return result;
  }

  /** The close frame that starts the closing handshake, or undefined when the slot is closing or closed already. */
  close(slot: number, code?: number, reason?: string): Uint8Array | undefined {
    if (this.#state[slot] !== SlotState.OPEN) return undefined;
    const frame = encodeClose(code, reason);
    this.#state[slot] = SlotState.CLOSE_SENT;
    return frame;
  }

  /** Bytes held for `slot`'s incomplete frame header, control frame and message. */
  partialBytes(slot: number): number {
    return this.#partials.get(slot)?.bufferedBytes() ?? 0;
  }

  /** Forgets everything about `slot` (its connection is gone). */
  reset(slot: number): void {
    this.#partials.delete(slot);
    this.#state[slot] = SlotState.OPEN;
    this.closeCodes[slot] = 0;
  }

  #parse(slot: number, p: Pending, chunk: Uint8Array): FrameResult {
    const end = chunk.length;
    let at = 0;
    for (;;) {
      if (!p.inFrame) {
        if (at === end) return FrameResult.OK;
        let code: number;
        if (p.headerLength === 0 && end - at >= 2 && end - at >= headerSize(chunk[at + 1]!)) {
          code = this.#beginFrame(p, chunk, at);
          at += headerSize(chunk[at + 1]!);
        } else {
          at = this.#collectHeader(p, chunk, at);
          if (at < 0) return this.#fail(slot, -at);
          if (!p.inFrame) return FrameResult.OK;
          code = this.#beginFrame(p, p.header, 0);
          p.headerLength = 0;
        }
        if (code !== 0) return this.#fail(slot, code);
      }
      const available = end - at;
      if (p.opcode >= Opcode.CLOSE) {
        let payload: Uint8Array;
        if (p.control === undefined && available >= p.remaining) {
          // The whole control frame is in this read: unmask it where it lies.
          unmask(chunk, at, at + p.remaining, p.mask, 0, chunk, at);
          payload = chunk.subarray(at, at + p.remaining);
          at += p.remaining;
        } else {
          p.control ??= new Uint8Array(p.remaining);
          const take = Math.min(available, p.remaining);
          unmask(chunk, at, at + take, p.mask, p.maskIndex, p.control, p.control.length - p.remaining);
          p.maskIndex = (p.maskIndex + take) & 3;
          p.remaining -= take;
          at += take;
          if (p.remaining > 0) return FrameResult.OK;
          payload = p.control;
          p.control = undefined;
        }
        p.inFrame = false;
        const result = this.#control(slot, p.opcode, payload);
        if (result !== FrameResult.OK) return result;
        continue;
      }
      if (p.messageOpcode === 0 && p.fin && available >= p.remaining) {
        // A whole one-frame message in this read: unmask it in place and deliver it as a view.
        const to = at + p.remaining;
        unmask(chunk, at, to, p.mask, 0, chunk, at);
        p.inFrame = false;
        const isText = p.opcode === Opcode.TEXT;
        const payload = chunk.subarray(at, to);
        if (isText && !isValidUtf8(payload, 0, payload.length)) return this.#fail(slot, CloseStatus.INVALID_PAYLOAD, 'invalid UTF-8');
        if (this.#state[slot] === SlotState.OPEN) this.#sink.message(slot, payload, isText);
        at = to;
        continue;
      }
      if (p.messageOpcode === 0) p.messageOpcode = p.opcode;
      const take = Math.min(available, p.remaining);
      if (p.message.length < p.messageLength + take) this.#grow(p, p.messageLength + take);
      unmask(chunk, at, at + take, p.mask, p.maskIndex, p.message, p.messageLength);
      p.messageLength += take;
      p.maskIndex = (p.maskIndex + take) & 3;
      p.remaining -= take;
      at += take;
      const isText = p.messageOpcode === Opcode.TEXT;
      if (isText && take > 0) {
        // Fail fast: a text message is checked as it arrives, not only once whole.
        p.validated = validUtf8Prefix(p.message, p.validated, p.messageLength);
        if (p.validated < 0) return this.#fail(slot, CloseStatus.INVALID_PAYLOAD, 'invalid UTF-8');
      }
      if (p.remaining > 0) return FrameResult.OK;
      p.inFrame = false;
      if (!p.fin) continue;
      if (isText && p.validated !== p.messageLength) return this.#fail(slot, CloseStatus.INVALID_PAYLOAD, 'invalid UTF-8');
      const message = p.message.subarray(0, p.messageLength);
      p.endMessage();
      if (this.#state[slot] === SlotState.OPEN) this.#sink.message(slot, message, isText);
    }
  }

  /**
   * Copies header bytes from the read into p.header. Returns the new read
   * position, or minus a close code when the first two bytes already break
   * the protocol. p.inFrame is set once the header is complete.
   */
  #collectHeader(p: Pending, chunk: Uint8Array, at: number): number {
    while (at < chunk.length) {
      p.header[p.headerLength++] = chunk[at++]!;
      if (p.headerLength === 2) {
        // Judge the first two bytes at once; a garbage stream then fails without waiting for more.
        const code = this.#checkStart(p, p.header[0]!, p.header[1]!);
        if (code !== 0) return -code;
      }
      if (p.headerLength >= 2 && p.headerLength === headerSize(p.header[1]!)) {
        p.inFrame = true;
        return at;
      }
    }
    return at;
  }

  /** Reads a complete header at bytes[at]: the frame starts (0), or the close code that fails it. */
  #beginFrame(p: Pending, bytes: Uint8Array, at: number): number {
    const first = bytes[at]!;
    const second = bytes[at + 1]!;
    const code = this.#checkStart(p, first, second);
    if (code !== 0) return code;
    let length = second & LENGTH_BITS;
    let maskAt = at + 2;
    if (length === LENGTH_16) {
      length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
      maskAt += 2;
    } else if (length === LENGTH_64) {
      const high = ((bytes[at + 2]! << 24) | (bytes[at + 3]! << 16) | (bytes[at + 4]! << 8) | bytes[at + 5]!) >>> 0;
      const low = ((bytes[at + 6]! << 24) | (bytes[at + 7]! << 16) | (bytes[at + 8]! << 8) | bytes[at + 9]!) >>> 0;
      // 2^53 and up cannot be counted exactly, and is over every limit anyway.
      if (high > 0x1fffff) return CloseStatus.MESSAGE_TOO_BIG;
      length = high * 2 ** 32 + low;
      maskAt += 8;
    }
    const opcode = first & OPCODE_BITS;
    if (opcode < Opcode.CLOSE && p.messageLength + length > this.#maxMessageBytes) return CloseStatus.MESSAGE_TOO_BIG;
    p.opcode = opcode;
    p.fin = (first & FIN_BIT) !== 0;
    p.remaining = length;
    // Byte by byte: a subarray here would allocate a view for every frame.
    p.mask[0] = bytes[maskAt]!;
    p.mask[1] = bytes[maskAt + 1]!;
    p.mask[2] = bytes[maskAt + 2]!;
    p.mask[3] = bytes[maskAt + 3]!;
    p.maskIndex = 0;
    p.inFrame = true;
    return 0;
  }

  /** The rules the first two header bytes must keep: 0, or the close code that fails the connection. */
  #checkStart(p: Pending, first: number, second: number): number {
    if ((first & RSV_BITS) !== 0) return CloseStatus.PROTOCOL_ERROR;
    const opcode = first & OPCODE_BITS;
    if (opcode >= Opcode.CLOSE) {
      if (opcode > Opcode.PONG || (first & FIN_BIT) === 0 || (second & LENGTH_BITS) > MAX_CONTROL_PAYLOAD) return CloseStatus.PROTOCOL_ERROR;
    } else if (opcode === Opcode.CONTINUATION) {
      if (p.messageOpcode === 0) return CloseStatus.PROTOCOL_ERROR;
    } else if (opcode > Opcode.BINARY || p.messageOpcode !== 0) {
      return CloseStatus.PROTOCOL_ERROR;
    }
    // Every client frame is masked (section 5.1).
    if ((second & MASK_BIT) === 0) return CloseStatus.PROTOCOL_ERROR;
    return 0;
  }

  /** Makes room for `fill` bytes of the message, more when more are sure to come. */
  #grow(p: Pending, fill: number): void {
    const frameEnd = p.messageLength + p.remaining;
    const wanted = Math.max(fill, 2 * p.message.length, Math.min(frameEnd, EAGER_CAPACITY));
    // A final frame fixes the message's size; until then only the limit bounds it.
    const grown = new Uint8Array(Math.min(wanted, p.fin ? frameEnd : this.#maxMessageBytes));
    grown.set(p.message.subarray(0, p.messageLength));
    p.message = grown;
  }

  #control(slot: number, opcode: number, payload: Uint8Array): FrameResult {
    const open = this.#state[slot] === SlotState.OPEN;
    if (opcode === Opcode.PING) {
      if (open) this.#sink.write(slot, encodePong(payload));
      return FrameResult.OK;
    }
    if (opcode === Opcode.PONG) return FrameResult.OK;
    let code: number = CloseStatus.NO_STATUS;
    let reason = '';
    if (payload.length === 1) return this.#fail(slot, CloseStatus.PROTOCOL_ERROR, 'a close payload of 1 byte');
    if (payload.length >= 2) {
      code = (payload[0]! << 8) | payload[1]!;
      if (!isValidCloseCode(code)) return this.#fail(slot, CloseStatus.PROTOCOL_ERROR, 'invalid close code');
      if (!isValidUtf8(payload, 2, payload.length)) return this.#fail(slot, CloseStatus.INVALID_PAYLOAD, 'invalid UTF-8');
      reason = Buffer.from(payload.buffer, payload.byteOffset + 2, payload.length - 2).toString('utf8');
    }
    this.#state[slot] = SlotState.CLOSED;
    this.closeCodes[slot] = code;
    this.lastCloseReason = reason;
    // Echo the peer's code (section 5.5.1), unless this close answers ours.
    if (open) this.finalBytes = code === CloseStatus.NO_STATUS ? EMPTY_CLOSE : encodeClose(code);
    return FrameResult.CLOSED;
  }

  #fail(slot: number, code: number, reason = ''): FrameResult {
    if (this.#state[slot] === SlotState.OPEN) this.finalBytes = encodeClose(code, reason || failReason(code));
    this.#state[slot] = SlotState.FAILED;
    this.closeCodes[slot] = code;
    return FrameResult.FAILED;
  }
}

function failReason(code: number): string {
  return code === CloseStatus.MESSAGE_TOO_BIG ? 'message too big' : 'protocol error';
}
