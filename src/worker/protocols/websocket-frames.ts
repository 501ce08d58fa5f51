// WebSocket frames on the wire (RFC 6455 section 5): the opcodes and close
// codes, server frames for the wire, and the byte-level checks the frame
// parser (websocket-parser.ts) shares: unmasking and UTF-8 validation.
//
// Contract of the encoders: server frames are never masked (section 5.1)
// and never fragmented; each message is one frame with FIN set. The header
// is 2 bytes for payloads up to 125 bytes, 4 up to 65,535, else 10.
// `writeFrameHeader` and `frameHeader` give the header alone, so a payload
// can be written behind it without being copied (cork or writev);
// `encodeFrame` copies header and payload into one buffer.

import { isUtf8 } from 'node:buffer';
import { FlamingoError } from '../../shared/errors.ts';

export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** Close codes this side sends or names (RFC 6455 section 7.4.1). */
export const CloseStatus = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  /** Never on the wire: a close frame without a code. */
  NO_STATUS: 1005,
  INVALID_PAYLOAD: 1007,
  MESSAGE_TOO_BIG: 1009,
} as const;

/** First header byte: FIN, three RSV bits, the opcode. */
export const FIN_BIT = 0x80;
export const RSV_BITS = 0x70;
export const OPCODE_BITS = 0x0f;
/** Second header byte: MASK, then a 7-bit length (126: 16 bits follow; 127: 64 bits follow). */
export const MASK_BIT = 0x80;
export const LENGTH_BITS = 0x7f;
export const LENGTH_16 = 126;
export const LENGTH_64 = 127;
/** The largest payload a control frame may carry (section 5.5). */
export const MAX_CONTROL_PAYLOAD = 125;
export const MASK_KEY_BYTES = 4;
/** Longest header: 2 bytes, a 64-bit length, a masking key. */
export const MAX_HEADER_BYTES = 2 + 8 + MASK_KEY_BYTES;
/** A close reason must fit a control frame after the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2;

/**
 * Whether `code` may travel in a close frame: the defined codes (not 1004,
 * reserved, nor 1005, 1006 and 1015, which only name what happened
 * locally) and the ranges for libraries and applications (3000-4999).
 */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** Bytes a server frame header takes for a payload of `length` bytes. */
export function frameHeaderLength(length: number): number {
  return length <= MAX_CONTROL_PAYLOAD ? 2 : length <= 0xffff ? 4 : 10;
}

/** Writes an unmasked, final frame's header at `target[at]`; returns its length (2, 4 or 10). */
export function writeFrameHeader(target: Uint8Array, at: number, opcode: number, length: number): number {
  target[at] = FIN_BIT | opcode;
  if (length <= MAX_CONTROL_PAYLOAD) {
    target[at + 1] = length;
    return 2;
  }
  if (length <= 0xffff) {
    target[at + 1] = LENGTH_16;
    target[at + 2] = length >>> 8;
    target[at + 3] = length & 0xff;
    return 4;
  }
  target[at + 1] = LENGTH_64;
  const high = Math.floor(length / 2 ** 32);
  const low = length >>> 0;
  for (let i = 0; i < 4; i++) {
    target[at + 5 - i] = (high >>> (8 * i)) & 0xff;
    target[at + 9 - i] = (low >>> (8 * i)) & 0xff;
  }
  return 10;
}

/** The header of a text or binary message of `length` bytes, to write before the payload. */
export function frameHeader(length: number, isText: boolean): Buffer {
  const header = Buffer.allocUnsafe(frameHeaderLength(length));
  writeFrameHeader(header, 0, isText ? Opcode.TEXT : Opcode.BINARY, length);
  return header;
}

/** A whole text or binary message frame: header and payload in one buffer. */
export function encodeFrame(payload: Uint8Array, isText: boolean): Buffer {
  return encodeWithOpcode(isText ? Opcode.TEXT : Opcode.BINARY, payload);
}

function encodeWithOpcode(opcode: number, payload: Uint8Array): Buffer {
  const headerLength = frameHeaderLength(payload.length);
  const frame = Buffer.allocUnsafe(headerLength + payload.length);
  writeFrameHeader(frame, 0, opcode, payload.length);
  frame.set(payload, headerLength);
  return frame;
}

function controlPayload(kind: string, payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_CONTROL_PAYLOAD) {
    throw new FlamingoError('ERR_FLAMINGO_INVALID_PAYLOAD', `a ${kind} payload must be at most ${MAX_CONTROL_PAYLOAD} bytes; got ${payload.length}`);
  }
  return payload;
}

export function encodePing(payload: Uint8Array = new Uint8Array(0)): Buffer {
  return encodeWithOpcode(Opcode.PING, controlPayload('ping', payload));
}

