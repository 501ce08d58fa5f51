// Reading paused because the event ring is full. A socket whose frame had
// to wait in the outbox's stash stops reading, so TCP flow control pushes
// back on its client; once the stash is over its limit every socket of the
// worker stops; when the stash has drained, all of them read again. The
// outbox decides when (see event-outbox.ts, which also states the stash's
// bound); this is the per-socket side.
//
// socket.pause() alone does not stop a net.Socket reading: its stream only
// stops emitting, and libuv goes on reading into the stream's buffer until
// readableHighWaterMark (64 KiB). With thousands of paused sockets that is
// 64 KiB each held in the worker (hundreds of MiB), read while the worker
// should be waiting for ring space. So a pause also stops the handle, and a
// resume starts it again, as net.Socket's own pause() and resume() do for
// sockets read with `onread`. A socket paused from inside its own 'data'
// callback may still take one more read: Node has scheduled it already.

import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { StatField } from '../shared/stats.ts';
import { type ConnectionTable, SlotFlag } from './connection-table.ts';

/** The libuv stream under a net.Socket (its internal `_handle`), as net.Socket's pause() and resume() use it. */
interface StreamHandle {
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

type HandleSocket = Socket & { _handle?: StreamHandle | null };

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
    const socket = table.sockets[slot]! as HandleSocket;
    socket.pause();
    const handle = socket._handle;
    if (handle?.reading && !socket.destroyed) {
      handle.reading = false;
      handle.readStop();
    }
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
    for (const slot of this.#paused) this.resume(slot);
    this.#paused.length = 0;
  }

  /** The socket in `slot` reads again, if the ring paused it (shutdown resumes each one). */
  resume(slot: number): void {
    const table = this.#table;
    if ((table.flags[slot]! & SlotFlag.PAUSED_BY_RING) === 0) return;
    table.flags[slot]! &= ~SlotFlag.PAUSED_BY_RING;
    const socket = table.sockets[slot] as HandleSocket | undefined;
    if (socket === undefined) return;
    const handle = socket._handle;
    if (handle && !handle.reading && !socket.destroyed) {
      handle.reading = true;
      const error = handle.readStart();
      if (error < 0)
        socket.destroy(Object.assign(new Error(`read ${getSystemErrorName(error)}`), { errno: error, code: getSystemErrorName(error), syscall: 'read' }));
    }
    socket.resume();
  }
}
