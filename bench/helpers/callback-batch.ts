// One batch at a time of records that arrive through callbacks (a
// MessagePort's messages, the Dispatcher's data events): take() checks each
// record's order and sums its last byte; the batch resolves at its last
// record and fails on a timeout, a bad record or a failed producer.

import { checkSum, outOfOrder } from './payload-check.ts';
import type { ProducerThread } from './producer-thread.ts';
import { formatSize } from './report.ts';

/** Runs one batch at a time whose records arrive through callbacks (postMessage, the Dispatcher). */
export class CallbackBatch {
  readonly #timeoutMs: number;
  #count = 0;
  #received = 0;
  #sum = 0;
  #payloadBytes = 0;
  #label = '';
  #timer: NodeJS.Timeout | undefined;
  #resolve: (() => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;

  /** A batch not complete after `timeoutMs` fails. */
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Calls `start` to begin a batch of `count` records; resolves when take() has seen them all. */
  run(label: string, source: ProducerThread, count: number, payloadBytes: number, start: () => void): Promise<void> {
    this.#label = label;
    this.#count = count;
    this.#received = 0;
    this.#sum = 0;
    this.#payloadBytes = payloadBytes;
    return new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      this.#timer = setTimeout(() => {
        try {
          source.check();
          this.fail(new Error(`${label} ${formatSize(payloadBytes)}: batch timed out at ${this.#received}/${count}`));
        } catch (error) {
          this.fail(error);
        }
      }, this.#timeoutMs);
      start();
    });
  }

  /** One record's payload; throws (and fails the batch) when it is out of order. */
  take(payload: Uint8Array): void {
    if (this.#resolve === undefined) throw new Error(`${this.#label}: a record arrived outside any batch`);
    const first = payload[0]!;
    if (first !== (this.#received & 0xff)) {
      const error = outOfOrder(this.#received, first);
      this.fail(error);
      throw error;
    }
    this.#sum += payload[payload.length - 1]!;
    if (++this.#received < this.#count) return;
    const resolve = this.#resolve;
    const reject = this.#reject!;
    this.#settle();
    try {
      checkSum(this.#label, this.#sum, this.#count, this.#payloadBytes);
      resolve();
    } catch (error) {
      reject(error);
    }
  }

  fail(error: unknown): void {
    const reject = this.#reject;
    this.#settle();
    reject?.(error);
  }

  #settle(): void {
    clearTimeout(this.#timer);
    this.#resolve = undefined;
    this.#reject = undefined;
  }
}
