// The consumer's own record of which ids are open, per worker, indexed by
// slot. A worker that dies cannot send the closes of its connections; the
// consumer can, from this table, when it reaches the WORKER_EXIT record the
// supervisor appends to that worker's ring. Keeping it on the consumer side
// (rather than trusting flags the dead worker may have half-written) makes
// the rule exact: a worker-exit close is sent for an id if and only if its
// open was delivered and its close was not.

import { CloseCode } from '../shared/records.ts';
import { StatField } from '../shared/stats.ts';
import { idSlot, idWorker } from '../shared/id.ts';

export class OpenTracker {
  readonly #slots: (Float64Array | undefined)[];
  readonly #highWater: number[];
  readonly #capacity: number;
  readonly #stats: readonly Float64Array[] | undefined;

  /**
   * `stats`: a view of each worker's whole stats block. The consumer is the
   * one writer of its WORKER_EXIT_CLOSES word (layout in stats.ts), so the
   * plain += below races with nobody, a replacement worker included.
   */
  constructor(workers: number, slotsPerWorker: number, stats?: readonly Float64Array[]) {
    this.#slots = new Array(workers).fill(undefined);
    this.#highWater = new Array(workers).fill(0);
    this.#capacity = slotsPerWorker;
    this.#stats = stats;
  }

  opened(id: number): void {
    const worker = idWorker(id);
    const slot = idSlot(id);
    const slots = (this.#slots[worker] ??= new Float64Array(this.#capacity));
    slots[slot] = id;
    if (slot >= this.#highWater[worker]!) this.#highWater[worker] = slot + 1;
  }

  closed(id: number): void {
    const slots = this.#slots[idWorker(id)];
    const slot = idSlot(id);
    if (slots !== undefined && slots[slot] === id) slots[slot] = 0;
  }

  /** True while `id`'s open was delivered and its close was not. */
  isOpen(id: number): boolean {
    return this.#slots[idWorker(id)]?.[idSlot(id)] === id;
  }

  /** Calls `close` for every id of `worker` still open, and forgets them. */
  workerExited(worker: number, close: (id: number, code: number) => void): number {
    const slots = this.#slots[worker];
    if (slots === undefined) return 0;
    let count = 0;
    for (let slot = 0; slot < this.#highWater[worker]!; slot++) {
      const id = slots[slot]!;
      if (id === 0) continue;
      slots[slot] = 0;
      count++;
      close(id, CloseCode['worker-exit']);
    }
    this.#highWater[worker] = 0;
    const stats = this.#stats?.[worker];
    if (stats !== undefined) stats[StatField.WORKER_EXIT_CLOSES]! += count;
    return count;
  }
}
