// A protocol host in one thread, for testing the RESP framer and the pub/sub
// protocol as parts: it records what the protocol delivers, writes and
// closes, and, as the worker's host does, ignores a slot's calls once the
// protocol has closed it. Also RESP helpers the pub/sub tests share.

import type { ProtocolCloseReason, ProtocolHost } from '../../src/main/index.ts';

export interface SeenClose {
  reason: ProtocolCloseReason;
  finalBytes: Buffer | undefined;
}

export class RecordingHost implements ProtocolHost {
  readonly maxFrameBytes: number;
  readonly slotCount: number;
  readonly delivered = new Map<number, Buffer[]>();
  readonly written = new Map<number, Buffer[]>();
  readonly closed = new Map<number, SeenClose>();

  constructor(maxFrameBytes = 1024 * 1024, slotCount = 64) {
    this.maxFrameBytes = maxFrameBytes;
    this.slotCount = slotCount;
  }

  deliver(slot: number, message: Uint8Array): void {
    if (this.closed.has(slot)) return;
    if (message.length > this.maxFrameBytes) {
      this.close(slot, 'frame-too-large');
      return;
    }
    push(this.delivered, slot, Buffer.from(message));
  }

  write(slot: number, bytes: Uint8Array): void {
    if (!this.closed.has(slot)) push(this.written, slot, Buffer.from(bytes));
  }

  close(slot: number, reason: ProtocolCloseReason, finalBytes?: Uint8Array): void {
    if (!this.closed.has(slot)) this.closed.set(slot, { reason, finalBytes: finalBytes === undefined ? undefined : Buffer.from(finalBytes) });
  }

  open(): void {}
  setTimer(): void {}
  clearTimer(): void {}

  deliveredTo(slot: number): Buffer[] {
    return this.delivered.get(slot) ?? [];
  }

  writtenTo(slot: number): Buffer {
    return Buffer.concat(this.written.get(slot) ?? []);
  }
}

function push(map: Map<number, Buffer[]>, slot: number, bytes: Buffer): void {
  const list = map.get(slot);
  if (list === undefined) map.set(slot, [bytes]);
  else list.push(bytes);
}

/** A request as clients send it: an array of bulk strings. */
export function command(...args: Array<string | Uint8Array>): Buffer {
  const parts = args.map((arg) => (typeof arg === 'string' ? Buffer.from(arg, 'latin1') : Buffer.from(arg)));
  return Buffer.concat([Buffer.from(`*${parts.length}\r\n`), ...parts.flatMap((p) => [Buffer.from(`$${p.length}\r\n`), p, Buffer.from('\r\n')])]);
}

/** Bytes of an encode() result, whatever its shape. */
export function joined(encoded: Uint8Array | readonly Uint8Array[]): Buffer {
  return Array.isArray(encoded) ? Buffer.concat(encoded as readonly Uint8Array[]) : Buffer.from(encoded as Uint8Array);
}
