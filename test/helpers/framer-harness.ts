// What the framer property tests share: cutting a stream into reads,
// collecting frames as the sink saw them, and feeding reads through a
// recycled buffer that is scribbled over after each push.

import fc from 'fast-check';
import { expect } from 'vitest';
import type { Framer, PushResult } from '../../src/shared/framing/index.ts';

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Cuts `stream` into reads at `cuts` (taken modulo its length), or one byte per read. */
export function splitAt(stream: Uint8Array, cuts: readonly number[], byteByByte: boolean): Uint8Array[] {
  if (stream.length === 0) return [];
  const points = byteByByte
    ? Array.from({ length: stream.length - 1 }, (_, i) => i + 1)
    : [...new Set(cuts.map((c) => 1 + (c % stream.length)))].filter((c) => c < stream.length).sort((a, b) => a - b);
  const reads: Uint8Array[] = [];
  let start = 0;
  for (const end of [...points, stream.length]) {
    reads.push(stream.subarray(start, end));
    start = end;
  }
  return reads;
}

export const splits = fc.record({
  // fast-check 4 keeps arrays to about 10 items unless told otherwise: ask for the whole range.
  cuts: fc.array(fc.nat(), { maxLength: 40, size: 'max' }),
  byteByByte: fc.boolean(),
});

/** Frames as the sink saw them, copied at once, per slot. */
export class Collector {
  readonly frames = new Map<number, Uint8Array[]>();
  readonly sink = (slot: number, frame: Uint8Array): void => {
    let list = this.frames.get(slot);
    if (list === undefined) this.frames.set(slot, (list = []));
    list.push(frame.slice());
  };
  of(slot: number): Uint8Array[] {
    return this.frames.get(slot) ?? [];
  }
  hexOf(slot: number): string[] {
    return this.of(slot).map(hex);
  }
  count(): number {
    let n = 0;
    for (const list of this.frames.values()) n += list.length;
    return n;
  }
}

/**
 * Pushes `read` through a recycled read buffer that is scribbled over as
 * soon as push returns, and checks that push left the read untouched.
 */
export class Feeder {
  #buffer = new Uint8Array(256);
  push(framer: Framer, slot: number, read: Uint8Array): PushResult {
    if (this.#buffer.length < read.length) this.#buffer = new Uint8Array(read.length * 2);
    const view = this.#buffer.subarray(0, read.length);
    view.set(read);
    const result = framer.push(slot, view);
    if (!same(view, read)) expect(hex(view), 'push must not modify the read').toBe(hex(read));
    this.#buffer.fill(0xee);
    return result;
  }
}
