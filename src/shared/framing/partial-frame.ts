// One connection's incomplete frame, held only while the frame is
// incomplete (no per-connection buffers at rest).

/** A growable byte buffer. */
export class Partial {
  bytes: Uint8Array;
  length = 0;

  constructor(initial: Uint8Array, capacity = Math.max(64, initial.length * 2)) {
    this.bytes = new Uint8Array(Math.max(capacity, initial.length));
    this.append(initial);
  }

  /** Makes room for `capacity` bytes in all, so appends up to it do not reallocate. */
  reserve(capacity: number): void {
    if (capacity <= this.bytes.length) return;
    const grown = new Uint8Array(capacity);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  append(chunk: Uint8Array): void {
    const need = this.length + chunk.length;
    if (need > this.bytes.length) {
      const grown = new Uint8Array(Math.max(need, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(chunk, this.length);
    this.length = need;
  }
}

/** Marks a slot that broke the framing rules: no more frames until reset(). */
export const REFUSED = new Partial(new Uint8Array(0), 0);
