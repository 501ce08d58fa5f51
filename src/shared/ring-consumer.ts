// The consumer end of a set of rings that share one doorbell: an I/O
// worker's command rings (one per producer thread), or the event rings of
// every worker (drained by the main thread or by a blocking pipeline).
// Every consumer of a ring goes through this class, so draining, releasing
// space and parking without losing a wake-up live in one place; what a
// record means is the caller's handler, a switch on record kind.
//
// Two modes, never mixed on one instance:
//
// - Async (start): drains up to a budget per turn, hands every record to
//   the handler, and keeps draining with setImmediate between turns while
//   records flow, so timers and I/O still run; when every ring is empty it
//   parks on the doorbell with Atomics.waitAsync. A waitAsync alone does
//   not keep an event loop alive (nodejs/node#44729): the thread's own
//   handles (a listener, a socket, a timer) must.
// - Blocking (takeSync): returns one record at a time, round-robin over the
//   rings, leaving it under the cursor (a zero-copy view stays valid) until
//   the next call, and waits with Atomics.wait when every ring is empty.
//
// Why no wake-up is lost (the park protocol): the consumer reads the bell,
// raises CONSUMER_SLEEPING on every ring, re-checks every ring's TAIL, and
// only then waits for the bell to change from the value it read. A producer
// stores TAIL, then loads the flag and, if raised, increments the bell and
// notifies. Either the re-check sees the new TAIL, or the producer sees the
// flag and changes the bell, which makes the wait return at once even if
// the notify came first. A notify meant for an earlier park can only end a
// wait early, never swallow the wake-up of a later one, because each park
// reads the bell afresh.

import type { Doorbell } from './doorbell.ts';
import { RingReader } from './ring.ts';

/** Records consumed before their space is handed back to the producer. */
const RELEASE_EVERY = 256;
/** Records drained from each ring in one turn of an async consumer. */
const RECORDS_PER_TURN = 8192;

/** Acts on the record under `reader`'s cursor; `ring` is the ring's index. */
export type RecordHandler = (reader: RingReader, ring: number) => void;

export interface RingConsumerHooks {
  /** Acts on one record (async mode and drain). A throw is caught: the record counts as consumed and the error goes to onError. */
  handle?: RecordHandler;
  /** A handler threw. Default: rethrown on the next tick, outside the loop. */
  onError?: (error: unknown) => void;
  /** While true, draining stops (records stay in their rings) until kick(). */
  saturated?: () => boolean;
}

export class RingConsumer {
  readonly #readers: RingReader[] = [];
  readonly #bell: Doorbell;
  readonly #handle: RecordHandler;
  readonly #onError: (error: unknown) => void;
  readonly #saturated: () => boolean;
  #started = false;
  #scheduled = false;
  #parked = false;
  #stopped = false;
  /** Blocking mode: the ring whose record is under the cursor, or -1. */
  #current = -1;
  #next = 0;

  constructor(bell: Doorbell, rings: readonly SharedArrayBuffer[], hooks: RingConsumerHooks = {}) {
    this.#bell = bell;
    this.#handle = hooks.handle ?? ignore;
    this.#onError = hooks.onError ?? rethrowLater;
    this.#saturated = hooks.saturated ?? never;
    for (const storage of rings) this.#readers.push(new RingReader(storage));
  }

  get rings(): number {
    return this.#readers.length;
  }

  /** Adds a ring (a new producer). Safe while parked: the new ring's flag is raised and re-checked. */
  add(storage: SharedArrayBuffer): void {
    const reader = new RingReader(storage);
    this.#readers.push(reader);
    if (this.#parked) {
      reader.setSleeping();
      // A record published before the flag went up would not ring the bell.
      if (reader.hasData()) this.#bell.ring();
    }
  }

  /** Async mode: drains now and keeps consuming until stop(). */
  start(): void {
    this.#started = true;
    this.kick();
  }

