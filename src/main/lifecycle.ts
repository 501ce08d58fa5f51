// The server's lifecycle in shared memory, so every thread that sends
// commands (the main thread and each pipeline) learns at once that the
// server is shutting down, without a message.
//
// Layout (Int32 words, one 64-byte line):
//
//   word 0  STATE    the server writes (Atomics.store); every command sender
//                    reads it (Atomics.load) before it accepts a command
//   word 1  REFUSED  every sender adds to it (Atomics.add, several writers)
//                    when it refuses a command during shutdown; the server
//                    reads it for stats()
//
// While CLOSING, send, sendMany and close return false and do nothing (the
// refusal is counted); once CLOSED they throw ERR_FLAMINGO_SERVER_CLOSED.

export const LIFECYCLE_BYTES = 64;
const STATE = 0;
const REFUSED = 1;

export const LifecycleState = { RUNNING: 0, CLOSING: 1, CLOSED: 2 } as const;
export type LifecycleState = (typeof LifecycleState)[keyof typeof LifecycleState];

export function createLifecycleStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(LIFECYCLE_BYTES);
}

export class Lifecycle {
  readonly storage: SharedArrayBuffer;
  readonly #words: Int32Array;

  constructor(storage: SharedArrayBuffer) {
    this.storage = storage;
    this.#words = new Int32Array(storage, 0, LIFECYCLE_BYTES / 4);
  }

  get state(): LifecycleState {
    return Atomics.load(this.#words, STATE) as LifecycleState;
  }

  /** Only the server calls this. */
  set(state: LifecycleState): void {
    // Publishes the new state to every sender thread.
    Atomics.store(this.#words, STATE, state);
  }

  /** Counts one command refused during shutdown. */
  refuse(): void {
    Atomics.add(this.#words, REFUSED, 1);
  }

  get refused(): number {
    return Atomics.load(this.#words, REFUSED);
  }
}
