// The producer side of one thread's command rings: one ring to each I/O
// worker, so every ring has a single producer. Routing a command costs no
// lookup: the worker index is in the id.
//
// Backpressure follows Node's stream contract. When a ring is full, an
// async sender still accepts the command (copied into an overflow queue in
// this thread, in order behind anything already queued) and returns false;
// once every queue has drained into its ring, onDrain runs. A blocking
// sender (a dedicated pipeline thread) waits for space instead and always
// returns true. What is buffered: ring bytes (commandRingBytes per worker)
// plus, for an async sender, the overflow queue, which grows only while the
// application keeps sending after a false.
//
// A send is one message however large: one larger than a record travels as
// pieces flagged CONTINUES, contiguous in its ring, and the worker writes it
// only once it has every piece. A message over maxMessageBytes (the
// server's maxBufferedBytes) is refused at the call: no socket could take it.

import { FlamingoError, describe } from '../shared/errors.ts';
import { idNode, idWorker, isWellFormedId } from '../shared/id.ts';
import { RecordKind, SEND_MANY_IDS, SendFlag } from '../shared/records.ts';
import { RingProducer } from '../shared/ring-producer.ts';
import { Doorbell } from '../shared/doorbell.ts';
import { Lifecycle, LifecycleState } from './lifecycle.ts';

export interface CommandTarget {
  ring: SharedArrayBuffer;
  workerBell: SharedArrayBuffer;
}

/** What every sender of one server shares: plain data, so it can be posted to a pipeline thread. */
export interface SenderLimits {
  node: number;
  /** The largest message one send may carry (the server's maxBufferedBytes). */
  maxMessageBytes: number;
  /** The server's lifecycle block (lifecycle.ts). */
  lifecycle: SharedArrayBuffer;
}

const EMPTY = new Uint8Array(0);

export class CommandSender {
  /** One producer per worker's ring: the shared RingProducer does the in-place writes, the in-order queue and the publishing. */
  readonly #rings: RingProducer[];
  readonly #ringBuffers: Buffer[];
  readonly #node: number;
  readonly #maxMessage: number;
  readonly #lifecycle: Lifecycle;
  #owesDrain = false;
  #scratch = new Float64Array(1024);
  onDrain: () => void = () => {};

  constructor(targets: readonly CommandTarget[], limits: SenderLimits, blocking: boolean) {
    const onFlushed = (): void => this.#flushed();
    this.#rings = targets.map((t) => new RingProducer(t.ring, new Doorbell(t.workerBell), { blocking, onFlushed }));
    this.#ringBuffers = this.#rings.map((r) => Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength));
    this.#node = limits.node;
    this.#maxMessage = limits.maxMessageBytes;
    this.#lifecycle = new Lifecycle(limits.lifecycle);
  }

