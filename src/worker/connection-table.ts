// The worker's connection table: one slot per connection, state in typed
// arrays indexed by slot, plus the socket itself. A slot's generation lives
// in shared memory (slotStates, layout in control.ts) so that it outlives
// this thread: a replacement worker goes on from it, and never repeats an
// id this one gave out.
//
// Freed slots wait in a FIFO and are reused only once REUSE_DELAY others
// have been freed after them (or fresh slots run out), so a slot's
// generation advances slowly and a stale id stays stale for a long time.

import type { Socket } from 'node:net';
import { nextGeneration } from '../shared/id.ts';

const REUSE_DELAY = 1024;

/** Slot flags (bits of ConnectionTable.flags). */
export const SlotFlag = {
  /** A close was decided (local, shutdown, limit); sends are now stale. */
  CLOSING: 1,
  /** Reading paused because the event ring was full. */
  PAUSED_BY_RING: 2,
  /** The close event is written; the slot waits only for its socket to go. */
  REPORTED: 4,
  /** The peer ended its side; the write side stays open until the consumer releases it. */
  HALF_CLOSED: 8,
  /** Its protocol has not opened it yet (a handshake): the consumer knows nothing of it. */
  AWAITS_OPEN: 16,
  /** Closing for good (a limit, a timeout, its protocol): no more input goes to its protocol. */
  SILENCED: 32,
  /** Its TLS handshake is not done (AWAITS_OPEN is set too): its protocol has not started, and its timer is the handshake's deadline. */
  AWAITS_TLS: 64,
} as const;

export class ConnectionTable {
  readonly capacity: number;
  readonly sockets: (Socket | undefined)[] = [];
  /** Each slot's generation: this table's only shared memory (see control.ts). */
  readonly states: Uint32Array;
  /** The generation a never-used slot counts up from (the word after the slots). */
  readonly #base: number;
  readonly flags: Uint8Array;
  /** Close code + 1 of the first reason decided for the slot; 0 = none yet. */
  readonly closeCode: Uint8Array;
  /** The protocol's own close code (a WebSocket close code) + 1 that came with that first reason; 0 = none. */
  readonly protocolCode: Uint32Array;
  readonly ids: Float64Array;
  /** Per-connection traffic and age, for connection queries. */
  readonly bytesIn: Float64Array;
  readonly bytesOut: Float64Array;
  readonly openedAt: Float64Array;
  #open = 0;
  #fresh = 0;
  readonly #free: Int32Array;
  #freeHead = 0;
  #freeCount = 0;

  constructor(slotStates: SharedArrayBuffer, capacity: number) {
    this.capacity = capacity;
    this.states = new Uint32Array(slotStates, 0, capacity);
    this.#base = new Uint32Array(slotStates, capacity * Uint32Array.BYTES_PER_ELEMENT, 1)[0]!;
    this.flags = new Uint8Array(capacity);
    this.closeCode = new Uint8Array(capacity);
    this.protocolCode = new Uint32Array(capacity);
    this.ids = new Float64Array(capacity);
    this.bytesIn = new Float64Array(capacity);
    this.bytesOut = new Float64Array(capacity);
    this.openedAt = new Float64Array(capacity);
    this.#free = new Int32Array(capacity);
  }

  get open(): number {
    return this.#open;
  }

  /** Slots ever used; every live slot is below it. */
  get highWater(): number {
    return this.#fresh;
  }

  /** Takes a slot for `socket` and returns it, or -1 when the table is full. */
  allocate(socket: Socket): number {
    let slot: number;
    if (this.#freeCount > REUSE_DELAY || (this.#fresh === this.capacity && this.#freeCount > 0)) {
      slot = this.#free[this.#freeHead]!;
      this.#freeHead = (this.#freeHead + 1) % this.capacity;
      this.#freeCount--;
      this.sockets[slot] = socket;
    } else if (this.#fresh < this.capacity) {
      slot = this.#fresh++;
      this.sockets.push(socket);
    } else {
      return -1;
    }
    // A slot this thread has not used yet may carry a dead predecessor's generation.
    const previous = Atomics.load(this.states, slot);
    const generation = nextGeneration(previous === 0 ? this.#base : previous);
    // Publishes the new generation to a replacement, should this thread die.
    Atomics.store(this.states, slot, generation);
    this.flags[slot] = 0;
    this.closeCode[slot] = 0;
    this.protocolCode[slot] = 0;
    this.bytesIn[slot] = 0;
    this.bytesOut[slot] = 0;
    this.openedAt[slot] = Date.now();
    this.#open++;
    return slot;
  }

  generation(slot: number): number {
    return this.states[slot]!;
  }

  /** The socket of a live connection whose generation is `generation`, if sends may still go to it. */
  live(slot: number, generation: number): Socket | undefined {
    if (slot >= this.#fresh || this.states[slot] !== generation) return undefined;
    if ((this.flags[slot]! & (SlotFlag.CLOSING | SlotFlag.AWAITS_OPEN)) !== 0) return undefined;
    return this.sockets[slot];
  }

  /** True while the slot's connection is open as the consumer sees it: its open event is written and its close event is not. */
  isOpen(slot: number): boolean {
    return this.sockets[slot] !== undefined && (this.flags[slot]! & (SlotFlag.REPORTED | SlotFlag.AWAITS_OPEN)) === 0;
  }

  /** The socket of the connection `generation` names while it exists, closing or not. */
  current(slot: number, generation: number): Socket | undefined {
    if (slot >= this.#fresh || this.states[slot] !== generation) return undefined;
    return this.sockets[slot];
  }

  /** Records why the slot closes, with the protocol's own code (-1: none), unless a reason was decided already. */
  decideClose(slot: number, code: number, protocolCode = -1): void {
    if (this.closeCode[slot] !== 0) return;
    this.closeCode[slot] = code + 1;
    this.protocolCode[slot] = protocolCode + 1;
  }

  /** Frees the slot once its close event is written. */
  release(slot: number): void {
    // Its generation stays until the slot is reused, so its old id stays stale.
    this.sockets[slot] = undefined;
    this.flags[slot] = 0;
    this.#open--;
    this.#free[(this.#freeHead + this.#freeCount) % this.capacity] = slot;
    this.#freeCount++;
  }
}
