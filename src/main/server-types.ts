// The types of the server's public surface that other modules of the
// consumer side share (the event map, the stats snapshot), kept apart from
// the Server class so that those modules need not import it.

import type { CloseReason } from '../shared/records.ts';
import type { StatTotals, WorkerStats } from '../shared/stats.ts';
import type { RoutingStats } from './cluster/routing-stats.ts';
import type { OpenInfo } from './decode.ts';

export interface ServerEvents {
  open: [id: number, info: OpenInfo];
  /** `text`: the protocol delivered the message as text (a WebSocket text message); always false for the built-in framings. */
  data: [id: number, data: Uint8Array, text: boolean];
  /** `code`: the protocol's own close code (a WebSocket close code: the peer's, or the one sent), undefined when there is none. */
  close: [id: number, reason: CloseReason, code: number | undefined];
  drain: [];
  error: [error: unknown];
  /** An I/O worker's thread died; its connections closed with 'worker-exit' and a replacement is starting. */
  workerExit: [worker: number, error: unknown];
  /** A node's lease appeared (a node started, or came back). */
  nodeUp: [node: number];
  /** A node's lease lapsed: it is gone, and sends to its ids are counted undeliverable; drop its ids from your stores. */
  nodeDown: [node: number];
  /**
   * Routing through Redis failed (Redis unreachable, the lease taken by
   * another process). The server serves on and recovers by itself; the
   * state is in stats().routing. Without a listener, a process warning.
   */
  routeError: [error: Error];
  newListener: [event: string | symbol, listener: unknown];
  removeListener: [event: string | symbol, listener: unknown];
}

export interface ShutdownOptions {
  /** How long to wait for queued sends to reach the clients before closing anyway. Default 5000. */
  drainMs?: number;
}

/** The sums over every worker of the figures stats.ts marks with a total (workerRestarts among them), and the consumer side's own. */
export interface ServerStats extends StatTotals {
  /** Events of a kind with no listener that nobody had pulled: let go, not kept. */
  unconsumedEvents: number;
  /** send, sendMany and close calls refused (returned false) because shutdown had begun. */
  refusedSends: number;
  /** Routing between nodes and topics (see RoutingStats). */
  routing: RoutingStats;
  workers: WorkerStats[];
}

/** Anything that can take a stats snapshot: what the metrics need of a server. */
export interface StatsSource {
  stats(): ServerStats;
}
