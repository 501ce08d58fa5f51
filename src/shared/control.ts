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
  /** Test hook: throws an uncaught exception in the worker on its next turn. */
  injectFault(): void;
}
