// Drains every worker's event ring on the main thread without blocking its
// event loop. While records flow it keeps draining, a budget per turn and a
// setImmediate between turns so timers and I/O still run; when every ring
// is empty it parks on the consumer doorbell with Atomics.waitAsync (see
// doorbell.ts for why no wake-up is lost).

import { Doorbell, parkEnd, parkPrepare } from '../shared/doorbell.ts';
import { RecordKind } from '../shared/records.ts';
import { RingReader } from '../shared/ring.ts';
import type { OpenTracker } from './open-tracker.ts';

/** Where drained events go. A view passed to data() is valid only during the call. */
export interface EventSink {
  open(id: number, reader: RingReader): void;
  data(id: number, view: Uint8Array): void;
  /** `flags`: CloseFlag bits (AWAITS_RELEASE: hand the close out, then release the id). */
  close(id: number, code: number, flags?: number): void;
  /** True when the sink wants no more events for now; drain() stops until kick(). */
  isSaturated(): boolean;
  /** A handler threw: the record was consumed, the error goes here. */
  failed(error: unknown): void;
}

const RECORDS_PER_TURN = 8192;
const RELEASE_EVERY = 512;

export class Dispatcher {
  readonly #readers: RingReader[];
  readonly #bell: Doorbell;
  readonly #sink: EventSink;
  readonly #tracker: OpenTracker;
  #scheduled = false;
  #parked = false;
  #stopped = false;

  constructor(eventRings: readonly SharedArrayBuffer[], bell: Doorbell, sink: EventSink, tracker: OpenTracker) {
    this.#readers = eventRings.map((storage) => new RingReader(storage));
    this.#bell = bell;
    this.#sink = sink;
    this.#tracker = tracker;
  }

  start(): void {
    this.kick();
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Schedules a drain turn (after the sink stopped being saturated, for instance). */
  kick(): void {
    if (this.#scheduled || this.#parked || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(this.#turn);
  }

  /** Drains up to `budget` records from each ring; returns how many were dispatched. */
  drain(budget = Infinity): number {
    let total = 0;
    const sink = this.#sink;
    for (const reader of this.#readers) {
      let count = 0;
      while (count < budget && !sink.isSaturated() && reader.peek()) {
        try {
          switch (reader.kind) {
            case RecordKind.OPEN:
              this.#tracker.opened(reader.id);
              sink.open(reader.id, reader);
              break;
            case RecordKind.DATA:
              sink.data(reader.id, reader.bytes.subarray(reader.offset, reader.offset + reader.length));
              break;
            case RecordKind.CLOSE:
              this.#tracker.closed(reader.id);
              sink.close(reader.id, reader.aux, reader.flags);
              break;
            case RecordKind.WORKER_EXIT:
              this.#tracker.workerExited(reader.aux, sink.close);
              break;
          }
        } catch (error) {
          reader.advance();
          reader.release();
          sink.failed(error);
          count++;
          continue;
        }
        reader.advance();
        if (++count % RELEASE_EVERY === 0) reader.release();
      }
      reader.release();
      total += count;
    }
    return total;
  }

  readonly #turn = (): void => {
    this.#scheduled = false;
    if (this.#stopped) return;
    const drained = this.drain(RECORDS_PER_TURN);
    if (this.#sink.isSaturated()) return; // kick() resumes
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
}
