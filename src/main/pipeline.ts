// A blocking pipeline: the Go original's goroutine loop for a thread that does
// nothing else. It drains the event rings itself and waits with
// Atomics.wait, so it never needs its event loop; sends go through this
// thread's own command rings (one per worker, single producer).
//
//   const pipe = openPipeline(handle);          // handle from server.pipelineHandle()
//   for (let e = pipe.next(); e !== null; e = pipe.next()) {
//     if (e.type === 'data') pipe.send(e.id, e.data);
//   }
//
// next() returns events in ring order with data as a zero-copy view that is
// valid until the following call; recvOpen/recvData/recvClose pull one kind
// (data copied) and keep the others queued in per-connection order. Use one
// style or the other in a pipeline, not both.

import { Doorbell } from '../shared/doorbell.ts';
import { FlamingoError } from '../shared/errors.ts';
import { CloseFlag, DataFlag, closeReasonName, RecordKind, type CloseReason } from '../shared/records.ts';
import type { RingReader } from '../shared/ring.ts';
import { RingConsumer } from '../shared/ring-consumer.ts';
import { CommandSender, type CommandTarget, type SenderLimits } from './command-sender.ts';
import { OpenTracker } from './open-tracker.ts';
import { type OpenInfo, closeValue, copyBytes, decodeOpen, protocolCloseCode } from './decode.ts';
import { type CloseEvent, type DataEvent, type OpenEvent, PullKind, PullQueues } from './pull-queues.ts';

/** Plain data: post it to the thread that opens the pipeline. */
export interface PipelineHandle extends SenderLimits {
  commandTargets: CommandTarget[];
  /** Present when this pipeline consumes the server's events. */
  events: { rings: SharedArrayBuffer[]; bell: SharedArrayBuffer; slotsPerWorker: number; stats: SharedArrayBuffer[] } | null;
}

export type PipelineEvent =
  | ({ type: 'open'; id: number } & OpenInfo)
  | { type: 'data'; id: number; data: Uint8Array; text: boolean }
  | { type: 'close'; id: number; reason: CloseReason; code?: number };

/** #take's answer when a dead worker's closes are ready to hand out. */
const EXITED = Symbol('exited');

export function openPipeline(handle: PipelineHandle): Pipeline {
  return new Pipeline(handle);
}

export class Pipeline {
  readonly #sender: CommandSender;
  /** The event rings, consumed in blocking mode; undefined for a send-only pipeline. */
  readonly #events: RingConsumer | undefined;
  readonly #queues = new PullQueues(Infinity, true);
  readonly #tracker: OpenTracker | undefined;
  /** Closes made up for a dead worker's connections, handed out before the ring's next record. */
  readonly #exitCloses: number[] = [];

