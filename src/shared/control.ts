// What the consumer side and an I/O worker agree on outside the rings: the
// data a worker starts with, and the control-plane API it exposes over
// comlink. Nothing here is on the data path.
//
// Slot states (WorkerInit.slotStates): one SharedArrayBuffer per worker
// index, one Uint32 word per slot of its connection table, then one word
// for the run's generation base.
//
//   word    value                     writer                       readers
//   slot    generation of the last    the I/O worker, when it      that worker (plain loads of its own
//           connection given the      gives the slot to a new      writes); after a restart, its
//           slot (0: never used)      connection (Atomics.store)   replacement, once per slot, before
//                                                                  it first gives the slot out (Atomics.load)
//   slots   the generation a never-   the supervisor, before the   the worker, at start
//           used slot counts up from  storage is posted
//
// The base sits in a word of its own rather than in every slot: filling a
// million slots would make every page of the storage resident at start.
//
// Nothing else reads these words, and nothing marks a slot open or closed
// here: the consumer knows which ids are open from the events it received
// (open-tracker.ts). They are in shared memory only because they must
// outlive the worker's thread: a replacement carries each slot's
// generation on from where the dead worker left it, so no new id repeats
// one the dead worker gave out (commands for those ids stay stale).

import type { ResolvedOptions } from './options.ts';
import type { ResolvedTls } from './tls-options.ts';

export interface WorkerInit {
  index: number;
  /** Its `tls` is the latest certificates: the supervisor replaces it on setSecureContext, so a replacement worker starts with those. */
  options: ResolvedOptions;
  /** Worker to consumer events. */
  eventRing: SharedArrayBuffer;
  /** The event consumer's doorbell, rung by every worker's event ring. */
  consumerBell: SharedArrayBuffer;
  /** This worker's doorbell, rung by every command ring it drains. */
  commandBell: SharedArrayBuffer;
  /** Command rings from producers known at start. */
  commandRings: SharedArrayBuffer[];
  /** Each slot's generation, kept across restarts (layout above). */
  slotStates: SharedArrayBuffer;
  /** The stats block (layout in stats.ts). */
  stats: SharedArrayBuffer;
  /** The test-only fault hook (injectFault) works: set when FLAMINGO_FAULT_HOOKS=1 was in the environment at start. */
  faultHooks: boolean;
  /** The admission words every worker shares (layout in stats.ts). */
  admission: SharedArrayBuffer;
}

/** `base`: the generation every slot counts up from in this run (so a new run never repeats an earlier run's ids). */
export function createSlotStatesStorage(slots: number, base = 0): SharedArrayBuffer {
  const storage = new SharedArrayBuffer((slots + 1) * Uint32Array.BYTES_PER_ELEMENT);
  new Uint32Array(storage)[slots] = base;
  return storage;
}

export interface ShutdownReport {
  /** Bytes accepted for sending that were still queued when drainMs ran out. */
  abandonedBytes: number;
}

/** One connection as an I/O worker sees it. */
export interface ConnectionInfo {
  id: number;
  worker: number;
  address: string;
  port: number;
  family: 4 | 6;
  localPort: number;
  /** Milliseconds since the connection opened. */
  ageMs: number;
  bytesIn: number;
  bytesOut: number;
  /** Bytes written to the socket that the kernel has not taken yet. */
  bufferedBytes: number;
}

/** A page of ids; pass `next` back to continue, until it is null. */
export interface IdPage {
  ids: number[];
  next: number | null;
}

/** What a worker's acceptor met while it could not take connections (see acceptor.ts). */
export interface AcceptErrors {
  /**
   * Failed attempts to accept: a check that found no file descriptor free
   * (EMFILE: the process's limit; ENFILE: the system's), an error the
   * listener reported, a listener that could not be reopened. Each is
   * followed by a pause in accepting of about 100 ms. The stats word
   * ACCEPT_ERRORS of this worker index, so it runs on across restarts.
   */
  count: number;
  /** The code of the last one ('EMFILE', 'ENFILE', ...), or null. */
  lastCode: string | null;
  /** Whether the worker listens now: false while it backs off, and once it stopped accepting. */
  listening: boolean;
}

export interface WorkerApi {
  /** Starts listening; resolves with the bound port. */
  listen(port: number): Promise<number>;
  /** Adopts another producer's command ring. */
  addCommandRing(storage: SharedArrayBuffer): void;
  /** Stops accepting connections; open ones are kept. */
  stopAccepting(): Promise<void>;
  /** Delivers accepted sends, closes every connection with 'shutdown', and resolves once every close is published. */
  shutdown(drainMs: number): Promise<ShutdownReport>;
  /** Details of the live connection with this slot and generation, or null. */
  connectionInfo(slot: number, generation: number): ConnectionInfo | null;
  /** Up to `limit` ids of open connections, scanning slots from `cursor`. */
  listIds(cursor: number, limit: number): IdPage;
  /** The acceptor's errors so far. */
  acceptErrors(): AcceptErrors;
  /** With `tls`: certificates for every connection accepted from now on (open ones keep theirs); throws what OpenSSL says of bad ones, and keeps the current. */
  setSecureContext(tls: ResolvedTls): void;
  /** Test hook (testing.ts): throws an uncaught exception in the worker on its next turn; does nothing unless WorkerInit.faultHooks. */
  injectFault(): void;
}
