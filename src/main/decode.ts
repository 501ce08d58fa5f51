// Turns event records into the values the consumer APIs hand out.

import { OPEN_ADDRESS, OPEN_ADDRESS_LENGTH_U8, OPEN_FAMILY_U8, OPEN_LOCAL_PORT_U16, OPEN_REMOTE_PORT_U16 } from '../shared/records.ts';
import type { RingReader } from '../shared/ring.ts';

/** Where a connection comes from: what the Go original handed out as net.Conn. */
export interface OpenInfo {
  /** The peer's IP address. */
  address: string;
  /** The peer's port. */
  port: number;
  /** 4 or 6. */
  family: 4 | 6;
  /** The server port it connected to. */
  localPort: number;
}

export function decodeOpen(reader: RingReader): OpenInfo {
  const bytes = reader.bytes;
  const at = reader.offset;
  const length = bytes[at + OPEN_ADDRESS_LENGTH_U8]!;
  const start = at + OPEN_ADDRESS;
  const address = length <= 15 ? asciiShort(bytes, start, length) : Buffer.from(bytes.buffer, bytes.byteOffset + start, length).toString('latin1');
  return {
    address,
    port: (bytes[at + OPEN_REMOTE_PORT_U16]! << 8) | bytes[at + OPEN_REMOTE_PORT_U16 + 1]!,
    family: bytes[at + OPEN_FAMILY_U8] === 6 ? 6 : 4,
    localPort: (bytes[at + OPEN_LOCAL_PORT_U16]! << 8) | bytes[at + OPEN_LOCAL_PORT_U16 + 1]!,
  };
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
