// The pub/sub example's two halves wired together in one thread: its
// Broker (main thread) on a stand-in for Flamingo's Server, and its protocol
// (I/O workers) on a recording host, with topics kept here. Connections are
// slots; what a client sends goes through the protocol's read(), what the
// application sends through its encode(), in order, as in a worker. For
// testing the commands fast and deterministically; the end-to-end tests
// then run the same code in real processes.

import { EventEmitter } from 'node:events';
import { Broker } from '../../examples/pubsub/broker.ts';
import { execute } from '../../examples/pubsub/commands.ts';
import createPubSubProtocol from '../../examples/pubsub/protocol.ts';
import type { Protocol, ProtocolCloseReason, ProtocolHost, Server } from '../../src/main/index.ts';

export class PubSubLoop extends EventEmitter {
  readonly options = { cluster: null, host: '127.0.0.1' };
  readonly port = 6380;
  readonly node = 0;
  readonly protocol: Protocol;
  readonly broker: Broker;
  readonly #output = new Map<number, Buffer[]>();
  readonly #ended = new Set<number>();
  readonly #topics = new Map<string, Set<number>>();
  /** Deliveries wait for the end of the read, as events wait for the consumer's turn. */
  readonly #deliveries: Array<[number, Buffer]> = [];

  constructor() {
    super();
    const host: ProtocolHost = {
      maxFrameBytes: 1024 * 1024,
      slotCount: 256,
      deliver: (slot, message) => {
        if (!this.#ended.has(slot)) this.#deliveries.push([slot, Buffer.from(message)]);
      },
      write: (slot, bytes) => this.#out(slot, bytes),
      close: (slot, _reason: ProtocolCloseReason, finalBytes) => {
        if (finalBytes !== undefined) this.#out(slot, finalBytes);
        this.#ended.add(slot);
      },
      open: () => {},
      setTimer: () => {},
      clearTimer: () => {},
    };
    this.protocol = createPubSubProtocol(host, undefined);
    this.broker = new Broker(this as unknown as Server, execute);
  }

  /** A client writes `bytes`; resolves once every request in them has been answered, asynchronous ones too. */
  async write(slot: number, bytes: Uint8Array | string): Promise<void> {
    this.protocol.read(slot, typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    for (const [id, request] of this.#deliveries.splice(0)) this.emit('data', id, request);
    // Subscriptions resolve in microtasks here: by the next macrotask they, and the requests queued behind them, have run.
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Everything written to the connection so far, taken (the next call returns only what came after). */
  read(slot: number): string {
    const text = Buffer.concat(this.#output.get(slot) ?? []).toString('latin1');
    this.#output.delete(slot);
    return text;
  }

  /** Whether the connection has ended (QUIT, a protocol error). */
  ended(slot: number): boolean {
    return this.#ended.has(slot);
  }

  /** The client goes away. */
  disconnect(slot: number): void {
    this.#ended.add(slot);
    this.protocol.disconnect!(slot);
    for (const members of this.#topics.values()) members.delete(slot);
    this.emit('close', slot, 'peer');
  }

  // The Server surface the Broker uses.

  send(id: number, payload: Uint8Array): boolean {
    if (this.#ended.has(id)) return true;
    this.#out(id, this.protocol.encode!(id, payload, false));
    return true;
  }

  subscribe(id: number, topic: string): Promise<boolean> {
    let members = this.#topics.get(topic);
    if (members === undefined) this.#topics.set(topic, (members = new Set()));
    members.add(id);
    return Promise.resolve(true);
  }

  unsubscribe(id: number, topic: string): Promise<boolean> {
    return Promise.resolve(this.#topics.get(topic)?.delete(id) ?? false);
  }

  publish(topic: string, payload: Uint8Array): boolean {
    for (const id of this.#topics.get(topic) ?? []) this.send(id, payload);
    return true;
  }

  close(id: number): boolean {
    this.#ended.add(id);
    return true;
  }

  stats(): { connections: number } {
    return { connections: 1 };
  }

  /** Topics and their members, for checking the broker's bookkeeping. */
  members(topic: string): number[] {
    return [...(this.#topics.get(topic) ?? [])];
  }

  #out(slot: number, bytes: Uint8Array | readonly Uint8Array[]): void {
    if (this.#ended.has(slot)) return;
    const list = this.#output.get(slot) ?? [];
    for (const piece of Array.isArray(bytes) ? bytes : [bytes]) list.push(Buffer.from(piece as Uint8Array));
    this.#output.set(slot, list);
  }
}
