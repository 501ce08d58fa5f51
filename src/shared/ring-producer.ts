// The producer end of one ring: an I/O worker writing events, a thread
// sending commands to one worker, or the supervisor appending a dead
// worker's WORKER_EXIT. Every producer of a ring goes through this class,
// so writing in place, queueing in order when full, waiting for space,
// publishing once per turn and waking the consumer once per turn live in
// one place.
//
// A record is written in place when the ring has room and nothing is
// queued ahead of it; otherwise its payload (a copy the queue owns) waits
// in an in-order overflow queue that flushes as the consumer frees space,
// so records are never reordered and never dropped.
//
// Async mode (the default): records become visible once per microtask (a
// burst of writes from one callback costs one publishing store), and a
// consumer that sleeps is woken once per turn of this thread's event loop
// however many publishes the turn made (a wake-up is a syscall). Blocking
// mode (a dedicated pipeline thread that never yields to its event loop):
// a full ring makes reserve() wait for space with Atomics.wait instead of
// queueing, and records are published by publish(), called by the owner.
//
// Waiting for space loses no wake-up: see RingWriter.armSpaceWait.

import type { Doorbell } from './doorbell.ts';
import { RingWriter } from './ring.ts';

interface QueuedRecord {
  kind: number;
  flags: number;
  aux: number;
  id: number;
  payload: Uint8Array;
}

export interface RingProducerOptions {
  /** Wait for space (Atomics.wait) instead of queueing; publish only in publish(). Default false. */
  blocking?: boolean;
  /** Runs after every scheduled publish, whether or not it published anything. */
  afterPublish?: () => void;
  /** Runs when the overflow queue has drained into the ring (and been published). */
  onFlushed?: () => void;
}

/** A blocking wait for space is cut into slices, so a stuck consumer shows as a loop, not a hang in one call. */
const SPACE_WAIT_SLICE_MS = 1000;

export class RingProducer {
  readonly #writer: RingWriter;
  readonly #blocking: boolean;
  readonly #afterPublish: (() => void) | undefined;
  readonly #onFlushed: (() => void) | undefined;
  readonly #queue: QueuedRecord[] = [];
  #queueHead = 0;
  #queuedBytes = 0;
  #waiting = false;
  #publishScheduled = false;
  #wakeScheduled = false;
  #flushed: (() => void)[] = [];

  constructor(storage: SharedArrayBuffer, consumerBell: Doorbell, options: RingProducerOptions = {}) {
    this.#writer = new RingWriter(storage, consumerBell);
    this.#blocking = options.blocking ?? false;
    this.#afterPublish = options.afterPublish;
    this.#onFlushed = options.onFlushed;
  }

  /** The ring's data region; reserve() returns offsets into it. */
  get bytes(): Uint8Array {
    return this.#writer.bytes;
  }

  /** The largest payload one record may carry. */
  get maxPayload(): number {
    return this.#writer.maxPayload;
  }

  /** True while records wait in the overflow queue: new ones must queue behind them. */
  get stalled(): boolean {
    return this.#queueHead < this.#queue.length;
  }

  /** Records waiting in the overflow queue. */
  get queued(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** Payload bytes waiting in the overflow queue. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Bytes in the ring now, written or published (one atomic load). */
  inUse(): number {
    return this.#writer.inUse();
  }

  /**
   * Writes a record header in place and returns the payload's offset in
   * `bytes` for the caller to fill before the next publish; -1 when the
   * record must be queued instead (enqueue) because the ring is full or
   * records are queued ahead of it. A blocking producer waits for space
   * and never returns -1.
   */
  reserve(kind: number, flags: number, aux: number, id: number, length: number): number {
    if (this.stalled) return -1;
    let offset = this.#writer.write(kind, flags, aux, id, length);
    if (offset < 0 && this.#blocking) {
      this.#waitForSpaceSync(length);
      offset = this.#writer.write(kind, flags, aux, id, length);
    }
    if (offset >= 0 && !this.#blocking) this.#schedulePublish();
    return offset;
  }

  /** Queues a record behind every queued one; the queue owns `payload` from now on. */
  enqueue(kind: number, flags: number, aux: number, id: number, payload: Uint8Array): void {
    this.#queue.push({ kind, flags, aux, id, payload });
    this.#queuedBytes += payload.length;
    if (!this.#waiting) this.#awaitSpace();
  }

  /** Writes a record with a copy of `payload`: true when it went into the ring, false when it was queued. */
  put(kind: number, flags: number, aux: number, id: number, payload: Uint8Array): boolean {
    const offset = this.reserve(kind, flags, aux, id, payload.length);
    if (offset >= 0) {
      this.#writer.bytes.set(payload, offset);
      return true;
    }
    this.enqueue(kind, flags, aux, id, payload.slice());
    return false;
  }

  /** Makes every record written so far visible; a sleeping consumer is woken once per turn (blocking: at once). */
  publish(): void {
    this.#publishScheduled = false;
    if (this.#blocking) {
      this.#writer.publish();
    } else if (this.#writer.publishQuietly() && !this.#wakeScheduled) {
      this.#wakeScheduled = true;
      setImmediate(this.#wake);
    }
    this.#afterPublish?.();
  }

  /** Resolves once every queued record is in the ring and published. */
  whenFlushed(): Promise<void> {
    this.publish();
    if (!this.stalled) return Promise.resolve();
    return new Promise((resolve) => this.#flushed.push(resolve));
  }

  readonly #wake = (): void => {
    this.#wakeScheduled = false;
    this.#writer.wakeConsumer();
  };

  #schedulePublish(): void {
    if (this.#publishScheduled) return;
    this.#publishScheduled = true;
    queueMicrotask(() => this.publish());
  }

  #awaitSpace(): void {
    // What is already written must be visible, or the consumer could never free space.
    this.#writer.publish();
    const head = this.#queue[this.#queueHead]!;
    const bell = this.#writer.armSpaceWait(head.payload.length);
    this.#waiting = true;
    if (bell < 0) queueMicrotask(this.#flushQueue);
    else void this.#writer.waitForSpace(bell).then(this.#flushQueue);
  }

  readonly #flushQueue = (): void => {
    this.#waiting = false;
    const queue = this.#queue;
    while (this.#queueHead < queue.length) {
      const record = queue[this.#queueHead]!;
      const offset = this.#writer.write(record.kind, record.flags, record.aux, record.id, record.payload.length);
      if (offset < 0) break;
      this.#writer.bytes.set(record.payload, offset);
      this.#queuedBytes -= record.payload.length;
      queue[this.#queueHead++] = undefined as unknown as QueuedRecord;
    }
    this.#writer.publish();
    if (this.#queueHead < queue.length) {
      this.#awaitSpace();
      return;
    }
    queue.length = 0;
    this.#queueHead = 0;
    this.#onFlushed?.();
    const waiters = this.#flushed;
    this.#flushed = [];
    for (const resolve of waiters) resolve();
  };

  #waitForSpaceSync(length: number): void {
    this.#writer.publish();
    for (;;) {
      const bell = this.#writer.armSpaceWait(length);
      if (bell < 0) return;
      this.#writer.waitForSpaceSync(bell, SPACE_WAIT_SLICE_MS);
    }
  }
}
