// A doorbell: the word one consumer sleeps on, rung by the producers of all
// the rings it consumes (a consumer drains several rings but waits on one
// word).
//
// Layout (Int32 words, 64 bytes, its own cache line):
//   word 0  BELL   producers increment, the consumer waits on it
//   word 1  ENDED  set once by the server when no more records will come
//
// Why parking on it loses no wake-up is argued once, at the top of
// ring-consumer.ts, next to the park protocol itself.

export const DOORBELL_BYTES = 64;
const BELL = 0;
const ENDED = 1;

export function createDoorbellStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(DOORBELL_BYTES);
}

export class Doorbell {
  readonly storage: SharedArrayBuffer;
  readonly #words: Int32Array;

  constructor(storage: SharedArrayBuffer) {
    this.storage = storage;
    this.#words = new Int32Array(storage, 0, DOORBELL_BYTES / 4);
  }

  ring(): void {
    Atomics.add(this.#words, BELL, 1);
    Atomics.notify(this.#words, BELL);
  }

  read(): number {
    return Atomics.load(this.#words, BELL);
  }

  /**
   * Resolves once the bell no longer reads `value`. Does not keep an event
   * loop alive. No timeout on purpose: Node keeps a timer for every timed
   * waitAsync until it expires, even after a wake-up, and a park path with
   * timeouts stalled for seconds in the ring benchmark.
   */
  waitAsync(value: number): Promise<unknown> {
    const result = Atomics.waitAsync(this.#words, BELL, value);
    return result.async ? result.value : Promise.resolve();
  }

  /** Blocks the calling thread until the bell changes or `timeoutMs` passes. */
  waitSync(value: number, timeoutMs: number): void {
    Atomics.wait(this.#words, BELL, value, timeoutMs);
  }

  /** Marks the stream ended (no record will follow) and wakes the consumer. */
  end(): void {
    Atomics.store(this.#words, ENDED, 1);
    this.ring();
  }

  get ended(): boolean {
    return Atomics.load(this.#words, ENDED) !== 0;
  }
}
