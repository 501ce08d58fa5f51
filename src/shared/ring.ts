// A single-producer single-consumer byte ring in a SharedArrayBuffer.
//
// Contract: exactly one thread writes (RingWriter) and exactly one thread
// reads (RingReader); the roles never change while the ring lives. Both
// sides are wait-free: a full ring makes write() return -1, an empty ring
// makes peek() return false, and waiting is a separate, explicit step
// (the consumer parks on its Doorbell, the producer on the ring's space
// bell).
//
// Storage layout (Int32 word index: who writes it / who reads it):
//
//   line 0  word  0  TAIL              producer / consumer  free-running byte position
//   line 1  word 16  HEAD              consumer / producer  free-running byte position
//   line 2  word 32  CONSUMER_SLEEPING consumer sets, producer clears
//   line 3  word 48  PRODUCER_WAITING  producer sets, consumer clears
//           word 49  SPACE_BELL        consumer increments, producer waits on it
//           word 50  CAPACITY          written once at creation
//           word 63  HEAD_CANARY       never written after creation
//   bytes 256 .. 256+capacity          the data region (records, see records.ts)
//   8 bytes after the data region      TAIL_CANARY, never written after creation
//
// TAIL and HEAD sit on separate 64-byte lines so the producer's and the
// consumer's stores do not share a cache line. Positions are free-running
// 32-bit counters; capacity is a power of two <= 2^30, so (tail - head) | 0
// is the number of bytes in use and position & (capacity - 1) the offset.

import { HDR_AUX_U16, HDR_FLAGS_U8, HDR_ID_F64, HDR_KIND_U8, HDR_LENGTH_U32, RECORD_HEADER_BYTES, RecordKind, recordBytes } from './records.ts';
import type { Doorbell } from './doorbell.ts';

export const RING_HEADER_BYTES = 256;
export const RING_CANARY_BYTES = 8;
export const MIN_RING_BYTES = 4096;
export const MAX_RING_BYTES = 2 ** 30;
export const CANARY = 0x464c4d47; // "FLMG"

const TAIL = 0;
const HEAD = 16;
const CONSUMER_SLEEPING = 32;
const PRODUCER_WAITING = 48;
const SPACE_BELL = 49;
const CAPACITY = 50;
const HEAD_CANARY = 63;

/** Allocates the shared storage of a ring with `capacity` data bytes (a power of two). */
export function createRingStorage(capacity: number): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < MIN_RING_BYTES || capacity > MAX_RING_BYTES || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`ring capacity must be a power of two from ${MIN_RING_BYTES} to ${MAX_RING_BYTES}; got ${capacity}`);
  }
  const storage = new SharedArrayBuffer(RING_HEADER_BYTES + capacity + RING_CANARY_BYTES);
  const ctl = new Int32Array(storage, 0, RING_HEADER_BYTES / 4);
  ctl[CAPACITY] = capacity;
  ctl[HEAD_CANARY] = CANARY;
  new Int32Array(storage, RING_HEADER_BYTES + capacity, 2).fill(CANARY);
  return storage;
}

/** True when both canary words around the data region are intact. */
export function ringCanariesIntact(storage: SharedArrayBuffer): boolean {
  const ctl = new Int32Array(storage, 0, RING_HEADER_BYTES / 4);
  const after = new Int32Array(storage, RING_HEADER_BYTES + ctl[CAPACITY]!, 2);
  return ctl[HEAD_CANARY] === CANARY && after[0] === CANARY && after[1] === CANARY;
}

/** The largest payload one record may carry in a ring of `capacity` bytes. */
export function maxRecordPayload(capacity: number): number {
  // A record of at most half the ring always fits once the consumer has
  // caught up, even when the pad before it takes the rest of the other half.
  return capacity / 2 - RECORD_HEADER_BYTES;
}

/** Bytes in use in a ring right now, read from either side or a third thread (a snapshot). */
export function ringUsed(storage: SharedArrayBuffer): number {
  const ctl = new Int32Array(storage, 0, RING_HEADER_BYTES / 4);
  return (Atomics.load(ctl, TAIL) - Atomics.load(ctl, HEAD)) | 0;
}

abstract class RingView {
  readonly capacity: number;
  /** The data region. Payload offsets returned by the ring index into it. */
  readonly bytes: Uint8Array;
  protected readonly ctl: Int32Array;
  protected readonly u16: Uint16Array;
  protected readonly u32: Uint32Array;
  protected readonly f64: Float64Array;
  protected readonly mask: number;

