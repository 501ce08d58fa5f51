// Drains every worker's event ring on the main thread without blocking its
// event loop, through the shared RingConsumer (a budget per turn,
// setImmediate between turns while records flow, a waitAsync park on the
// consumer doorbell when every ring is empty). This class is the switch on
// event kind.

import type { Doorbell } from '../shared/doorbell.ts';
import { RecordKind } from '../shared/records.ts';
import type { RingReader } from '../shared/ring.ts';
import { RingConsumer } from '../shared/ring-consumer.ts';
import { protocolCloseCode } from './decode.ts';
import type { OpenTracker } from './open-tracker.ts';

/** Where drained events go. A view passed to data() is valid only during the call. */
export interface EventSink {
  open(id: number, reader: RingReader): void;
  /** `flags`: DataFlag bits (TEXT: the protocol delivered a text message). */
  data(id: number, view: Uint8Array, flags: number): void;
  /**
   * `flags`: CloseFlag bits (AWAITS_RELEASE: hand the close out, then
   * release the id); `protocolCode`: the protocol's own close code (a
   * WebSocket close code), when it gave one.
   */
  close(id: number, code: number, flags?: number, protocolCode?: number): void;
  /** True when the sink wants no more events for now; draining stops until kick(). */
  isSaturated(): boolean;
  /** A handler threw: the record was consumed, the error goes here. */
  failed(error: unknown): void;
}

export class Dispatcher {
  readonly #rings: RingConsumer;
  readonly #sink: EventSink;
  readonly #tracker: OpenTracker;

  constructor(eventRings: readonly SharedArrayBuffer[], bell: Doorbell, sink: EventSink, tracker: OpenTracker) {
    this.#sink = sink;
    this.#tracker = tracker;
    this.#rings = new RingConsumer(bell, eventRings, {
      handle: this.#dispatch,
      onError: (error) => sink.failed(error),
      saturated: sink.isSaturated.bind(sink),
    });
  }

  start(): void {
    this.#rings.start();
  }

  stop(): void {
    this.#rings.stop();
  }

  /** Schedules a drain turn (after the sink stopped being saturated, for instance). */
  kick(): void {
    this.#rings.kick();
  }

  /** Drains up to `budget` records from each ring; returns how many were dispatched. */
  drain(budget = Infinity): number {
    return this.#rings.drain(budget);
  }

  readonly #dispatch = (reader: RingReader): void => {
    const sink = this.#sink;
    switch (reader.kind) {
      case RecordKind.OPEN:
        this.#tracker.opened(reader.id);
        sink.open(reader.id, reader);
        break;
      case RecordKind.DATA:
        sink.data(reader.id, reader.bytes.subarray(reader.offset, reader.offset + reader.length), reader.flags);
        break;
      case RecordKind.CLOSE:
        this.#tracker.closed(reader.id);
        sink.close(reader.id, reader.aux, reader.flags, protocolCloseCode(reader));
        break;
      case RecordKind.WORKER_EXIT:
        this.#tracker.workerExited(reader.aux, sink.close);
        break;
    }
  };
}
