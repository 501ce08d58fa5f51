// The I/O worker's side of its event ring. Events go straight into the ring;
// when it is full they wait, in order, in a stash, and the sockets whose
// data is stashed stop reading, so TCP flow control pushes back on their
// clients instead of the worker buffering without bound. Once the stash is
// empty again, those sockets resume.
//
// The stash's bound: each socket adds at most the frames of one read before
// it pauses, a connection accepted while the stash is not empty starts
// paused, and once the stash holds more than `stashLimit` bytes the worker
// pauses every socket (onOverLimit), so no further read happens: the stash
// never holds more than stashLimit plus one read (64 KiB), plus the open
// events (at most 72 bytes each) of connections accepted meanwhile.
//
// Records are published once per turn of the worker's event loop (a
// microtask after the callback that wrote them), so the records of one
// socket callback cost one publish.

import {
  OPEN_ADDRESS,
  OPEN_ADDRESS_LENGTH_U8,
  OPEN_FAMILY_U8,
  OPEN_LOCAL_PORT_U16,
  OPEN_REMOTE_PORT_U16,
  RecordKind,
} from '../shared/records.ts';
import type { RingWriter } from '../shared/ring.ts';
import { StatField } from '../shared/stats.ts';

interface StashedEvent {
  kind: number;
  flags: number;
  aux: number;
  id: number;
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const MAX_ADDRESS = 64;

export class EventOutbox {
  readonly #ring: RingWriter;
  readonly #stats: Float64Array;
  readonly #stash: StashedEvent[] = [];
  #stashHead = 0;
  #stashBytes = 0;
  readonly #stashLimit: number;
  readonly #onOverLimit: () => void;
  #publishScheduled = false;
  #wakeScheduled = false;
  #waiting = false;
  readonly #afterPublish: () => void;
  readonly #onResume: () => void;
  #idle: (() => void) | undefined;

  /**
   * `afterPublish` runs after each publish (the worker looks at its command
   * rings there); `onResume` runs when a stash has drained and paused
   * sockets may read again.
   */
  constructor(
    ring: RingWriter,
    stats: Float64Array,
    stashLimit: number,
    hooks: { afterPublish: () => void; onResume: () => void; onOverLimit: () => void },
  ) {
    this.#ring = ring;
    this.#stats = stats;
    this.#stashLimit = stashLimit;
    this.#afterPublish = hooks.afterPublish;
    this.#onResume = hooks.onResume;
    this.#onOverLimit = hooks.onOverLimit;
  }

  /** True while events wait for ring space: new data must be stashed too, and its socket paused. */
  get stalled(): boolean {
    return this.#stashHead < this.#stash.length;
  }

  open(id: number, family: number, address: string, remotePort: number, localPort: number): void {
    const addressLength = Math.min(address.length, MAX_ADDRESS);
    const length = OPEN_ADDRESS + addressLength;
    const offset = this.stalled ? -1 : this.#ring.write(RecordKind.OPEN, 0, 0, id, length);
    const bytes = offset < 0 ? new Uint8Array(length) : this.#ring.bytes;
    const at = offset < 0 ? 0 : offset;
    bytes[at + OPEN_FAMILY_U8] = family;
    bytes[at + OPEN_ADDRESS_LENGTH_U8] = addressLength;
    bytes[at + OPEN_REMOTE_PORT_U16] = remotePort >> 8;
    bytes[at + OPEN_REMOTE_PORT_U16 + 1] = remotePort & 0xff;
    bytes[at + OPEN_LOCAL_PORT_U16] = localPort >> 8;
    bytes[at + OPEN_LOCAL_PORT_U16 + 1] = localPort & 0xff;
    for (let i = 0; i < addressLength; i++) bytes[at + OPEN_ADDRESS + i] = address.charCodeAt(i);
    if (offset < 0) this.#stashEvent(RecordKind.OPEN, 0, id, bytes);
    this.#schedulePublish();
  }

  /** Writes one frame. False when it was stashed: the caller pauses the socket. */
  data(id: number, frame: Uint8Array): boolean {
    const offset = this.stalled ? -1 : this.#ring.write(RecordKind.DATA, 0, 0, id, frame.length);
    this.#schedulePublish();
    if (offset >= 0) {
      this.#ring.bytes.set(frame, offset);
      return true;
    }
    this.#stashEvent(RecordKind.DATA, 0, id, frame.slice());
    return false;
  }

  /** `flags`: CloseFlag bits. */
  close(id: number, code: number, flags: number): void {
    const offset = this.stalled ? -1 : this.#ring.write(RecordKind.CLOSE, flags, code, id, 0);
    if (offset < 0) this.#stashEvent(RecordKind.CLOSE, code, id, EMPTY, flags);
    this.#schedulePublish();
  }

  /** Resolves once every stashed event is in the ring and published. */
  whenFlushed(): Promise<void> {
    this.publish();
    if (!this.stalled) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idle = resolve;
    });
  }

  publish(): void {
    this.#publishScheduled = false;
    if (this.#ring.publishQuietly()) {
      const used = this.#ring.inUse();
      if (used > this.#stats[StatField.EVENT_RING_HIGH_WATER]!) this.#stats[StatField.EVENT_RING_HIGH_WATER] = used;
      // Records are visible at once to a consumer that is draining; one that
      // sleeps is woken once per turn of this worker's event loop, however
      // many socket callbacks published in it (a wake-up is a syscall).
      if (!this.#wakeScheduled) {
        this.#wakeScheduled = true;
        setImmediate(this.#wake);
      }
    }
    this.#afterPublish();
  }

  readonly #wake = (): void => {
    this.#wakeScheduled = false;
    this.#ring.wakeConsumer();
  };

  #schedulePublish(): void {
    if (this.#publishScheduled) return;
    this.#publishScheduled = true;
    queueMicrotask(() => this.publish());
  }

  #stashEvent(kind: number, aux: number, id: number, payload: Uint8Array, flags = 0): void {
    this.#stash.push({ kind, flags, aux, id, payload });
    const before = this.#stashBytes;
    this.#stashBytes += payload.length;
    if (this.#stashBytes > this.#stats[StatField.STASH_HIGH_WATER]!) this.#stats[StatField.STASH_HIGH_WATER] = this.#stashBytes;
    if (before <= this.#stashLimit && this.#stashBytes > this.#stashLimit) this.#onOverLimit();
    if (!this.#waiting) this.#waitForSpace();
  }

  #waitForSpace(): void {
    const first = this.#stash[this.#stashHead]!;
    const bell = this.#ring.armSpaceWait(first.payload.length);
    if (bell < 0) {
      queueMicrotask(() => this.#flushStash());
      this.#waiting = true;
      return;
    }
    this.#waiting = true;
    void this.#ring.waitForSpace(bell).then(() => this.#flushStash());
  }

  #flushStash(): void {
    this.#waiting = false;
    const stash = this.#stash;
    while (this.#stashHead < stash.length) {
      const event = stash[this.#stashHead]!;
      const offset = this.#ring.write(event.kind, event.flags, event.aux, event.id, event.payload.length);
      if (offset < 0) break;
      this.#ring.bytes.set(event.payload, offset);
      this.#stashBytes -= event.payload.length;
      stash[this.#stashHead++] = undefined as unknown as StashedEvent;
    }
    this.#ring.publish();
    if (this.#stashHead < stash.length) {
      this.#waitForSpace();
      return;
    }
    stash.length = 0;
    this.#stashHead = 0;
    this.#onResume();
    const idle = this.#idle;
    this.#idle = undefined;
    idle?.();
  }
}
