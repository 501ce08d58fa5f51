// Reading paused because the event ring is full. A socket whose frame had
// to wait in the outbox's stash stops reading, so TCP flow control pushes
// back on its client; once the stash is over its limit every socket of the
// worker stops; when the stash has drained, all of them read again. The
// outbox decides when (see event-outbox.ts, which also states the stash's
// bound); this is the per-socket side.

import { StatField } from '../shared/stats.ts';
import { type ConnectionTable, SlotFlag } from './connection-table.ts';

export class ReadPauses {
  readonly #table: ConnectionTable;
  readonly #stats: Float64Array;
  /** Slots paused since the last resume; a slot may have closed since. */
  readonly #paused: number[] = [];

  constructor(table: ConnectionTable, stats: Float64Array) {
    this.#table = table;
    this.#stats = stats;
  }

  /** Stops reading from the socket in `slot` until resumeAll(). */
  pause(slot: number): void {
    const table = this.#table;
    if ((table.flags[slot]! & SlotFlag.PAUSED_BY_RING) !== 0) return;
    table.flags[slot]! |= SlotFlag.PAUSED_BY_RING;
    table.sockets[slot]!.pause();
    this.#paused.push(slot);
    this.#stats[StatField.PAUSED_READS]!++;
  }

  /** The stash is over its limit: no socket of this worker may read until it drains. */
  pauseAll(): void {
    const table = this.#table;
    for (let slot = 0; slot < table.highWater; slot++) {
      if (table.sockets[slot] !== undefined) this.pause(slot);
    }
  }

  /** The stash has drained: every paused socket reads again. */
  resumeAll(): void {
    const table = this.#table;
    for (const slot of this.#paused) {
      if ((table.flags[slot]! & SlotFlag.PAUSED_BY_RING) === 0) continue;
      table.flags[slot]! &= ~SlotFlag.PAUSED_BY_RING;
      table.sockets[slot]?.resume();
    }
    this.#paused.length = 0;
  }
}
