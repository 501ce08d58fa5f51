// The seeded record sequence the ring tests send and verify. A producer and
// a consumer built with the same seed, direction and maxPayload generate the
// same records in the same order, so the consumer can check every header
// field and every payload byte without the producer sending any expectation
// along. Runs inside worker threads, so erasable TypeScript only.

import { RecordKind, recordBytes } from '../../src/shared/records.ts';

export type RingDirection = 'event' | 'command';

/** mulberry32: a tiny seeded PRNG returning uint32s. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The first state of record `index`'s payload stream (never 0, xorshift's fixed point). */
function payloadState(seed: number, index: number): number {
  const mixed = Math.imul((seed ^ Math.imul(index, 0x9e3779b1)) >>> 0, 0x85ebca6b) ^ index;
  return (mixed ^ (mixed >>> 13)) | 1;
}

/** One xorshift32 step. */
function nextState(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x;
}

/**
 * The record sequence. next() moves to the following record and sets the
 * header fields; fill() writes that record's payload, check() compares it.
 * Payload byte j of record i is byte (j & 3) of the (j >> 2)th xorshift32
 * state seeded from (seed, i), so every byte depends on its position and on
 * the record it belongs to: a misplaced, stale or torn record fails.
 */
export class RecordSequence {
  readonly maxPayload: number;
  readonly #direction: RingDirection;
  readonly #seed: number;
  readonly #random: () => number;
  /** Index of the current record; -1 before the first next(). */
  index = -1;
  kind = 0;
  flags = 0;
  aux = 0;
  id = 0;
  length = 0;

  constructor(seed: number, direction: RingDirection, maxPayload: number) {
    this.#seed = seed >>> 0;
    this.#direction = direction;
    this.maxPayload = maxPayload;
    this.#random = mulberry32(seed);
  }

  /** A payload length: mostly small, often large, regularly maxPayload and just under it. */
  #size(): number {
    const random = this.#random;
    const max = this.maxPayload;
    const bucket = random() % 100;
    if (bucket < 35) return random() % 33;
    if (bucket < 60) return 33 + (random() % 224);
    if (bucket < 78) return 257 + (random() % 768);
    if (bucket < 90) return random() % (max + 1);
    if (bucket < 95) return max;
    return max - 1 - (random() % 8);
  }

  next(): void {
    const random = this.#random;
    this.index++;
    const pick = random() % 100;
    if (this.#direction === 'event') {
      if (pick < 10) {
        this.kind = RecordKind.OPEN;
        this.length = 8 + (random() % 40);
      } else if (pick < 20) {
        this.kind = RecordKind.CLOSE;
        this.length = 0;
      } else {
        this.kind = RecordKind.DATA;
        this.length = this.#size();
      }
    } else if (pick < 10) {
      this.kind = RecordKind.CLOSE_CONN;
      this.length = 0;
    } else if (pick < 25) {
      this.kind = RecordKind.SEND_MANY;
      this.length = Math.max(8, this.#size());
    } else {
      this.kind = RecordKind.SEND;
      this.length = this.#size();
    }
    this.flags = random() & 0xff;
    // A close reason code in CLOSE records; any u16 elsewhere, so the test
    // sees every bit of the field survive.
    this.aux = this.kind === RecordKind.CLOSE ? random() % 8 : random() & 0xffff;
    // A safe integer anywhere in [0, 2^53): 21 high bits and 32 low bits.
    this.id = (random() & 0x1fffff) * 2 ** 32 + random();
  }

  /** The ring bytes the current record takes, header and padding included. */
  get recordBytes(): number {
    return recordBytes(this.length);
  }

  /** Writes the current record's payload at `offset`. */
  fill(bytes: Uint8Array, offset: number): void {
    let x = payloadState(this.#seed, this.index);
    const end = offset + this.length;
    let j = offset;
    while (j + 4 <= end) {
      x = nextState(x);
      bytes[j] = x;
      bytes[j + 1] = x >>> 8;
      bytes[j + 2] = x >>> 16;
      bytes[j + 3] = x >>> 24;
      j += 4;
    }
    if (j < end) {
      x = nextState(x);
      for (let shift = 0; j < end; j++, shift += 8) bytes[j] = x >>> shift;
    }
  }

  /** Index of the first payload byte at `offset` that differs from the current record's, or -1. */
  check(bytes: Uint8Array, offset: number): number {
    let x = payloadState(this.#seed, this.index);
    for (let j = 0; j < this.length; j++) {
      if ((j & 3) === 0) x = nextState(x);
      if (bytes[offset + j] !== ((x >>> ((j & 3) * 8)) & 0xff)) return j;
    }
    return -1;
  }

  /** Describes the first header field of a read record that differs from the current one, or null. */
  checkHeader(kind: number, flags: number, aux: number, id: number, length: number): string | null {
    if (kind !== this.kind) return `kind ${kind}, expected ${this.kind}`;
    if (flags !== this.flags) return `flags ${flags}, expected ${this.flags}`;
    if (aux !== this.aux) return `aux ${aux}, expected ${this.aux}`;
    if (id !== this.id) return `id ${id}, expected ${this.id}`;
    if (length !== this.length) return `length ${length}, expected ${this.length}`;
    return null;
  }
}