  /** Commands waiting in overflow queues, not yet in a ring. */
  get queuedCommands(): number {
    let total = 0;
    for (const ring of this.#rings) total += ring.queued;
    return total;
  }

  /** A string is sent as its UTF-8 bytes, flagged as text for a protocol that cares (WebSocket). */
  send(id: number, data: Uint8Array | string): boolean {
    const worker = this.#route(id);
    if (this.#refusing()) return false;
    const ring = this.#rings[worker]!;
    let text = 0;
    if (typeof data === 'string') {
      text = SendFlag.TEXT;
      if (data.length * 3 <= Math.min(ring.maxPayload, this.#maxMessage)) {
        const length = Buffer.byteLength(data);
        const offset = ring.reserve(RecordKind.SEND, text, 0, id, length);
        if (offset >= 0) {
          this.#ringBuffers[worker]!.write(data, offset, length, 'utf8');
          return true;
        }
      }
      data = Buffer.from(data, 'utf8');
    } else if (!(data instanceof Uint8Array)) {
      throw new FlamingoError('ERR_FLAMINGO_INVALID_PAYLOAD', `send() takes a Uint8Array, Buffer or string; got ${describe(data)}`);
    }
    this.#checkSize(data.length, 'send');
    // An empty message still goes: a protocol that frames sends (WebSocket) sends an empty message.
    if (data.length <= ring.maxPayload) return this.#put(worker, RecordKind.SEND, text, id, data);
    let accepted = true;
    for (let start = 0; start < data.length; start += ring.maxPayload) {
      const end = Math.min(data.length, start + ring.maxPayload);
      const flags = (end < data.length ? SendFlag.CONTINUES : 0) | text;
      accepted = this.#put(worker, RecordKind.SEND, flags, id, data.subarray(start, end)) && accepted;
    }
    return accepted;
  }

  closeConnection(id: number): boolean {
    const worker = this.#route(id);
    if (this.#refusing()) return false;
    return this.#put(worker, RecordKind.CLOSE_CONN, 0, id, EMPTY);
  }

  /**
   * Tells the worker that the consumer has handed out the close of a
   * half-closed connection: what this thread sent it before is all it will
   * get. Internal; works during shutdown too.
   */
  release(id: number): void {
    if (this.#lifecycle.state === LifecycleState.CLOSED || !isWellFormedId(id) || idWorker(id) >= this.#rings.length) return;
    this.#put(idWorker(id), RecordKind.RELEASE, 0, id, EMPTY);
  }

  sendMany(ids: ArrayLike<number>, data: Uint8Array | string): boolean {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const text = typeof data === 'string' ? SendFlag.TEXT : 0;
    if (!(bytes instanceof Uint8Array)) {
      throw new FlamingoError('ERR_FLAMINGO_INVALID_PAYLOAD', `sendMany() takes a Uint8Array, Buffer or string; got ${describe(data)}`);
    }
    if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number') {
      throw new FlamingoError('ERR_FLAMINGO_INVALID_ID', `sendMany() takes an array of connection ids; got ${describe(ids)}`);
    }
    // Validate every id first, so a bad one sends nothing.
    const perWorker = new Array<number>(this.#rings.length).fill(0);
    for (let i = 0; i < ids.length; i++) perWorker[this.#route(ids[i]!)]!++;
    if (this.#refusing()) return false;
    this.#checkSize(bytes.length, 'sendMany');
    if (ids.length > this.#scratch.length) this.#scratch = new Float64Array(ids.length);
    const sorted = this.#scratch;
    const starts: number[] = [];
    let at = 0;
    for (const count of perWorker) {
      starts.push(at);
      at += count;
    }
    const fill = starts.slice();
    for (let i = 0; i < ids.length; i++) sorted[fill[idWorker(ids[i]!)]!++] = ids[i]!;
    let accepted = true;
    for (let worker = 0; worker < this.#rings.length; worker++) {
      const count = perWorker[worker]!;
      if (count === 0) continue;
      const ring = this.#rings[worker]!;
      const perRecord = Math.floor((ring.maxPayload - SEND_MANY_IDS - bytes.length) / 8);
      if (perRecord < 1) {
        for (let i = 0; i < count; i++) accepted = this.send(sorted[starts[worker]! + i]!, typeof data === 'string' ? data : bytes) && accepted;
        continue;
      }
      for (let done = 0; done < count; done += perRecord) {
        const n = Math.min(perRecord, count - done);
        accepted = this.#putMany(worker, sorted.subarray(starts[worker]! + done, starts[worker]! + done + n), bytes, text) && accepted;
      }
    }
    return accepted;
  }

  /**
   * Publishes every ring now. A worker that is busy sees the commands at
   * once (it looks after each batch of socket callbacks); one that sleeps
   * is woken once per turn of this thread (at once for a blocking sender).
   */
  publish(): void {
    for (const ring of this.#rings) ring.publish();
  }

  #route(id: number): number {
    if (!isWellFormedId(id) || idNode(id) !== this.#node || idWorker(id) >= this.#rings.length) {
      throw new FlamingoError(
        'ERR_FLAMINGO_INVALID_ID',
        `not a connection id of this server (node ${this.#node}, ${this.#rings.length} workers): ${describe(id)}`,
      );
    }
    return idWorker(id);
  }

  /** True (and counted) when a command must be refused because shutdown has begun; throws once the server has shut down. */
  refuses(): boolean {
    return this.#refusing();
  }

  /** Throws ERR_FLAMINGO_PAYLOAD_TOO_LARGE for a message no socket of this server could take. */
  checkSize(length: number, call: string): void {
    this.#checkSize(length, call);
  }

  /** During shutdown a command is refused (false, counted); after it, it throws. */
  #refusing(): boolean {
    const state = this.#lifecycle.state;
    if (state === LifecycleState.RUNNING) return false;
    if (state === LifecycleState.CLOSED) throw new FlamingoError('ERR_FLAMINGO_SERVER_CLOSED', 'the server has shut down; no command can be sent');
    this.#lifecycle.refuse();
    return true;
  }

  #checkSize(length: number, call: string): void {
    if (length > this.#maxMessage) {
      throw new FlamingoError(
        'ERR_FLAMINGO_PAYLOAD_TOO_LARGE',
        `${call}() of ${length} bytes is larger than maxBufferedBytes (${this.#maxMessage}), the most one connection may have queued; raise maxBufferedBytes to send larger messages`,
      );
    }
  }

  /** Writes a command with a copy of `payload`; false when it had to queue (a 'drain' is then owed). */
  #put(worker: number, kind: number, flags: number, id: number, payload: Uint8Array): boolean {
    if (this.#rings[worker]!.put(kind, flags, 0, id, payload)) return true;
    this.#owesDrain = true;
    return false;
  }

  /** `flags`: SendFlag.TEXT or 0. */
  #putMany(worker: number, ids: Float64Array, bytes: Uint8Array, flags: number): boolean {
    const ring = this.#rings[worker]!;
    const length = SEND_MANY_IDS + ids.length * 8 + bytes.length;
    const offset = ring.reserve(RecordKind.SEND_MANY, flags, 0, 0, length);
    const target = offset >= 0 ? ring.bytes : new Uint8Array(length);
    const at = Math.max(offset, 0);
    new Uint32Array(target.buffer, target.byteOffset + at, 2).set([ids.length, 0]);
    new Float64Array(target.buffer, target.byteOffset + at + SEND_MANY_IDS, ids.length).set(ids);
    target.set(bytes, at + SEND_MANY_IDS + ids.length * 8);
    if (offset >= 0) return true;
    ring.enqueue(RecordKind.SEND_MANY, flags, 0, 0, target);
    this.#owesDrain = true;
    return false;
  }

  /** One ring's queue drained: once every queue has, the owed 'drain' follows. */
  #flushed(): void {
    if (this.#owesDrain && this.queuedCommands === 0) {
      this.#owesDrain = false;
      this.onDrain();
    }
  }
}