  constructor(handle: PipelineHandle) {
    const sender = new CommandSender(handle.commandTargets, handle, true);
    this.#sender = sender;
    // A half-closed connection's close was handed out: its worker may end it.
    this.#queues.onRelease = (id) => {
      sender.release(id);
      sender.publish();
    };
    const events = handle.events;
    this.#events = events ? new RingConsumer(new Doorbell(events.bell), events.rings) : undefined;
    this.#tracker = events
      ? new OpenTracker(
          events.rings.length,
          events.slotsPerWorker,
          events.stats.map((s) => new Float64Array(s)),
        )
      : undefined;
  }

  send(id: number, data: Uint8Array | string): boolean {
    return this.#sender.send(id, data);
  }

  sendMany(ids: ArrayLike<number>, data: Uint8Array | string): boolean {
    return this.#sender.sendMany(ids, data);
  }

  close(id: number): boolean {
    return this.#sender.closeConnection(id);
  }

  /** Makes every command sent so far visible to the workers (next() and the recv calls do it too). */
  flush(): void {
    this.#sender.publish();
  }

  /**
   * The next event of any kind, blocking up to `timeoutMs`. Null on timeout,
   * or once the server has shut down and every event was returned.
   */
  next(timeoutMs = Infinity): PipelineEvent | null {
    const reader = this.#exitCloses.length > 0 ? EXITED : this.#take(timeoutMs);
    if (reader === EXITED) return { type: 'close', id: this.#exitCloses.shift()!, reason: 'worker-exit' };
    if (reader === undefined) return null;
    switch (reader.kind) {
      case RecordKind.OPEN:
        return { type: 'open', id: reader.id, ...decodeOpen(reader) };
      case RecordKind.DATA:
        return { type: 'data', id: reader.id, data: reader.payload(), text: (reader.flags & DataFlag.TEXT) !== 0 };
      default:
        this.#releaseIfAsked(reader);
        return { type: 'close', ...closeValue(reader.id, closeReasonName(reader.aux), protocolCloseCode(reader)) };
    }
  }

  recvOpen(timeoutMs = Infinity): OpenEvent | null {
    return this.#recv(PullKind.OPEN, timeoutMs) as OpenEvent | null;
  }

  recvData(timeoutMs = Infinity): DataEvent | null {
    return this.#recv(PullKind.DATA, timeoutMs) as DataEvent | null;
  }

  recvClose(timeoutMs = Infinity): CloseEvent | null {
    return this.#recv(PullKind.CLOSE, timeoutMs) as CloseEvent | null;
  }

  #recv(kind: PullKind, timeoutMs: number): unknown {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = this.#queues.tryTake(kind);
      if (value !== undefined) return value;
      const exited = this.#exitCloses.shift();
      if (exited !== undefined) {
        this.#queues.deliver(PullKind.CLOSE, exited, { id: exited, reason: 'worker-exit' });
        continue;
      }
      const reader = this.#take(Math.max(0, deadline - performance.now()));
      if (reader === undefined) return null;
      if (reader === EXITED) continue;
      const id = reader.id;
      if (reader.kind === RecordKind.OPEN) this.#queues.deliver(PullKind.OPEN, id, { id, ...decodeOpen(reader) });
      else if (reader.kind === RecordKind.DATA)
        this.#queues.deliver(PullKind.DATA, id, { id, data: copyBytes(reader.payload()), text: (reader.flags & DataFlag.TEXT) !== 0 });
      else
        this.#queues.deliver(
          PullKind.CLOSE,
          id,
          closeValue(id, closeReasonName(reader.aux), protocolCloseCode(reader)),
          (reader.flags & CloseFlag.AWAITS_RELEASE) !== 0,
        );
    }
  }

  /** Handing out a half-closed connection's close lets its worker end the socket once what was sent before is written. */
  #releaseIfAsked(reader: RingReader): void {
    if ((reader.flags & CloseFlag.AWAITS_RELEASE) === 0) return;
    this.#sender.release(reader.id);
    this.#sender.publish();
  }

  /**
   * Moves to the next record, waiting for one; undefined on timeout or end,
   * EXITED when a dead worker's closes were queued in #exitCloses.
   */
  #take(timeoutMs: number): RingReader | typeof EXITED | undefined {
    this.#sender.publish();
    const events = this.#events;
    if (events === undefined)
      throw new FlamingoError('ERR_FLAMINGO_CONSUMER', 'this pipeline was opened without events; use pipelineHandle({ consume: true })');
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const reader = events.takeSync(Math.max(0, deadline - performance.now()));
      if (reader === undefined) return undefined;
      if (reader.kind === RecordKind.OPEN) this.#tracker!.opened(reader.id);
      else if (reader.kind === RecordKind.CLOSE) this.#tracker!.closed(reader.id);
      else if (reader.kind === RecordKind.WORKER_EXIT) {
        // Turn the marker into one close per id the dead worker held.
        this.#tracker!.workerExited(reader.aux, (id) => this.#exitCloses.push(id));
        events.consumeCurrent();
        if (this.#exitCloses.length > 0) return EXITED;
        continue;
      }
      return reader;
    }
  }
}
