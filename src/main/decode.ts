// Turns event records into the values the consumer APIs hand out.

import {
  DataFlag,
  HDR_FLAGS_U8,
  HDR_KIND_U8,
  HDR_LENGTH_U32,
  OPEN_ADDRESS,
  OPEN_ADDRESS_LENGTH_U8,
  OPEN_FAMILY_U8,
  OPEN_LOCAL_PORT_U16,
  OPEN_REMOTE_PORT_U16,
  OpenFlag,
  RECORD_HEADER_BYTES,
  RecordKind,
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
      const request = JSON.parse(json) as { path?: unknown; headers?: unknown };
      if (typeof request.path === 'string') info.path = request.path;
      if (typeof request.headers === 'object' && request.headers !== null) info.headers = request.headers as Record<string, string>;
    } catch {
      // Left out: the open still says where the connection comes from.
    }
  }
  return info;
}

/**
 * Whether a data event's view holds a text message (the protocol delivered
 * it as text). The view is the payload of a DATA record in an event ring,
 * so its record header is the 16 bytes before it; the header is read only
 * when it is that record's (kind DATA, the view's length), else the answer
 * is false. (The dispatcher hands over the view, not the record's flags.)
 */
export class TextFlags {
  /** Views of each event ring's buffer, made once per ring. */
  readonly #views = new Map<ArrayBufferLike, { bytes: Uint8Array; words: Uint32Array }>();

  isText(view: Uint8Array): boolean {
    const at = view.byteOffset - RECORD_HEADER_BYTES;
    if (at < 0 || (at & 3) !== 0) return false;
    const buffer = view.buffer;
    let ring = this.#views.get(buffer);
    if (ring === undefined) {
      ring = { bytes: new Uint8Array(buffer), words: new Uint32Array(buffer, 0, buffer.byteLength >>> 2) };
      this.#views.set(buffer, ring);
    }
    const { bytes, words } = ring;
    return (
      bytes[at + HDR_KIND_U8] === RecordKind.DATA && words[(at + HDR_LENGTH_U32) >> 2] === view.length && (bytes[at + HDR_FLAGS_U8]! & DataFlag.TEXT) !== 0
    );
  }
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
