// Every connection of a worker, from its open event to its one close event:
// the socket handlers, the protocol's effects (messages delivered, control
// bytes written, a handshake's open, the protocol's closes and timers),
// writes under the slowConsumer policy, and the ways a connection ends (the
// peer's FIN, a local close, a limit, a timeout, its protocol, shutdown),
// each reported once with the reason decided first and the protocol's own
// close code that came with it (a WebSocket close code). A local close or a
// shutdown first lets the protocol write its farewell (a close frame). A
// connection whose protocol has a handshake is the consumer's only from its
// open event on: if it ends before, no event is written at all
// (closedBeforeOpen counts it).
//
// With TLS, a connection holds its slot (and its place under
// maxConnections) from the TCP accept, while its handshake runs; its
// protocol starts only once the handshake is done, and the slot's timer is
// the handshake's deadline until then. One that ends before is the
// consumer's no more than a protocol handshake's (tlsHandshakeErrors counts
// it).
//
// Per connection at rest: the socket, a few typed-array entries (table,
// timing wheel) and no closure or timer: the socket handlers are functions
// made once per worker, shared by every socket, that find their slot
// through a symbol property.

import type { Socket } from 'node:net';
import { encodeId } from '../shared/id.ts';
import type { ResolvedOptions } from '../shared/options.ts';
import { CloseCode, CloseFlag, DataFlag } from '../shared/records.ts';
import { StatField, closedField } from '../shared/stats.ts';
import type { CloseDeadlines } from './close-deadlines.ts';
import { type ConnectionTable, SlotFlag } from './connection-table.ts';
import type { EventOutbox } from './event-outbox.ts';
import { NO_PROTOCOL_CODE, type ProtocolDriver, type ProtocolEffects } from './protocols/driver.ts';
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
  /** The worker's protocol; the connections bind themselves to it as its effects. */
  protocol: ProtocolDriver;
  /** Idle and incomplete-frame timeouts and protocol timers; absent when none is configured or used. */
  wheel: TimingWheel | undefined;
  closeDeadlines: CloseDeadlines;
  readPauses: ReadPauses;
  /** A socket is gone: its place under maxConnections is free again (the acceptor's). */
  releasePlace: () => void;
}

export class Connections implements ProtocolEffects {
  readonly #options: ResolvedOptions;
  readonly #worker: number;
  readonly #table: ConnectionTable;
  readonly #outbox: EventOutbox;
  readonly #stats: Float64Array;
  readonly #protocol: ProtocolDriver;
  readonly #wheel: TimingWheel | undefined;
  /** The wheel runs a frame clock: data handling must tell it when frames begin and end. */
  readonly #clocksFrames: boolean;
  readonly #closeDeadlines: CloseDeadlines;
  readonly #readPauses: ReadPauses;
  readonly #releasePlace: () => void;
  /** Connections whose open event is written and whose close event is not. */
  #reportedOpen = 0;
  /** Connections waiting for their protocol, or their TLS handshake, to open them. */
  #awaitingOpen = 0;
  /** How long a TLS handshake may take (the slot's timer runs that long); 0: no TLS, or no deadline. */
  readonly #tlsHandshakeMs: number;
  #allClosed: (() => void) | undefined;
  readonly #onData: (this: SlottedSocket, chunk: Buffer) => void;
  readonly #onEnd: (this: SlottedSocket) => void;
  readonly #onError: (this: SlottedSocket) => void;
  readonly #onClose: (this: SlottedSocket) => void;
  readonly #onSecure: (this: SlottedSocket) => void;

