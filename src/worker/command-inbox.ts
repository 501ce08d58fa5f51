// The I/O worker's side of its command rings: one ring per producer thread,
// all ringing this worker's doorbell, consumed through the shared
// RingConsumer; this class is the switch on command kind. Commands are
// drained when the doorbell rings and also after every batch of socket
// callbacks (a busy worker would otherwise act on commands only as fast as
// waitAsync wakes it).
//
// Bytes to send are copied out of the ring before they go to a socket:
// libuv keeps a raw pointer to what the kernel has not taken yet, so a view
// into the ring would be overwritten under it.

import type { Doorbell } from '../shared/doorbell.ts';
import { idGeneration, idSlot } from '../shared/id.ts';
import { RecordKind, SEND_MANY_COUNT_U32, SEND_MANY_IDS, SendFlag } from '../shared/records.ts';
import type { Socket } from 'node:net';
import type { RingReader } from '../shared/ring.ts';
import { RingConsumer } from '../shared/ring-consumer.ts';
import { StatField } from '../shared/stats.ts';
import type { ConnectionTable } from './connection-table.ts';

/** What the worker does with a command for a live connection. */
export interface ConnectionActions {
  /**
   * Writes one message, in one or more pieces (copies the socket may keep), to
   * the connection in `slot`; `text`: the application sent it as a string.
   */
  write(slot: number, socket: Socket, pieces: Buffer | readonly Buffer[], length: number, text: boolean): void;
  /** Closes the connection in `slot` after flushing what was written: reason 'local'. */
  close(slot: number, socket: Socket): void;
  /** The consumer has seen the close of a half-closed connection: end its write side once flushed. */
  release(slot: number, socket: Socket): void;
}

/** A send larger than one record, gathered piece by piece (pieces of one message are contiguous in their ring). */
interface GatheredMessage {
  id: number;
  pieces: Buffer[];
  length: number;
  text: boolean;
}

export class CommandInbox {
  readonly #rings: RingConsumer;
  readonly #table: ConnectionTable;
  readonly #stats: Float64Array;
  readonly #actions: ConnectionActions;
  /** Per ring: the message whose pieces are arriving, if any. */
  readonly #gathering: (GatheredMessage | undefined)[] = [];

  constructor(bell: Doorbell, rings: readonly SharedArrayBuffer[], table: ConnectionTable, stats: Float64Array, actions: ConnectionActions) {
    this.#table = table;
    this.#stats = stats;
    this.#actions = actions;
    this.#rings = new RingConsumer(bell, rings, { handle: (reader, ring) => this.#execute(reader, ring) });
  }

  /** Starts acting on commands as they arrive. */
  start(): void {
    this.#rings.start();
  }

  /** Adds another producer thread's ring. */
  add(storage: SharedArrayBuffer): void {
    this.#rings.add(storage);
  }

  /** Acts on every command waiting in any ring. */
  drain(): void {
    this.#rings.drain();
  }

  /** A cheap look from the socket path: drains only when something waits. */
  poll(): void {
    this.#rings.poll();
  }

  /** Stops waiting for commands (the worker is ending). */
  close(): void {
    this.#rings.stop();
  }

  #execute(reader: RingReader, ring: number): void {
    switch (reader.kind) {
      case RecordKind.SEND:
        if ((reader.flags & SendFlag.CONTINUES) !== 0 || this.#gathering[ring] !== undefined) this.#gather(reader, ring);
        else this.#send(reader.id, reader.bytes, reader.offset, reader.length, (reader.flags & SendFlag.TEXT) !== 0);
        break;
      case RecordKind.SEND_MANY:
        this.#sendMany(reader);
        break;
      case RecordKind.CLOSE_CONN:
        this.#close(reader.id);
        break;
      case RecordKind.RELEASE:
        this.#release(reader.id);
        break;
      default:
        // A record kind this worker does not know: skip it, never crash.
        break;
    }
  }

  #send(id: number, bytes: Uint8Array, offset: number, length: number, text: boolean): void {
    const slot = idSlot(id);
    const socket = this.#table.live(slot, idGeneration(id));
    if (socket === undefined) {
      this.#stats[StatField.STALE_SENDS]!++;
      return;
    }
    const copy = Buffer.allocUnsafe(length);
    copy.set(bytes.subarray(offset, offset + length));
    this.#actions.write(slot, socket, copy, length, text);
  }

  /**
   * One piece of a large send. The message is written only when its last
   * piece is here, so the slow-consumer policy judges it whole and a message
   * is delivered whole or not at all.
   */
  #gather(reader: RingReader, ring: number): void {
    let message = this.#gathering[ring];
    if (message === undefined) {
      message = { id: reader.id, pieces: [], length: 0, text: (reader.flags & SendFlag.TEXT) !== 0 };
      this.#gathering[ring] = message;
    }
    const piece = Buffer.allocUnsafe(reader.length);
    piece.set(reader.bytes.subarray(reader.offset, reader.offset + reader.length));
    message.pieces.push(piece);
    message.length += piece.length;
    if ((reader.flags & SendFlag.CONTINUES) !== 0) return;
    this.#gathering[ring] = undefined;
    const slot = idSlot(message.id);
    const socket = this.#table.live(slot, idGeneration(message.id));
    if (socket === undefined) {
      this.#stats[StatField.STALE_SENDS]!++;
      return;
    }
    this.#actions.write(slot, socket, message.pieces, message.length, message.text);
  }

  #sendMany(reader: RingReader): void {
    const count = new Uint32Array(reader.bytes.buffer, reader.bytes.byteOffset + reader.offset + SEND_MANY_COUNT_U32, 1)[0]!;
    const idsAt = reader.offset + SEND_MANY_IDS;
    const ids = new Float64Array(reader.bytes.buffer, reader.bytes.byteOffset + idsAt, count);
    const dataAt = idsAt + count * 8;
    const length = reader.length - SEND_MANY_IDS - count * 8;
    // One copy for every connection of this worker.
    const copy = Buffer.allocUnsafe(length);
    copy.set(reader.bytes.subarray(dataAt, dataAt + length));
    const text = (reader.flags & SendFlag.TEXT) !== 0;
    for (let i = 0; i < count; i++) {
      const id = ids[i]!;
      const slot = idSlot(id);
      const socket = this.#table.live(slot, idGeneration(id));
      if (socket === undefined) {
        this.#stats[StatField.STALE_SENDS]!++;
        continue;
      }
      this.#actions.write(slot, socket, copy, length, text);
    }
  }

  #close(id: number): void {
    const slot = idSlot(id);
    const socket = this.#table.live(slot, idGeneration(id));
    if (socket === undefined) {
      this.#stats[StatField.STALE_SENDS]!++;
      return;
    }
    this.#actions.close(slot, socket);
  }

  #release(id: number): void {
    const slot = idSlot(id);
    const socket = this.#table.current(slot, idGeneration(id));
    if (socket !== undefined) this.#actions.release(slot, socket);
  }
}
