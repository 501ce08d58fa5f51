import { type FrameSink, type Framer, PushResult } from './framer.ts';

/** Chunks as read, cut to at most maxFrameBytes each. */
export class RawFramer implements Framer {
  readonly #max: number;
  readonly #sink: FrameSink;

  constructor(maxFrameBytes: number, sink: FrameSink) {
    this.#max = maxFrameBytes;
    this.#sink = sink;
  }

  push(slot: number, chunk: Uint8Array): PushResult {
    if (chunk.length <= this.#max) {
      this.#sink(slot, chunk);
      return PushResult.OK;
    }
    for (let start = 0; start < chunk.length; start += this.#max) {
      this.#sink(slot, chunk.subarray(start, Math.min(chunk.length, start + this.#max)));
    }
    return PushResult.OK;
  }

  reset(): void {}

  partialBytes(): number {
    return 0;
  }
}
