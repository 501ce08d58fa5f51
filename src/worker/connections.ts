// Every connection of a worker, from its open event to its one close event:
// the socket handlers, framing, writes under the slowConsumer policy, and
// the ways a connection ends (the peer's FIN, a local close, a limit, a
// timeout, shutdown), each reported once with the reason decided first.
//
// Per connection at rest: the socket, a few typed-array entries (table,
// timing wheel) and no closure or timer: the socket handlers are functions
// made once per worker, shared by every socket, that find their slot
// through a symbol property.

import type { Socket } from 'node:net';
import { type Framer, PushResult } from '../shared/framing/index.ts';
import { encodeId } from '../shared/id.ts';
import type { ResolvedOptions } from '../shared/options.ts';
import { CloseCode, CloseFlag } from '../shared/records.ts';
import { StatField, closedField } from '../shared/stats.ts';
import type { CloseDeadlines } from './close-deadlines.ts';
import { type ConnectionTable, SlotFlag } from './connection-table.ts';
import type { EventOutbox } from './event-outbox.ts';
import type { ReadPauses } from './read-pauses.ts';
import { Expiry, type TimingWheel } from './timing-wheel.ts';

const kSlot = Symbol('flamingo.slot');
type SlottedSocket = Socket & { [kSlot]: number };

export interface ConnectionParts {
  options: ResolvedOptions;
  /** This worker's index, part of every id it gives out. */
  worker: number;
  table: ConnectionTable;
  outbox: EventOutbox;
  stats: Float64Array;
  framer: Framer;
  /** Idle and incomplete-frame timeouts; absent when neither is configured. */
  wheel: TimingWheel | undefined;
  closeDeadlines: CloseDeadlines;
  readPauses: ReadPauses;
  /** A socket is gone: its place under maxConnections is free again (the acceptor's). */
  releasePlace: () => void;
}

export class Connections {
  readonly #options: ResolvedOptions;
  readonly #worker: number;
  readonly #table: ConnectionTable;
  readonly #outbox: EventOutbox;
  readonly #stats: Float64Array;
  readonly #framer: Framer;
  readonly #wheel: TimingWheel | undefined;
  /** The wheel runs a frame clock: data handling must tell it when frames begin and end. */
  readonly #clocksFrames: boolean;
  readonly #closeDeadlines: CloseDeadlines;
  readonly #readPauses: ReadPauses;
  readonly #releasePlace: () => void;
  /** Connections whose open event is written and whose close event is not. */
  #reportedOpen = 0;
  #allClosed: (() => void) | undefined;
  readonly #onData: (this: SlottedSocket, chunk: Buffer) => void;
  readonly #onEnd: (this: SlottedSocket) => void;
  readonly #onError: (this: SlottedSocket) => void;
  readonly #onClose: (this: SlottedSocket) => void;