  constructor(parts: ConnectionParts) {
    this.#options = parts.options;
    this.#worker = parts.worker;
    this.#table = parts.table;
    this.#outbox = parts.outbox;
    this.#stats = parts.stats;
    this.#protocol = parts.protocol;
    this.#wheel = parts.wheel;
    this.#clocksFrames = parts.wheel !== undefined && parts.protocol.buffersFrames && parts.options.frameTimeoutMs > 0;
    this.#closeDeadlines = parts.closeDeadlines;
    this.#readPauses = parts.readPauses;
    this.#releasePlace = parts.releasePlace;
    this.#tlsHandshakeMs = parts.options.tls === null || parts.wheel === undefined ? 0 : parts.options.tlsHandshakeTimeoutMs;
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
    this.#onSecure = function (this: SlottedSocket): void {
      connections.#secured(this[kSlot]);
    };
    parts.protocol.bind(this);
  }

  /**
   * Opens an admitted socket: false when the table is full (the acceptor
   * then refuses it). With TLS it is a TLSSocket whose handshake has begun,
   * and it starts once that is done ('secure').
   */
  add(raw: Socket): boolean {
    const socket = raw as SlottedSocket;
    const table = this.#table;
    const o = this.#options;
    const slot = table.allocate(socket);
    if (slot < 0) return false;
    socket[kSlot] = slot;
    table.ids[slot] = encodeId(o.node, this.#worker, slot, table.generation(slot));
    if (o.noDelay) socket.setNoDelay(true);
    if (o.keepAliveMs > 0) socket.setKeepAlive(true, o.keepAliveMs);
    this.#wheel?.add(slot);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    if (o.tls === null) {
      this.#begin(slot);
      return true;
    }
    table.flags[slot]! |= SlotFlag.AWAITS_OPEN | SlotFlag.AWAITS_TLS;
    this.#awaitingOpen++;
    if (this.#tlsHandshakeMs > 0) this.#wheel!.setTimer(slot, this.#tlsHandshakeMs);
    // 'secure' comes once (no renegotiation: OpenSSL refuses a client's); #secured checks anyway.
    socket.on('secure', this.#onSecure);
    return true;
  }

  /** The connection starts for its protocol: it opens now, or once its protocol's handshake opens it. */
  #begin(slot: number): void {
    if (this.#protocol.handshake) {
      this.#table.flags[slot]! |= SlotFlag.AWAITS_OPEN;
      this.#awaitingOpen++;
    } else {
      this.#reportOpen(slot, undefined);
    }
    // Events are waiting for ring space: a newcomer must not add a read to the
    // stash. It starts paused and resumes with the others once the stash drains.
    if (this.#outbox.stalled) this.#readPauses.pause(slot);
    this.#protocol.connect(slot);
  }

  /** The TLS handshake is done: the connection starts, unless it is closing already (then it ends as it began, unknown to the consumer). */
  #secured(slot: number): void {
    const table = this.#table;
    const flags = table.flags[slot]!;
    if ((flags & SlotFlag.AWAITS_TLS) === 0 || table.closeCode[slot] !== 0) return;
    table.flags[slot] = flags & ~(SlotFlag.AWAITS_TLS | SlotFlag.AWAITS_OPEN);
    this.#awaitingOpen--;
    this.#wheel?.clearTimer(slot);
    this.#begin(slot);
  }

  /** The protocol's message: one whole message of the connection in `slot`. */
  deliver(slot: number, message: Uint8Array, text: boolean): void {
    this.#stats[StatField.FRAMES_IN]!++;
    // The event ring is full: this socket stops reading until it drains.
    if (!this.#outbox.data(this.#table.ids[slot]!, message, text ? DataFlag.TEXT : 0)) this.#readPauses.pause(slot);
  }

  /**
   * Writes one message the application sent, whole, framed by the protocol
   * when it encodes: the slowConsumer policy judges the message as a whole
   * before any of it is written, so it is never cut.
   */
  write(slot: number, socket: Socket, pieces: Uint8Array | readonly Uint8Array[], length: number, text: boolean): void {
    if (this.#protocol.encodes) {
      const payload = Array.isArray(pieces) ? Buffer.concat(pieces as readonly Uint8Array[], length) : (pieces as Uint8Array);
      const encoded = this.#protocol.encode(slot, payload, text);
      // The protocol failed: its connection is closing, the message goes nowhere.
      if (encoded === undefined) return;
      pieces = encoded;
      length = byteLength(encoded);
    }
    if (this.#writeOut(slot, socket, pieces, length)) this.#stats[StatField.SENDS]!++;
  }

  /** The protocol's control bytes (a handshake reply, a pong): written now, under the same slowConsumer policy. */
  writeControl(slot: number, bytes: Uint8Array): void {
    const socket = this.#table.sockets[slot];
    // Its write side is ending (a local close, a release): nothing more may go.
    if (socket === undefined || (this.#table.flags[slot]! & SlotFlag.CLOSING) !== 0) return;
    this.#writeOut(slot, socket, bytes, bytes.length);
  }

  /** The protocol's handshake is done: the open event goes out now, with what the handshake learnt. */
  open(slot: number, request: Uint8Array | undefined): void {
    this.#table.flags[slot]! &= ~SlotFlag.AWAITS_OPEN;
    this.#awaitingOpen--;
    this.#reportOpen(slot, request);
    // The open had to wait for ring space: this socket reads no more until it has gone.
    if (this.#outbox.stalled) this.#readPauses.pause(slot);
  }

  /**
   * The protocol closes its connection with `code` (and a code of its own
   * for the close event): at once, or after writing `finalBytes` once the
   * socket has flushed (within closeTimeoutMs).
   */
  close(slot: number, code: number, finalBytes: Uint8Array | undefined, protocolCode: number): void {
    const table = this.#table;
    const socket = table.sockets[slot];
    if (socket === undefined) return;
    if (finalBytes === undefined) {
      this.closeNow(slot, code, protocolCode);
      return;
    }
    const flags = table.flags[slot]!;
    table.decideClose(slot, code, protocolCode);
    table.flags[slot] = flags | SlotFlag.CLOSING | SlotFlag.SILENCED;
    // Ending already (a local close): that close's bound applies.
    if ((flags & SlotFlag.CLOSING) !== 0) return;
    this.#writeOut(slot, socket, finalBytes, finalBytes.length);
    socket.destroySoon();
    this.#closeDeadlines.add(slot, table.generation(slot));
  }

  setTimer(slot: number, delayMs: number): void {
    this.#wheel!.setTimer(slot, delayMs);
  }

  clearTimer(slot: number): void {
    this.#wheel!.clearTimer(slot);
  }

  awaitsOpen(slot: number): boolean {
    return (this.#table.flags[slot]! & SlotFlag.AWAITS_OPEN) !== 0;
  }

  silenced(slot: number): boolean {
    return (this.#table.flags[slot]! & SlotFlag.SILENCED) !== 0;
  }

  /** Closes after flushing what was written (and the protocol's farewell), within closeTimeoutMs. */
  closeLocal(slot: number, socket: Socket): void {
    const table = this.#table;
    // The protocol closed it itself while saying goodbye: that close applies.
    if (!this.#farewell(slot, socket, 'local')) return;
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

  /** Idle too long ('idle-timeout'), an incomplete frame waited too long ('frame-timeout'), or the protocol's timer is due. */
  expire(slot: number, why: number): void {
    if (why === Expiry.PROTOCOL) {
      // Before the TLS handshake is done the timer is its deadline (the protocol has not started).
      if ((this.#table.flags[slot]! & SlotFlag.AWAITS_TLS) !== 0) this.closeNow(slot, CloseCode.error);
      else if (!this.silenced(slot)) this.#protocol.timeout(slot);
      return;
    }
    this.closeNow(slot, why === Expiry.IDLE ? CloseCode['idle-timeout'] : CloseCode['frame-timeout']);
  }

  /** Closes at once, abandoning unsent bytes. */
  closeNow(slot: number, code: number, protocolCode = NO_PROTOCOL_CODE): void {
    const socket = this.#table.sockets[slot];
    if (socket === undefined) return;
    this.#table.decideClose(slot, code, protocolCode);
    this.#table.flags[slot]! |= SlotFlag.CLOSING | SlotFlag.SILENCED;
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
      this.#farewell(slot, socket, 'shutdown');
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

  /**
   * Decides the close the application or a shutdown asked for, after the
   * protocol's farewell (a WebSocket close frame) is written, when it has
   * one and the connection is open and not closing already. False when the
   * protocol closed the connection itself meanwhile.
   */
  #farewell(slot: number, socket: Socket, reason: 'local' | 'shutdown'): boolean {
    const table = this.#table;
    const code = CloseCode[reason];
    const busy = SlotFlag.CLOSING | SlotFlag.SILENCED | SlotFlag.HALF_CLOSED | SlotFlag.AWAITS_OPEN;
    if (!this.#protocol.bidsFarewell || table.closeCode[slot] !== 0 || (table.flags[slot]! & busy) !== 0) {
      table.decideClose(slot, code);
      return true;
    }
    const farewell = this.#protocol.closing(slot, reason);
    if (table.closeCode[slot] !== 0) return false;
    table.decideClose(slot, code, farewell?.code ?? NO_PROTOCOL_CODE);
    if (farewell !== undefined) this.#writeOut(slot, socket, farewell.finalBytes, farewell.finalBytes.length);
    return true;
  }

  #data(slot: number, chunk: Buffer): void {
    const stats = this.#stats;
    const table = this.#table;
    stats[StatField.BYTES_IN]! += chunk.length;
    table.bytesIn[slot]! += chunk.length;
    const wheel = this.#wheel;
    if (wheel !== undefined) wheel.lastActive[slot] = wheel.now;
    // Closing for good: what still arrives goes nowhere.
    if ((table.flags[slot]! & SlotFlag.SILENCED) !== 0) return;
    const framesBefore = stats[StatField.FRAMES_IN]!;
    this.#protocol.read(slot, chunk);
    if (this.#clocksFrames && (table.flags[slot]! & SlotFlag.SILENCED) === 0) {
      // A frame completed in this read: what is still buffered is a new
      // frame, whose clock starts now (a steady stream never times out).
      if (stats[StatField.FRAMES_IN] !== framesBefore) wheel!.partial(slot, false);
      wheel!.partial(slot, this.#protocol.pendingBytes(slot) > 0);
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
    if ((table.flags[slot]! & SlotFlag.AWAITS_OPEN) !== 0) {
      // Nobody to answer but its protocol, which has written what it had to: end it once flushed.
      table.decideClose(slot, CloseCode.peer);
      table.flags[slot]! |= SlotFlag.CLOSING | SlotFlag.SILENCED;
      table.sockets[slot]!.destroySoon();
      this.#closeDeadlines.add(slot, table.generation(slot));
      return;
    }
    table.decideClose(slot, CloseCode.peer);
    table.flags[slot]! |= SlotFlag.HALF_CLOSED;
    this.#reportClose(slot, CloseFlag.AWAITS_RELEASE);
    this.#closeDeadlines.add(slot, table.generation(slot));
  }

  #closed(slot: number): void {
    const table = this.#table;
    const flags = table.flags[slot]!;
    if ((flags & SlotFlag.AWAITS_OPEN) !== 0) {
      // The consumer never heard of it: no event, only a count.
      this.#awaitingOpen--;
      this.#stats[(flags & SlotFlag.AWAITS_TLS) !== 0 ? StatField.TLS_HANDSHAKE_ERRORS : StatField.CLOSED_BEFORE_OPEN]!++;
      this.#wheel?.remove(slot);
    } else if ((flags & SlotFlag.REPORTED) === 0) {
      table.decideClose(slot, CloseCode.peer);
      this.#reportClose(slot, 0);
    }
    // A protocol hears of a connection from connect() on, which waits for its TLS handshake.
    if ((flags & SlotFlag.AWAITS_TLS) === 0) this.#protocol.disconnect(slot);
    table.release(slot);
    this.#countClosing();
    this.#releasePlace();
    if (table.open === 0 && this.#allClosed !== undefined) this.#allClosed();
  }

  /** Writes the slot's open event; `request`: what its protocol's handshake learnt, as JSON. */
  #reportOpen(slot: number, request: Uint8Array | undefined): void {
    const socket = this.#table.sockets[slot]!;
    this.#stats[StatField.OPENED]!++;
    this.#stats[StatField.OPEN_NOW] = ++this.#reportedOpen;
    const family = socket.remoteFamily === 'IPv6' ? 6 : 4;
    this.#outbox.open(this.#table.ids[slot]!, family, socket.remoteAddress ?? '', socket.remotePort ?? 0, socket.localPort ?? 0, request);
  }

  /** Writes the slot's one close event, with the reason decided first. */
  #reportClose(slot: number, flags: number): void {
    const table = this.#table;
    const code = table.closeCode[slot]! - 1;
    table.flags[slot]! |= SlotFlag.REPORTED;
    // An incomplete last frame is discarded (when the socket is gone, disconnect() forgets it), and counted.
    if (this.#protocol.buffersFrames && this.#protocol.pendingBytes(slot) > 0) this.#stats[StatField.TRUNCATED_FRAMES]!++;
    this.#wheel?.remove(slot);
    this.#outbox.close(table.ids[slot]!, code, flags, table.protocolCode[slot]! - 1);
    this.#stats[closedField(code)]!++;
    this.#stats[StatField.OPEN_NOW] = --this.#reportedOpen;
    this.#countClosing();
  }

  /** Sockets still here whose close event is written: neither open for the consumer nor waiting for their protocol to open them. */
  #countClosing(): void {
    this.#stats[StatField.CLOSING_NOW] = this.#table.open - this.#reportedOpen - this.#awaitingOpen;
  }

  /** Writes bytes under the slowConsumer policy; false when they were not written (dropped, or the connection closed for it). */
  #writeOut(slot: number, socket: Socket, pieces: Uint8Array | readonly Uint8Array[], length: number): boolean {
    if (socket.writableLength + length > this.#options.maxBufferedBytes) {
      // The client does not read fast enough; apply the slowConsumer policy.
      if (this.#options.slowConsumer === 'drop') {
        this.#stats[StatField.DROPPED_SENDS]!++;
        return false;
      }
      this.closeNow(slot, CloseCode['slow-consumer']);
      return false;
    }
    if (Array.isArray(pieces)) {
      socket.cork();
      for (const piece of pieces as readonly Uint8Array[]) socket.write(piece);
      socket.uncork();
    } else {
      socket.write(pieces as Uint8Array);
    }
    this.#stats[StatField.BYTES_OUT]! += length;
    this.#table.bytesOut[slot]! += length;
    if (this.#wheel !== undefined) this.#wheel.lastActive[slot] = this.#wheel.now;
    return true;
  }
}

function byteLength(encoded: Uint8Array | readonly Uint8Array[]): number {
  if (!Array.isArray(encoded)) return (encoded as Uint8Array).length;
  let length = 0;
  for (const piece of encoded as readonly Uint8Array[]) length += piece.length;
  return length;
}
