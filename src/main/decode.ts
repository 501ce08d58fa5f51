// Turns event records into the values the consumer APIs hand out.

import {
  CLOSE_PROTOCOL_CODE_BYTES,
  CLOSE_PROTOCOL_CODE_U16,
  OPEN_ADDRESS,
  OPEN_ADDRESS_LENGTH_U8,
  OPEN_FAMILY_U8,
  OPEN_LOCAL_PORT_U16,
  OPEN_REMOTE_PORT_U16,
  OpenFlag,
  type CloseReason,
} from '../shared/records.ts';
import type { RingReader } from '../shared/ring.ts';

/** Where a connection comes from: what the Go original handed out as net.Conn; and what its protocol's handshake learnt. */
export interface OpenInfo {
  /** The peer's IP address. */
  address: string;
  /** The peer's port. */
  port: number;
  /** 4 or 6. */
  family: 4 | 6;
  /** The server port it connected to. */
  localPort: number;
  /** The request path with its query, when the protocol's handshake had one (a WebSocket upgrade). */
  path?: string;
  /** The request headers the protocol passes on (lower-case names), when its handshake had them. */
  headers?: Record<string, string>;
  /** The subprotocol the handshake agreed on (a WebSocket's `Sec-WebSocket-Protocol`), when it agreed on one. */
  protocol?: string;
}

export function decodeOpen(reader: RingReader): OpenInfo {
  const bytes = reader.bytes;
  const at = reader.offset;
  const length = bytes[at + OPEN_ADDRESS_LENGTH_U8]!;
  const start = at + OPEN_ADDRESS;
  const address = length <= 15 ? asciiShort(bytes, start, length) : Buffer.from(bytes.buffer, bytes.byteOffset + start, length).toString('latin1');
  const info: OpenInfo = {
    address,
    port: (bytes[at + OPEN_REMOTE_PORT_U16]! << 8) | bytes[at + OPEN_REMOTE_PORT_U16 + 1]!,
    family: bytes[at + OPEN_FAMILY_U8] === 6 ? 6 : 4,
    localPort: (bytes[at + OPEN_LOCAL_PORT_U16]! << 8) | bytes[at + OPEN_LOCAL_PORT_U16 + 1]!,
  };
  if ((reader.flags & OpenFlag.REQUEST) !== 0) {
    // The worker wrote it from a checked object; still, a record is not trusted to parse.
    const json = Buffer.from(bytes.buffer, bytes.byteOffset + start + length, reader.length - OPEN_ADDRESS - length).toString('utf8');
    try {
      const request = JSON.parse(json) as { path?: unknown; headers?: unknown; protocol?: unknown };
      if (typeof request.path === 'string') info.path = request.path;
      if (typeof request.headers === 'object' && request.headers !== null) info.headers = request.headers as Record<string, string>;
      if (typeof request.protocol === 'string') info.protocol = request.protocol;
    } catch {
      // Left out: the open still says where the connection comes from.
    }
  }
  return info;
}

/** A close as pulls and pipelines hand it out: `code` only when the protocol gave one. */
export function closeValue(id: number, reason: CloseReason, code: number | undefined): { id: number; reason: CloseReason; code?: number } {
  return code === undefined ? { id, reason } : { id, reason, code };
}

/** A CLOSE record's protocol close code (a WebSocket close code), or undefined when its protocol gave none. */
export function protocolCloseCode(reader: RingReader): number | undefined {
  if (reader.length < CLOSE_PROTOCOL_CODE_BYTES) return undefined;
  const at = reader.offset + CLOSE_PROTOCOL_CODE_U16;
  return reader.bytes[at]! | (reader.bytes[at + 1]! << 8);
}

function asciiShort(bytes: Uint8Array, start: number, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += String.fromCharCode(bytes[start + i]!);
  return text;
}

/** Copies a view out of the ring: the way to keep data past the handler. */
export function copyBytes(view: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafe(view.length);
  copy.set(view);
  return copy;
}