  constructor(storage: SharedArrayBuffer) {
    this.ctl = new Int32Array(storage, 0, RING_HEADER_BYTES / 4);
    const capacity = this.ctl[CAPACITY]!;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.bytes = new Uint8Array(storage, RING_HEADER_BYTES, capacity);
    this.u16 = new Uint16Array(storage, RING_HEADER_BYTES, capacity / 2);
    this.u32 = new Uint32Array(storage, RING_HEADER_BYTES, capacity / 4);
    this.f64 = new Float64Array(storage, RING_HEADER_BYTES, capacity / 8);
  }

  /** Bytes in use as seen from this side (a snapshot). */
  used(): number {
    return (Atomics.load(this.ctl, TAIL) - Atomics.load(this.ctl, HEAD)) | 0;
  }
}

export class RingWriter extends RingView {
  readonly maxPayload: number;
  #tail: number;
  #published: number;
  #head: number;
  readonly #bell: Doorbell;

  /** `bell` is the consumer's doorbell, rung when it sleeps and data arrives. */
  constructor(storage: SharedArrayBuffer, bell: Doorbell) {
    super(storage);
    this.maxPayload = maxRecordPayload(this.capacity);
    this.#tail = Atomics.load(this.ctl, TAIL);
    this.#published = this.#tail;
    this.#head = Atomics.load(this.ctl, HEAD);
    this.#bell = bell;
  }

