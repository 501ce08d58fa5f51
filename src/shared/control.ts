// What the consumer side and an I/O worker agree on outside the rings: the
// data a worker starts with, and the control-plane API it exposes over
// comlink. Nothing here is on the data path.

import type { ResolvedOptions } from './options.ts';

export interface WorkerInit {
  index: number;
  options: ResolvedOptions;
  /** Worker to consumer events. */
  eventRing: SharedArrayBuffer;
  /** The event consumer's doorbell, rung by every worker's event ring. */
  consumerBell: SharedArrayBuffer;
  /** This worker's doorbell, rung by every command ring it drains. */
  commandBell: SharedArrayBuffer;
  /** Command rings from producers known at start. */
  commandRings: SharedArrayBuffer[];
  /** Slot states: Uint32 per slot, generation | SLOT_OPEN while open. */
  slotStates: SharedArrayBuffer;
  /** Counters, see stats.ts. */
  stats: SharedArrayBuffer;
  /** Admission words, see ADMISSION_WORDS in stats.ts. */
  admission: SharedArrayBuffer;
}

/** Set in a slot state while its connection is open (its close not yet sent). */
export const SLOT_OPEN = 0x8000_0000;
export const SLOT_GENERATION_MASK = 0x7fff_ffff;

export interface ShutdownReport {
  /** Bytes accepted for sending that were still queued when drainMs ran out. */
  abandonedBytes: number;
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
  /** Test hook: throws an uncaught exception in the worker on its next turn. */
  injectFault(): void;
}