  /** Async mode: schedules a drain turn (after saturation ends, for instance). */
  kick(): void {
    if (!this.#started || this.#scheduled || this.#parked || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(this.#turn);
  }

  /** Stops the async loop; a pending park ends without draining. */
  stop(): void {
    this.#stopped = true;
  }

  /** Drains up to `budget` records from each ring, in ring order; returns how many were handled. */
  drain(budget = Infinity): number {
    let total = 0;
    // Locals, not private fields, on the per-record path.
    const handle = this.#handle;
    const saturated = this.#saturated;
    const readers = this.#readers;
    for (let ring = 0; ring < readers.length; ring++) {
      const reader = readers[ring]!;
      let count = 0;
      while (count < budget && !saturated() && reader.peek()) {
        try {
          handle(reader, ring);
        } catch (error) {
          this.#onError(error);
        }
        reader.advance();
        if (++count % RELEASE_EVERY === 0) reader.release();
      }
      reader.release();
      total += count;
    }
    return total;
  }

  /** A cheap look from a busy thread's own loop: drains only when some ring has a record. */
  poll(): void {
    for (const reader of this.#readers) {
      if (reader.hasData()) {
        this.drain();
        return;
      }
    }
  }

  readonly #turn = (): void => {
    this.#scheduled = false;
    if (this.#stopped) return;
    const drained = this.drain(RECORDS_PER_TURN);
    if (this.#saturated()) return; // kick() resumes
    if (drained > 0) {
      this.#scheduled = true;
      setImmediate(this.#turn);
      return;
    }
    this.#park();
  };

  #park(): void {
    const bell = parkPrepare(this.#bell, this.#readers);
    if (bell < 0) {
      this.#scheduled = true;
      setImmediate(this.#turn);
      return;
    }
    this.#parked = true;
    void this.#bell.waitAsync(bell).then(() => {
      this.#parked = false;
      parkEnd(this.#readers);
      this.#turn();
    });
  }

  /**
   * Blocking mode: moves past the record returned last time (freeing its
   * space) and returns the next one, waiting up to `timeoutMs`. Undefined
   * on timeout, or once the doorbell says the stream ended and every ring
   * is empty.
   */
  takeSync(timeoutMs: number): RingReader | undefined {
    if (this.#current >= 0) {
      const previous = this.#readers[this.#current]!;
      previous.advance();
      previous.release();
      this.#current = -1;
    }
    const deadline = performance.now() + timeoutMs;
    const count = this.#readers.length;
    for (;;) {
      // Read before the scan: the producer side ends the stream only after
      // its last record is published, so an empty scan after an ended read
      // is final.
      const ended = this.#bell.ended;
      for (let i = 0; i < count; i++) {
        const ring = (this.#next + i) % count;
        const reader = this.#readers[ring]!;
        if (reader.peek()) {
          this.#next = (ring + 1) % count;
          this.#current = ring;
          return reader;
        }
      }
      if (ended) return undefined;
      const remaining = deadline - performance.now();
      if (remaining <= 0) return undefined;
      const bell = parkPrepare(this.#bell, this.#readers);
      if (bell < 0) continue;
      this.#bell.waitSync(bell, remaining);
      parkEnd(this.#readers);
    }
  }

  /** Blocking mode: consumes the record under the cursor now, so the next takeSync() does not. */
  consumeCurrent(): void {
    if (this.#current < 0) return;
    const reader = this.#readers[this.#current]!;
    reader.advance();
    reader.release();
    this.#current = -1;
  }
}

/**
 * First half of a consumer's park (the protocol at the top of this file):
 * returns the bell value to wait on, or -1 when some ring has data after
 * all (drain instead of sleeping).
 */
export function parkPrepare(bell: Doorbell, readers: readonly RingReader[]): number {
  const value = bell.read();
  for (const reader of readers) reader.setSleeping();
  for (const reader of readers) {
    if (reader.hasData()) {
      parkEnd(readers);
      return -1;
    }
  }
  return value;
}

/** After waking: lowers the sleeping flags so busy producers stop ringing. */
export function parkEnd(readers: readonly RingReader[]): void {
  for (const reader of readers) reader.clearSleeping();
}

function ignore(): void {}

function never(): boolean {
  return false;
}

function rethrowLater(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}