  /**
   * Writes a record header and reserves `length` payload bytes. Returns the
   * payload's offset in `bytes`, or -1 when the ring has no room. The
   * record is invisible to the consumer until publish().
   */
  write(kind: number, flags: number, aux: number, id: number, length: number): number {
    const total = recordBytes(length);
    if (!(length >= 0 && length <= this.maxPayload && length === Math.floor(length))) {
      throw new RangeError(`record payload length must be an integer from 0 to ${this.maxPayload}; got ${length}`);
    }
    let offset = this.#tail & this.mask;
    const untilEnd = this.capacity - offset;
    const need = untilEnd < total ? untilEnd + total : total;
    if (this.capacity - ((this.#tail - this.#head) | 0) < need) {
      this.#head = Atomics.load(this.ctl, HEAD);
      if (this.capacity - ((this.#tail - this.#head) | 0) < need) return -1;
    }
    if (untilEnd < total) {
      this.u32[offset >> 2] = untilEnd;
      this.bytes[offset + HDR_KIND_U8] = RecordKind.PAD;
      this.#tail = (this.#tail + untilEnd) | 0;
      offset = 0;
    }
    this.u32[(offset + HDR_LENGTH_U32) >> 2] = length;
    this.bytes[offset + HDR_KIND_U8] = kind;
    this.bytes[offset + HDR_FLAGS_U8] = flags;
    this.u16[(offset + HDR_AUX_U16) >> 1] = aux;
    this.f64[(offset + HDR_ID_F64) >> 3] = id;
    this.#tail = (this.#tail + total) | 0;
    return offset + RECORD_HEADER_BYTES;
  }

  /** Bytes in use, written or published, as of a fresh look at HEAD (one atomic load). */
  inUse(): number {
    this.#head = Atomics.load(this.ctl, HEAD);
    return (this.#tail - this.#head) | 0;
  }

  /** True when records were written but not yet published. */
  get pending(): boolean {
    return this.#tail !== this.#published;
  }

  /** Makes every record written so far visible, waking the consumer if it sleeps. */
  publish(): void {
    if (this.publishQuietly()) this.wakeConsumer();
  }

  /**
   * Makes every record written so far visible without waking anyone; true
   * when something was published. The caller must call wakeConsumer()
   * after it (at once or a little later, to wake once for many publishes).
   */
  publishQuietly(): boolean {
    if (this.#tail === this.#published) return false;
    // Publishes every record written since the last publish: their bytes
    // were stored before this store, and the consumer loads TAIL first.
    Atomics.store(this.ctl, TAIL, this.#tail);
    this.#published = this.#tail;
    return true;
  }

  /** Rings the consumer's doorbell if it said it is going to sleep. */
  wakeConsumer(): void {
    // Seq-cst store of TAIL (before this) then load of the flag, against the
    // consumer's store of the flag then load of TAIL: one sees the other.
    if (Atomics.load(this.ctl, CONSUMER_SLEEPING) !== 0) {
      Atomics.store(this.ctl, CONSUMER_SLEEPING, 0);
      this.#bell.ring();
    }
  }

  /** True when a record with `length` payload bytes would fit now. */
  hasRoomFor(length: number): boolean {
    const total = recordBytes(length);
    const untilEnd = this.capacity - (this.#tail & this.mask);
    const need = untilEnd < total ? untilEnd + total : total;
    this.#head = Atomics.load(this.ctl, HEAD);
    return this.capacity - ((this.#tail - this.#head) | 0) >= need;
  }

  /**
   * First half of waiting for space: returns the space-bell value to wait
   * on, or -1 when a record of `length` bytes fits already. No wake-up is
   * lost: the bell is read before the flag is raised, the room re-checked
   * after it, and the consumer bumps the bell after it frees space and
   * sees the flag, so any release after the re-check changes the bell.
   */
  armSpaceWait(length: number): number {
    const bell = Atomics.load(this.ctl, SPACE_BELL);
    Atomics.store(this.ctl, PRODUCER_WAITING, 1);
    if (this.hasRoomFor(length)) {
      Atomics.store(this.ctl, PRODUCER_WAITING, 0);
      return -1;
    }
    return bell;
  }

  /** Resolves when the consumer has freed space since armSpaceWait() returned `bell`. */
  waitForSpace(bell: number): Promise<unknown> {
    const result = Atomics.waitAsync(this.ctl, SPACE_BELL, bell);
    return result.async ? result.value : Promise.resolve();
  }

  /** Blocks until space was freed or `timeoutMs` passed. Only for threads that may block. */
  waitForSpaceSync(bell: number, timeoutMs: number): void {
    Atomics.wait(this.ctl, SPACE_BELL, bell, timeoutMs);
  }
}

export class RingReader extends RingView {
  // The record under the cursor, valid after peek() returned true.
  kind = 0;
  flags = 0;
  aux = 0;
  id = 0;
  offset = 0;
  length = 0;
  #head: number;
  #tail: number;
  #released: number;

  constructor(storage: SharedArrayBuffer) {
    super(storage);
    this.#head = Atomics.load(this.ctl, HEAD);
    this.#released = this.#head;
    this.#tail = this.#head;
  }

  /** Loads the next record into the cursor fields; false when the ring is empty. */
  peek(): boolean {
    for (;;) {
      if (this.#head === this.#tail) {
        // Pairs with the producer's publishing store of TAIL.
        this.#tail = Atomics.load(this.ctl, TAIL);
        if (this.#head === this.#tail) return false;
      }
      const offset = this.#head & this.mask;
      const length = this.u32[(offset + HDR_LENGTH_U32) >> 2]!;
      const kind = this.bytes[offset + HDR_KIND_U8]!;
      if (kind === RecordKind.PAD) {
        this.#head = (this.#head + length) | 0;
        continue;
      }
      this.kind = kind;
      this.flags = this.bytes[offset + HDR_FLAGS_U8]!;
      this.aux = this.u16[(offset + HDR_AUX_U16) >> 1]!;
      this.id = this.f64[(offset + HDR_ID_F64) >> 3]!;
      this.offset = offset + RECORD_HEADER_BYTES;
      this.length = length;
      return true;
    }
  }

  /** Moves past the record under the cursor. Its space is freed at release(). */
  advance(): void {
    this.#head = (this.#head + recordBytes(this.length)) | 0;
  }

  /** The payload of the record under the cursor, as a view into the ring. */
  payload(): Uint8Array {
    return this.bytes.subarray(this.offset, this.offset + this.length);
  }

  /** Frees the space of every record advanced past, waking a producer that waits for it. */
  release(): void {
    if (this.#head === this.#released) return;
    // Publishes the freed space: the records' bytes are no longer read.
    Atomics.store(this.ctl, HEAD, this.#head);
    this.#released = this.#head;
    // Wake a waiting producer only once half the ring is free, so a full
    // ring does not turn into a wake-up per record.
    if (Atomics.load(this.ctl, PRODUCER_WAITING) !== 0 && ((this.#tail - this.#head) | 0) <= this.capacity / 2) {
      Atomics.store(this.ctl, PRODUCER_WAITING, 0);
      Atomics.add(this.ctl, SPACE_BELL, 1);
      Atomics.notify(this.ctl, SPACE_BELL);
    }
  }

  /** True when published records remain unread. */
  hasData(): boolean {
    return this.#head !== this.#tail || Atomics.load(this.ctl, TAIL) !== this.#head;
  }

  /** Says the consumer is about to sleep; a producer that publishes will ring the doorbell. */
  setSleeping(): void {
    Atomics.store(this.ctl, CONSUMER_SLEEPING, 1);
  }

  clearSleeping(): void {
    Atomics.store(this.ctl, CONSUMER_SLEEPING, 0);
  }
}
