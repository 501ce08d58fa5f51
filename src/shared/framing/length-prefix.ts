// Length-prefixed frames: a 1, 2, 4 or 8-byte unsigned length header, big- or
// little-endian, counting the payload only or the header too (the common
// wire formats; Netty's LengthFieldBasedFrameDecoder covers the same ground).
// maxFrameBytes bounds the whole frame on the wire, header included, and is
// checked as soon as the header is complete, so a header announcing 2^32
// bytes costs nothing but the close.

import { type FrameSink, type Framer, type LengthPrefixSpec, PushResult } from './framer.ts';
import { FlamingoError } from '../errors.ts';
import { Partial, REFUSED } from './partial-frame.ts';

/** Reads the header at `at` and returns the frame's size on the wire, or -1 when it cannot be valid. */
function frameSize(spec: LengthPrefixSpec, bytes: Uint8Array, at: number): number {
  const n = spec.lengthBytes;
  let length = 0;
  if (spec.littleEndian) {
    for (let i = n - 1; i >= 0; i--) length = length * 256 + bytes[at + i]!;
  } else {
    for (let i = 0; i < n; i++) length = length * 256 + bytes[at + i]!;
  }
  // Above 2^53 the double is inexact, but anything that large is over every limit anyway.
  if (spec.lengthIncludesHeader) return length < n ? -1 : length;
  return length + n;
}

export class LengthPrefixFramer implements Framer {
  readonly #spec: LengthPrefixSpec;
  readonly #max: number;
  readonly #sink: FrameSink;
  readonly #partials = new Map<number, Partial>();

  constructor(spec: LengthPrefixSpec, maxFrameBytes: number, sink: FrameSink) {
    this.#spec = spec;
    this.#max = maxFrameBytes;
    this.#sink = sink;
  }

  push(slot: number, chunk: Uint8Array): PushResult {
    const header = this.#spec.lengthBytes;
    let at = 0;
    const partial = this.#partials.get(slot);
    if (partial === REFUSED) return PushResult.FRAME_TOO_LARGE;
    if (partial !== undefined) {
      if (partial.length < header) {
        const take = Math.min(header - partial.length, chunk.length);
        partial.append(chunk.subarray(0, take));
        at = take;
        if (partial.length < header) return PushResult.OK;
      }
      const size = frameSize(this.#spec, partial.bytes, 0);
      const refused = this.#check(slot, size);
      if (refused !== PushResult.OK) return refused;
      partial.reserve(size);
      const take = Math.min(size - partial.length, chunk.length - at);
      partial.append(chunk.subarray(at, at + take));
      at += take;
      if (partial.length < size) return PushResult.OK;
      this.#partials.delete(slot);
      this.#emit(slot, partial.bytes, 0, size);
    }
    while (at < chunk.length) {
      if (chunk.length - at < header) {
        this.#partials.set(slot, new Partial(chunk.subarray(at), header));
        return PushResult.OK;
      }
      const size = frameSize(this.#spec, chunk, at);
      const refused = this.#check(slot, size);
      if (refused !== PushResult.OK) return refused;
      if (chunk.length - at < size) {
        // The frame's size is known and within the limit: allocate it once.
        this.#partials.set(slot, new Partial(chunk.subarray(at), size));
        return PushResult.OK;
      }
      this.#emit(slot, chunk, at, at + size);
      at += size;
    }
    return PushResult.OK;
  }

  reset(slot: number): void {
    this.#partials.delete(slot);
  }

  partialBytes(slot: number): number {
    return this.#partials.get(slot)?.length ?? 0;
  }

  #check(slot: number, size: number): PushResult {
    if (size >= 0 && size <= this.#max) return PushResult.OK;
    this.#partials.set(slot, REFUSED);
    return size < 0 ? PushResult.BAD_HEADER : PushResult.FRAME_TOO_LARGE;
  }

  #emit(slot: number, bytes: Uint8Array, start: number, end: number): void {
    this.#sink(slot, bytes.subarray(this.#spec.keepHeader ? start : start + this.#spec.lengthBytes, end));
  }
}

/** Frames `payload` for the wire in the given length-prefix format: one copy, header first. */
export function encodeLengthPrefixed(spec: Omit<LengthPrefixSpec, 'kind' | 'keepHeader'>, payload: Uint8Array): Buffer {
  const n = spec.lengthBytes;
  let length = spec.lengthIncludesHeader ? payload.length + n : payload.length;
  if (n < 8 && length >= 2 ** (8 * n)) {
    throw new FlamingoError(
      'ERR_FLAMINGO_INVALID_PAYLOAD',
      `a payload of ${payload.length} bytes does not fit a ${n}-byte length header (at most ${2 ** (8 * n) - 1 - (spec.lengthIncludesHeader ? n : 0)} bytes)`,
    );
  }
  const frame = Buffer.allocUnsafe(n + payload.length);
  for (let i = 0; i < n; i++) {
    frame[spec.littleEndian ? i : n - 1 - i] = length % 256;
    length = Math.floor(length / 256);
  }
  frame.set(payload, n);
  return frame;
}