export function encodePong(payload: Uint8Array): Buffer {
  return encodeWithOpcode(Opcode.PONG, controlPayload('pong', payload));
}

/**
 * A close frame. Without a code (or with NO_STATUS) it carries no payload;
 * otherwise the code must be valid on the wire and the reason at most 123
 * bytes of UTF-8.
 */
export function encodeClose(code: number = CloseStatus.NO_STATUS, reason = ''): Buffer {
  if (code === CloseStatus.NO_STATUS) {
    if (reason !== '') throw new FlamingoError('ERR_FLAMINGO_INVALID_PAYLOAD', 'a close reason needs a close code');
    return encodeWithOpcode(Opcode.CLOSE, new Uint8Array(0));
  }
  if (!Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new FlamingoError('ERR_FLAMINGO_INVALID_PAYLOAD', `a close code must be 1000-1003, 1007-1014 or 3000-4999; got ${code}`);
  }
  const reasonBytes = Buffer.byteLength(reason);
  if (reasonBytes > MAX_CLOSE_REASON_BYTES) {
    throw new FlamingoError('ERR_FLAMINGO_INVALID_PAYLOAD', `a close reason must be at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8; got ${reasonBytes}`);
  }
  const payload = Buffer.allocUnsafe(2 + reasonBytes);
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2, 'utf8');
  return encodeWithOpcode(Opcode.CLOSE, payload);
}

/**
 * XORs source[from, to) with the masking key, starting at key byte
 * `keyIndex`, into target from `targetAt` (target may be source, in place).
 */
export function unmask(source: Uint8Array, from: number, to: number, key: Uint8Array, keyIndex: number, target: Uint8Array, targetAt: number): void {
  const k0 = key[keyIndex & 3]!;
  const k1 = key[(keyIndex + 1) & 3]!;
  const k2 = key[(keyIndex + 2) & 3]!;
  const k3 = key[(keyIndex + 3) & 3]!;
  const shift = targetAt - from;
  let i = from;
  for (const whole = to - ((to - from) & 3); i < whole; i += 4) {
    target[i + shift] = source[i]! ^ k0;
    target[i + shift + 1] = source[i + 1]! ^ k1;
    target[i + shift + 2] = source[i + 2]! ^ k2;
    target[i + shift + 3] = source[i + 3]! ^ k3;
  }
  if (i < to) target[i + shift] = source[i]! ^ k0;
  if (i + 1 < to) target[i + shift + 1] = source[i + 1]! ^ k1;
  if (i + 2 < to) target[i + shift + 2] = source[i + 2]! ^ k2;
}

/** Below this length a message is first scanned for ASCII in JavaScript, which saves the native call. */
const ASCII_SCAN_LIMIT = 64;

/** Whether bytes[from, to) is whole, valid UTF-8. */
export function isValidUtf8(bytes: Uint8Array, from: number, to: number): boolean {
  if (to - from <= ASCII_SCAN_LIMIT) {
    let i = from;
    while (i < to && bytes[i]! < 0x80) i++;
    if (i === to) return true;
  }
  return isUtf8(from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to));
}

/**
 * Validates a text message as its bytes arrive: bytes[from, to) follow a
 * prefix already known valid and ending on a character boundary. Returns
 * the new boundary (≤ to; the bytes after it begin a character that may
 * still be completed), or -1 when no continuation could make the bytes
 * valid UTF-8.
 */
export function validUtf8Prefix(bytes: Uint8Array, from: number, to: number): number {
  // Find the last lead byte among the final three; if its character is cut short, validate up to it.
  let lead = to - 1;
  while (lead >= from && lead > to - 4 && (bytes[lead]! & 0xc0) === 0x80) lead--;
  let boundary = to;
  if (lead >= from && lead > to - 4) {
    const need = utf8Length(bytes[lead]!);
    if (need > to - lead) {
      if (lead + 1 < to && !validSecondByte(bytes[lead]!, bytes[lead + 1]!)) return -1;
      boundary = lead;
    }
  }
  return isValidUtf8(bytes, from, boundary) ? boundary : -1;
}

/** The length of the character a lead byte starts; 1 for bytes that cannot lead (isUtf8 then rejects them). */
function utf8Length(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 1;
}

/** The second byte's range depends on the lead: no overlong forms, no surrogates, nothing past U+10FFFF. */
function validSecondByte(lead: number, second: number): boolean {
  if (lead === 0xe0) return second >= 0xa0 && second <= 0xbf;
  if (lead === 0xed) return second >= 0x80 && second <= 0x9f;
  if (lead === 0xf0) return second >= 0x90 && second <= 0xbf;
  if (lead === 0xf4) return second >= 0x80 && second <= 0x8f;
  return second >= 0x80 && second <= 0xbf;
}
