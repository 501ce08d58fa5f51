import { type FrameSink, type Framer, PushResult } from './framer.ts';
import { Partial, REFUSED } from './partial-frame.ts';

/**
 * Frames end with a delimiter of one or more bytes; the delimiter is kept at
 * the end of the frame or stripped. maxFrameBytes counts the delimiter.
 */
export class DelimiterFramer implements Framer {
  readonly #delimiter: Uint8Array;
  readonly #keep: boolean;
  readonly #max: number;
  readonly #sink: FrameSink;
  readonly #partials = new Map<number, Partial>();
  readonly #bridge: Uint8Array;

  constructor(delimiter: Uint8Array, keepDelimiter: boolean, maxFrameBytes: number, sink: FrameSink) {
    this.#delimiter = delimiter;
    this.#keep = keepDelimiter;
    this.#max = maxFrameBytes;
    this.#sink = sink;
    this.#bridge = new Uint8Array(2 * delimiter.length);
  }

  push(slot: number, chunk: Uint8Array): PushResult {
    let start = 0;
    const partial = this.#partials.get(slot);
    if (partial === REFUSED) return PushResult.FRAME_TOO_LARGE;
    if (partial !== undefined) {
      const end = this.#firstEndAfter(partial, chunk);
      if (end < 0) {
        if (partial.length + chunk.length >= this.#max) return this.#oversize(slot);
        partial.append(chunk);
        return PushResult.OK;
      }
      if (partial.length + end > this.#max) return this.#oversize(slot);
      partial.append(chunk.subarray(0, end));
      this.#partials.delete(slot);
      this.#emit(slot, partial.bytes, 0, partial.length);
      start = end;
    }
    const delimiter = this.#delimiter;
    for (;;) {
      const at = indexOf(chunk, delimiter, start);
      if (at < 0) break;
      const end = at + delimiter.length;
      if (end - start > this.#max) return this.#oversize(slot);
      this.#emit(slot, chunk, start, end);
      start = end;
    }
    if (start < chunk.length) {
      if (chunk.length - start >= this.#max) return this.#oversize(slot);
      this.#partials.set(slot, new Partial(chunk.subarray(start)));
    }
    return PushResult.OK;
  }

  reset(slot: number): void {
    this.#partials.delete(slot);
  }

  #oversize(slot: number): PushResult {
    this.#partials.set(slot, REFUSED);
    return PushResult.FRAME_TOO_LARGE;
  }

  partialBytes(slot: number): number {
    return this.#partials.get(slot)?.length ?? 0;
  }

  #emit(slot: number, bytes: Uint8Array, start: number, end: number): void {
    this.#sink(slot, bytes.subarray(start, this.#keep ? end : end - this.#delimiter.length));
  }

  /**
   * Where in `chunk` the first delimiter ends, counting a delimiter that
   * begins in the partial frame and ends in the chunk; -1 when none does.
   */
  #firstEndAfter(partial: Partial, chunk: Uint8Array): number {
    const d = this.#delimiter.length;
    if (d > 1) {
      const carried = Math.min(d - 1, partial.length);
      const taken = Math.min(d - 1, chunk.length);
      const bridge = this.#bridge;
      bridge.set(partial.bytes.subarray(partial.length - carried, partial.length), 0);
      bridge.set(chunk.subarray(0, taken), carried);
      const at = indexOf(bridge.subarray(0, carried + taken), this.#delimiter, 0);
      if (at >= 0) return at + d - carried;
    }
    const at = indexOf(chunk, this.#delimiter, 0);
    return at < 0 ? -1 : at + d;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  if (needle.length === 1) return haystack.indexOf(needle[0]!, from);
  return Buffer.prototype.indexOf.call(haystack, needle, from);
}
