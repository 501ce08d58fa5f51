// The I/O worker's side of its event ring. Events go straight into the ring;
// when it is full they wait, in order, in a stash, and the sockets whose
// data is stashed stop reading, so TCP flow control pushes back on their
// clients instead of the worker buffering without bound. Once the stash is
// empty again, those sockets resume.
//
// The stash's bound: each socket adds at most the events of one read before
// it pauses (its frames, or the open a protocol's handshake completes in
// that read), a connection accepted while the stash is not empty starts
// paused, and once the stash holds more than `stashLimit` bytes the worker
// pauses every socket (onOverLimit), so no further read happens: the stash
// never holds more than stashLimit plus one read (64 KiB), plus the open
// events (at most 72 bytes each) of connections accepted meanwhile.
//
// The ring's producer end (writing in place, the in-order queue that is the
// stash, publishing and waking once per turn) is the shared RingProducer;
// this class adds the event encoding, the stash accounting and the pause
// policy.

import {
  CLOSE_PROTOCOL_CODE_BYTES,
  CLOSE_PROTOCOL_CODE_U16,
  OPEN_ADDRESS,
  OPEN_ADDRESS_LENGTH_U8,
  OPEN_FAMILY_U8,
  OPEN_LOCAL_PORT_U16,
  OPEN_MAX_ADDRESS,
  OPEN_REMOTE_PORT_U16,
  OpenFlag,
  RecordKind,
} from '../shared/records.ts';
import type { Doorbell } from '../shared/doorbell.ts';
import { RingProducer } from '../shared/ring-producer.ts';
import { StatField } from '../shared/stats.ts';

const EMPTY = new Uint8Array(0);

export interface EventOutboxHooks {
  /** Runs after each publish (the worker looks at its command rings there). */
  afterPublish: () => void;
  /** The stash has drained: paused sockets may read again. */
  onResume: () => void;
  /** The stash just went over its limit: every socket must stop reading. */
  onOverLimit: () => void;
}

export class EventOutbox {
  readonly #ring: RingProducer;
  readonly #stats: Float64Array;
  readonly #stashLimit: number;
  readonly #onOverLimit: () => void;

  constructor(eventRing: SharedArrayBuffer, consumerBell: Doorbell, stats: Float64Array, stashLimit: number, hooks: EventOutboxHooks) {
    this.#stats = stats;
    this.#stashLimit = stashLimit;
    this.#onOverLimit = hooks.onOverLimit;
    this.#ring = new RingProducer(eventRing, consumerBell, {
      afterPublish: () => {
        const used = this.#ring.inUse();
        if (used > this.#stats[StatField.EVENT_RING_HIGH_WATER]!) this.#stats[StatField.EVENT_RING_HIGH_WATER] = used;
        hooks.afterPublish();
      },
      onFlushed: hooks.onResume,
    });
  }

  /** True while events wait for ring space: new data must be stashed too, and its socket paused. */
  get stalled(): boolean {
    return this.#ring.stalled;
  }

  /** `request`: a protocol's OpenRequest as UTF-8 JSON, written after the address (see records.ts). */
  open(id: number, family: number, address: string, remotePort: number, localPort: number, request?: Uint8Array): void {
    const addressLength = Math.min(address.length, OPEN_MAX_ADDRESS);
    const length = OPEN_ADDRESS + addressLength + (request?.length ?? 0);
    const flags = request === undefined ? 0 : OpenFlag.REQUEST;
    const offset = this.#ring.reserve(RecordKind.OPEN, flags, 0, id, length);
    const bytes = offset < 0 ? new Uint8Array(length) : this.#ring.bytes;
    const at = Math.max(offset, 0);
    bytes[at + OPEN_FAMILY_U8] = family;
    bytes[at + OPEN_ADDRESS_LENGTH_U8] = addressLength;
    bytes[at + OPEN_REMOTE_PORT_U16] = remotePort >> 8;
    bytes[at + OPEN_REMOTE_PORT_U16 + 1] = remotePort & 0xff;
    bytes[at + OPEN_LOCAL_PORT_U16] = localPort >> 8;
    bytes[at + OPEN_LOCAL_PORT_U16 + 1] = localPort & 0xff;
    for (let i = 0; i < addressLength; i++) bytes[at + OPEN_ADDRESS + i] = address.charCodeAt(i);
    if (request !== undefined) bytes.set(request, at + OPEN_ADDRESS + addressLength);
    if (offset < 0) this.#stash(RecordKind.OPEN, flags, 0, id, bytes);
  }

  /** Writes one frame; `flags`: DataFlag bits. False when it was stashed: the caller pauses the socket. */
  data(id: number, frame: Uint8Array, flags = 0): boolean {
    const offset = this.#ring.reserve(RecordKind.DATA, flags, 0, id, frame.length);
    if (offset >= 0) {
      this.#ring.bytes.set(frame, offset);
      return true;
    }
    this.#stash(RecordKind.DATA, flags, 0, id, frame.slice());
    return false;
  }

  /** `flags`: CloseFlag bits; `protocolCode`: the protocol's own close code (0 to 65535), or -1 for none. */
  close(id: number, code: number, flags: number, protocolCode = -1): void {
    if (protocolCode < 0) {
      if (this.#ring.reserve(RecordKind.CLOSE, flags, code, id, 0) < 0) this.#stash(RecordKind.CLOSE, flags, code, id, EMPTY);
      return;
    }
    const offset = this.#ring.reserve(RecordKind.CLOSE, flags, code, id, CLOSE_PROTOCOL_CODE_BYTES);
    const bytes = offset < 0 ? new Uint8Array(CLOSE_PROTOCOL_CODE_BYTES) : this.#ring.bytes;
    const at = Math.max(offset, 0) + CLOSE_PROTOCOL_CODE_U16;
    bytes[at] = protocolCode & 0xff;
    bytes[at + 1] = protocolCode >>> 8;
    if (offset < 0) this.#stash(RecordKind.CLOSE, flags, code, id, bytes);
  }

  /** Resolves once every stashed event is in the ring and published. */
  whenFlushed(): Promise<void> {
    return this.#ring.whenFlushed();
  }

  #stash(kind: number, flags: number, aux: number, id: number, payload: Uint8Array): void {
    const before = this.#ring.queuedBytes;
    this.#ring.enqueue(kind, flags, aux, id, payload);
    const after = this.#ring.queuedBytes;
    if (after > this.#stats[StatField.STASH_HIGH_WATER]!) this.#stats[StatField.STASH_HIGH_WATER] = after;
    if (before <= this.#stashLimit && after > this.#stashLimit) this.#onOverLimit();
  }
}
