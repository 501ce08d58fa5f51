// The Go original's pull style: recvOpen(), recvData(), recvClose(), each safe to
// await from many concurrent loops. Each kind has its own queue and its own
// waiters, so a kind that nobody pulls never stalls the others.
//
// Per-connection order across kinds: an event is handed out
// only when no earlier event of the same connection is still queued. Later
// events of that connection wait in its chain and are released, in order,
// as the earlier one is taken. This holds for every kind that has been
// pulled at least once ("consumed"). Events of a kind that nobody has
// pulled yet (and that has no listener, or they would not come here) are
// not consumed by the application at all: they are counted and let go
// rather than kept, so a server that never asks for opens does not hold one
// per connection. A pull loop started right after listen() resolves, before
// anything else is awaited, sees every event of its kind.

import type { CloseReason } from '../shared/records.ts';
import type { OpenInfo } from './decode.ts';
import { Fifo } from './fifo.ts';

export interface OpenEvent extends OpenInfo {
  id: number;
}
export interface DataEvent {
  id: number;
  /** A copy, owned by the caller. */
  data: Buffer;
  /** The protocol delivered it as text (a WebSocket text message); false for the built-in framings. */
  text: boolean;
}
export interface CloseEvent {
  id: number;
  reason: CloseReason;
  /** The protocol's own close code (a WebSocket close code: the peer's, or the one sent); absent when there is none. */
  code?: number;
}

export const PullKind = { OPEN: 0, DATA: 1, CLOSE: 2 } as const;
export type PullKind = (typeof PullKind)[keyof typeof PullKind];
type PullValue = OpenEvent | DataEvent | CloseEvent;
type Waiter = (value: PullValue | null) => void;

interface Pending {
  kind: PullKind;
  id: number;
  value: PullValue;
  /** A half-closed connection's close: once it is handed out, onRelease(id). */
  release: boolean;
}

export class PullQueues {
  readonly #waiters = [new Fifo<Waiter>(), new Fifo<Waiter>(), new Fifo<Waiter>()];
  readonly #queues = [new Fifo<Pending>(), new Fifo<Pending>(), new Fifo<Pending>()];
  readonly #consumed = [false, false, false];
  readonly #chains = new Map<number, { holder: Pending; rest: Pending[] }>();
  #queuedDataBytes = 0;
  /** Events let go because their kind was never pulled. */
  unconsumed = 0;
  /** Called when queued data falls below the limit again. */
  onSpace: () => void = () => {};
  /** Called when a close delivered with `release` is handed out (or let go): the worker may end that socket. */
  onRelease: (id: number) => void = () => {};
  /** Set once no event will come: waiters and later pulls on an empty queue get null. */
  #ended = false;
  readonly #dataLimit: number;

  /** `consumeAll`: every kind counts as pulled from the start (a pipeline owns all its events). */
  constructor(dataLimitBytes: number, consumeAll = false) {
    this.#dataLimit = dataLimitBytes;
    if (consumeAll) this.#consumed.fill(true);
  }

  /** True while so much data waits unpulled that the rings should not be drained further. */
  get saturated(): boolean {
    return this.#queuedDataBytes > this.#dataLimit;
  }

  deliver(kind: PullKind, id: number, value: PullValue, release = false): void {
    const chain = this.#chains.get(id);
    if (chain !== undefined) {
      chain.rest.push({ kind, id, value, release });
      if (kind === PullKind.DATA) this.#queuedDataBytes += (value as DataEvent).data.length;
      return;
    }
    this.#place({ kind, id, value, release }, undefined);
  }

  /**
   * No event will come any more: every waiting pull resolves with null, and
   * so does every later pull once its queue is empty (events already queued
   * are still handed out first), as a closed channel does in the Go original.
   */
  end(): void {
    this.#ended = true;
    for (const waiters of this.#waiters) {
      for (let waiter = waiters.shift(); waiter !== undefined; waiter = waiters.shift()) waiter(null);
    }
  }

  recv(kind: PullKind): Promise<PullValue | null> {
    this.#consumed[kind] = true;
    const pending = this.#queues[kind]!.shift();
    if (pending === undefined) {
      if (this.#ended) return Promise.resolve(null);
      return new Promise((resolve) => this.#waiters[kind]!.push(resolve));
    }
    if (pending.release) this.onRelease(pending.id);
    // The connection's later events are released only after this one's
    // taker has run: released at once, a later event could go to a waiter
    // whose continuation was queued before the taker's.
    setImmediate(() => this.#taken(pending));
    return Promise.resolve(pending.value);
  }

  /** Takes the next deliverable event of `kind` without waiting (for blocking pipelines). */
  tryTake(kind: PullKind): PullValue | undefined {
    this.#consumed[kind] = true;
    const pending = this.#queues[kind]!.shift();
    if (pending === undefined) return undefined;
    if (pending.release) this.onRelease(pending.id);
    this.#taken(pending);
    return pending.value;
  }

  /** Hands `event` to a waiter or queues it; returns true when it queued and now holds up its connection. */
  #place(event: Pending, rest: Pending[] | undefined): boolean {
    if (!this.#consumed[event.kind]) {
      this.unconsumed++;
      if (event.release) this.onRelease(event.id);
      return false;
    }
    const waiter = this.#waiters[event.kind]!.shift();
    if (waiter !== undefined) {
      if (event.release) this.onRelease(event.id);
      waiter(event.value);
      return false;
    }
    const queue = this.#queues[event.kind]!;
    queue.push(event);
    if (event.kind === PullKind.DATA) this.#queuedDataBytes += (event.value as DataEvent).data.length;
    this.#chains.set(event.id, { holder: event, rest: rest ?? [] });
    return true;
  }

  #taken(event: Pending): void {
    if (event.kind === PullKind.DATA) {
      const wasSaturated = this.saturated;
      this.#queuedDataBytes -= (event.value as DataEvent).data.length;
      if (wasSaturated && !this.saturated) queueMicrotask(this.onSpace);
    }
    const chain = this.#chains.get(event.id);
    if (chain === undefined || chain.holder !== event) return;
    this.#chains.delete(event.id);
    const rest = chain.rest;
    for (let i = 0; i < rest.length; i++) {
      const next = rest[i]!;
      if (next.kind === PullKind.DATA) this.#queuedDataBytes -= (next.value as DataEvent).data.length;
      if (this.#place(next, rest.slice(i + 1))) return;
    }
  }
}