  constructor(parts: ConnectionParts) {
    this.#options = parts.options;
    this.#worker = parts.worker;
    this.#table = parts.table;
    this.#outbox = parts.outbox;
    this.#stats = parts.stats;
    this.#framer = parts.framer;
    this.#wheel = parts.wheel;
    this.#clocksFrames = parts.wheel !== undefined && parts.options.framing.kind !== 'raw' && parts.options.frameTimeoutMs > 0;
    this.#closeDeadlines = parts.closeDeadlines;
    this.#readPauses = parts.readPauses;
    this.#releasePlace = parts.releasePlace;
    // A replacement worker starts with no connections of its own.
    this.#stats[StatField.OPEN_NOW] = 0;
    this.#stats[StatField.CLOSING_NOW] = 0;
    const connections = this;
    this.#onData = function (this: SlottedSocket, chunk: Buffer): void {
      connections.#data(this[kSlot], chunk);
    };
    this.#onEnd = function (this: SlottedSocket): void {
      connections.#peerEnded(this[kSlot]);
    };
    this.#onError = function (this: SlottedSocket): void {
      connections.#table.decideClose(this[kSlot], CloseCode.error);
    };
    this.#onClose = function (this: SlottedSocket): void {
      connections.#closed(this[kSlot]);
    };
  }

  /** Opens an admitted socket: false when the table is full (the acceptor then refuses it). */
  add(raw: Socket): boolean {
    const socket = raw as SlottedSocket;
    const table = this.#table;
    const o = this.#options;
    const slot = table.allocate(socket);
    if (slot < 0) return false;
    socket[kSlot] = slot;
    const id = encodeId(o.node, this.#worker, slot, table.generation(slot));
    table.ids[slot] = id;
    this.#stats[StatField.OPENED]!++;
    this.#stats[StatField.OPEN_NOW] = ++this.#reportedOpen;
    if (o.noDelay) socket.setNoDelay(true);
    if (o.keepAliveMs > 0) socket.setKeepAlive(true, o.keepAliveMs);
    this.#wheel?.add(slot);
    const family = socket.remoteFamily === 'IPv6' ? 6 : 4;
    this.#outbox.open(id, family, socket.remoteAddress ?? '', socket.remotePort ?? 0, socket.localPort ?? 0);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    // Events are waiting for ring space: a newcomer must not add a read to the
    // stash. It starts paused and resumes with the others once the stash drains.
    if (this.#outbox.stalled) this.#readPauses.pause(slot);
    return true;
  }

  /** The framer's sink: one whole frame of the connection in `slot`. */
  frame(slot: number, frame: Uint8Array): void {
    this.#stats[StatField.FRAMES_IN]!++;
    // The event ring is full: this socket stops reading until it drains.
    if (!this.#outbox.data(this.#table.ids[slot]!, frame)) this.#readPauses.pause(slot);
  }

  /**
   * Writes one message, whole: the slowConsumer policy judges the message as
   * a whole before any of it is written, so it is never cut.
   */
  write(slot: number, socket: Socket, pieces: Buffer | readonly Buffer[], length: number): void {
    if (socket.writableLength + length > this.#options.maxBufferedBytes) {
      // The client does not read fast enough; apply the slowConsumer policy.
      if (this.#options.slowConsumer === 'drop') {
        this.#stats[StatField.DROPPED_SENDS]!++;
        return;
      }
      this.closeNow(slot, CloseCode['slow-consumer']);
      return;
    }
    if (Array.isArray(pieces)) {
      socket.cork();
      for (const piece of pieces as readonly Buffer[]) socket.write(piece);
      socket.uncork();
    } else {
      socket.write(pieces as Buffer);
    }
    this.#stats[StatField.SENDS]!++;
    this.#stats[StatField.BYTES_OUT]! += length;
    this.#table.bytesOut[slot]! += length;
    if (this.#wheel !== undefined) this.#wheel.lastActive[slot] = this.#wheel.now;
  }

  /** Closes after flushing what was written, within closeTimeoutMs. */
  closeLocal(slot: number, socket: Socket): void {
    const table = this.#table;
    table.decideClose(slot, CloseCode.local);
    table.flags[slot]! |= SlotFlag.CLOSING;
    socket.destroySoon();
    this.#closeDeadlines.add(slot, table.generation(slot));
  }

  /** The consumer's RELEASE: end the write side of a half-closed connection once flushed. */
  endHalfClosed(slot: number, socket: Socket): void {
    const flags = this.#table.flags[slot]!;
    if ((flags & SlotFlag.HALF_CLOSED) === 0 || (flags & SlotFlag.CLOSING) !== 0) return;
    this.#table.flags[slot] = flags | SlotFlag.CLOSING;
    socket.destroySoon();
  }

  /** closeTimeoutMs passed and the socket is still here: destroy it and count what it never took. */
  closeDeadlinePassed(slot: number, generation: number): void {
    const socket = this.#table.current(slot, generation);
    if (socket === undefined) return;
    this.#stats[StatField.ABANDONED_BYTES]! += socket.writableLength;
    this.#table.flags[slot]! |= SlotFlag.CLOSING;
    socket.destroy();
  }

  /** Idle too long ('idle-timeout'), or an incomplete frame waited too long ('frame-timeout'). */
  expire(slot: number, why: number): void {
    this.closeNow(slot, why === Expiry.IDLE ? CloseCode['idle-timeout'] : CloseCode['frame-timeout']);
  }

  /** Closes at once, abandoning unsent bytes. */
  closeNow(slot: number, code: number): void {
    const socket = this.#table.sockets[slot];
    if (socket === undefined) return;
    this.#table.decideClose(slot, code);
    this.#table.flags[slot]! |= SlotFlag.CLOSING;
    socket.destroy();
  }

  /**
   * Shutdown: closes every connection with 'shutdown' after flushing what
   * was written; at drainMs, destroys what is left. Resolves with the bytes
   * abandoned then, once every socket is gone.
   */
  async closeAll(drainMs: number): Promise<number> {
    const table = this.#table;
    const closed = new Promise<void>((resolve) => {
      this.#allClosed = resolve;
      if (table.open === 0) resolve();
    });
    for (let slot = 0; slot < table.highWater; slot++) {
      const socket = table.sockets[slot];
      if (socket === undefined) continue;
      table.decideClose(slot, CloseCode.shutdown);
      table.flags[slot]! |= SlotFlag.CLOSING;
      this.#readPauses.resume(slot);
      socket.destroySoon();
    }
    let abandonedBytes = 0;
    const timer = setTimeout(() => {
      for (const socket of table.sockets) {
        if (socket === undefined) continue;
        abandonedBytes += socket.writableLength;
        this.#stats[StatField.ABANDONED_BYTES]! += socket.writableLength;
        socket.destroy();
      }
    }, drainMs);
    await closed;
    clearTimeout(timer);
    return abandonedBytes;
  }

  #data(slot: number, chunk: Buffer): void {
    const stats = this.#stats;
    stats[StatField.BYTES_IN]! += chunk.length;
    this.#table.bytesIn[slot]! += chunk.length;
    const wheel = this.#wheel;
    if (wheel !== undefined) wheel.lastActive[slot] = wheel.now;
    const framesBefore = stats[StatField.FRAMES_IN]!;
    const result = this.#framer.push(slot, chunk);
    if (result !== PushResult.OK) {
      this.closeNow(slot, result === PushResult.FRAME_TOO_LARGE ? CloseCode['frame-too-large'] : CloseCode.error);
      return;
    }
    if (this.#clocksFrames) {
      // A frame completed in this read: what is still buffered is a new
      // frame, whose clock starts now (a steady stream never times out).
      if (stats[StatField.FRAMES_IN] !== framesBefore) wheel!.partial(slot, false);
      wheel!.partial(slot, this.#framer.partialBytes(slot) > 0);
    }
  }

  /**
   * The peer ended its side (a request, then FIN). Its close is reported now,
   * but the write side stays open: the consumer may still be answering. The
   * consumer's RELEASE (sent once it has handed the close out) ends it after
   * what was sent before is written; closeTimeoutMs bounds the wait.
   */
  #peerEnded(slot: number): void {
    const table = this.#table;
    // A close was decided already (local, a limit, shutdown): it ends by itself.
    if (table.closeCode[slot] !== 0) return;
    table.decideClose(slot, CloseCode.peer);
    table.flags[slot]! |= SlotFlag.HALF_CLOSED;
    this.#reportClose(slot, CloseFlag.AWAITS_RELEASE);
    this.#closeDeadlines.add(slot, table.generation(slot));
  }

  #closed(slot: number): void {
    const table = this.#table;
    if ((table.flags[slot]! & SlotFlag.REPORTED) === 0) {
      table.decideClose(slot, CloseCode.peer);
      this.#reportClose(slot, 0);
    }
    table.release(slot);
    this.#stats[StatField.CLOSING_NOW] = table.open - this.#reportedOpen;
    this.#releasePlace();
    if (table.open === 0 && this.#allClosed !== undefined) this.#allClosed();
  }

  /** Writes the slot's one close event, with the reason decided first. */
  #reportClose(slot: number, flags: number): void {
    const table = this.#table;
    const code = table.closeCode[slot]! - 1;
    table.flags[slot]! |= SlotFlag.REPORTED;
    // An incomplete last frame is discarded, and counted.
    if (this.#framer.partialBytes(slot) > 0) this.#stats[StatField.TRUNCATED_FRAMES]!++;
    this.#framer.reset(slot);
    this.#wheel?.remove(slot);
    this.#outbox.close(table.ids[slot]!, code, flags);
    this.#stats[closedField(code)]!++;
    this.#stats[StatField.OPEN_NOW] = --this.#reportedOpen;
    this.#stats[StatField.CLOSING_NOW] = table.open - this.#reportedOpen;
  }
}
