// Where the main thread's drained events go: to the server's listeners when
// a kind has one, otherwise to the pull queues. Two promises live here.
//
// User code never stops the engine: a listener that throws is caught after
// Flamingo's own state for the event is settled (the tracker has seen it,
// the record is consumed), and the error goes to 'error' listeners. An
// 'error' listener that throws, or no 'error' listener at all, rethrows it
// on the next tick, outside every loop of Flamingo's, as Node does with an
// emitter's unhandled 'error'.
//
// A half-closed connection's write side stays open until its close has been
// handed out (the CLOSE record's AWAITS_RELEASE flag). The release that lets
// its worker end the socket waits for the next turn: a reply made from a
// microtask (a pull loop's continuation runs after the turn that handed it
// the request) must reach the command ring first.

import type { EventEmitter } from 'node:events';
import { CloseFlag, DataFlag, closeReasonName } from '../shared/records.ts';
import type { RingReader } from '../shared/ring.ts';
import { closeValue, copyBytes, decodeOpen } from './decode.ts';
import type { EventSink } from './dispatcher.ts';
import { PullKind, type PullQueues } from './pull-queues.ts';
import type { ServerEvents } from './server-types.ts';

/** The listener kinds that take events away from the pull queues, by PullKind. */
const KINDS = ['open', 'data', 'close'] as const;

export class EventDelivery implements EventSink {
  readonly #emitter: EventEmitter<ServerEvents>;
  readonly #pull: PullQueues;
  readonly #release: (id: number) => void;
  /** Per PullKind: whether the server has a listener for it. */
  readonly #listening = [false, false, false];
  readonly #releases: number[] = [];

  /** `release` tells the id's worker that its close was handed out. */
  constructor(emitter: EventEmitter<ServerEvents>, pull: PullQueues, release: (id: number) => void) {
    this.#emitter = emitter;
    this.#pull = pull;
    this.#release = release;
    pull.onRelease = (id) => this.#releaseLater(id);
    emitter.on('newListener', (event) => this.#listenersChanged(event, true));
    emitter.on('removeListener', (event) => this.#listenersChanged(event, false));
  }

  open(id: number, reader: RingReader): void {
    const info = decodeOpen(reader);
    if (!this.#listening[PullKind.OPEN]) {
      this.#pull.deliver(PullKind.OPEN, id, { id, ...info });
      return;
    }
    try {
      this.#emitter.emit('open', id, info);
    } catch (error) {
      this.failed(error);
    }
  }

  data(id: number, view: Uint8Array, flags: number): void {
    const text = (flags & DataFlag.TEXT) !== 0;
    if (!this.#listening[PullKind.DATA]) {
      this.#pull.deliver(PullKind.DATA, id, { id, data: copyBytes(view), text });
      return;
    }
    try {
      this.#emitter.emit('data', id, view, text);
    } catch (error) {
      this.failed(error);
    }
  }

  /** Told of every close first, before any listener or pull (topics leave it here). */
  closed: (id: number) => void = () => {};

  readonly close = (id: number, code: number, flags = 0, protocolCode?: number): void => {
    this.closed(id);
    const reason = closeReasonName(code);
    const awaitsRelease = (flags & CloseFlag.AWAITS_RELEASE) !== 0;
    if (!this.#listening[PullKind.CLOSE]) {
      this.#pull.deliver(PullKind.CLOSE, id, closeValue(id, reason, protocolCode), awaitsRelease);
      return;
    }
    try {
      this.#emitter.emit('close', id, reason, protocolCode);
    } catch (error) {
      this.failed(error);
    }
    if (awaitsRelease) this.#releaseLater(id);
  };

  isSaturated(): boolean {
    return this.#pull.saturated;
  }

  /** A listener threw: report it to 'error' listeners, or rethrow it on the next tick. */
  failed(error: unknown): void {
    if (this.#emitter.listenerCount('error') > 0) {
      try {
        this.#emitter.emit('error', error);
        return;
      } catch (thrown) {
        error = thrown;
      }
    }
    process.nextTick(rethrow, error);
  }

  /** Emits an event that is not a record ('drain', 'workerExit', the routing events) with the same guard. */
  emitSafely<K extends 'drain' | 'workerExit' | 'nodeUp' | 'nodeDown' | 'routeError'>(event: K, ...args: ServerEvents[K]): void {
    try {
      (this.#emitter.emit as (event: K, ...args: ServerEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.failed(error);
    }
  }

  #releaseLater(id: number): void {
    if (this.#releases.push(id) === 1) setImmediate(this.#releaseAll);
  }

  readonly #releaseAll = (): void => {
    for (const id of this.#releases) this.#release(id);
    this.#releases.length = 0;
  };

  #listenersChanged(event: string | symbol, added: boolean): void {
    const kind = KINDS.indexOf(event as (typeof KINDS)[number]);
    if (kind < 0) return;
    // 'newListener' fires before the listener is added, 'removeListener' after it is removed.
    if (added) this.#listening[kind] = true;
    else
      queueMicrotask(() => {
        this.#listening[kind] = this.#emitter.listenerCount(KINDS[kind]!) > 0;
      });
  }
}

function rethrow(error: unknown): never {
  throw error;
}
