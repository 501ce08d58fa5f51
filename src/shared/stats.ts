// Per-worker counters in shared memory. The I/O worker is the only writer
// (plain stores into a Float64Array: one writer, and a reader that sees a
// value a moment old is fine); the consumer side reads a snapshot with no
// round trip. One Float64 per counter, field indices named here.

import { CLOSE_REASONS, type CloseReason } from './records.ts';

export const StatField = {
  OPEN_NOW: 0,
  OPENED: 1,
  REJECTED: 2,
  BYTES_IN: 3,
  BYTES_OUT: 4,
  FRAMES_IN: 5,
  SENDS: 6,
  STALE_SENDS: 7,
  PAUSED_READS: 8,
  EVENT_RING_HIGH_WATER: 9,
  /** Connections that closed with an incomplete frame, which was discarded. */
  TRUNCATED_FRAMES: 10,
  /** Sends dropped by the slowConsumer 'drop' policy. */
  DROPPED_SENDS: 11,
  /** Most bytes the worker held in its stash while its event ring was full. */
  STASH_HIGH_WATER: 12,
  /** Times this worker index was restarted after its thread died (written by the supervisor). */
  RESTARTS: 13,
  /** Bytes written to sockets and not yet taken by the kernel, sampled each second. */
  BUFFERED_OUT: 14,
  /** Event-loop utilisation of the worker over the last second, 0 to 1. */
  EVENT_LOOP_UTILIZATION: 15,
  /** Bytes never written because a closing socket outlived closeTimeoutMs (or shutdown's drainMs) and was destroyed. */
  ABANDONED_BYTES: 16,
  /** CLOSED_BASE + close code: connections closed for that reason. */
  CLOSED_BASE: 17,
} as const;

export const STAT_FIELDS = StatField.CLOSED_BASE + CLOSE_REASONS.length;
export const STATS_BYTES = STAT_FIELDS * 8;

/**
 * The admission words shared by every worker: word 0 counts connections
 * open on all workers (for maxConnections), word 1 + i those of worker i,
 * so the supervisor can give a dead worker's places back.
 */
export const ADMISSION_WORDS = 1 + 64;

export function createStatsStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(STATS_BYTES);
}

export interface WorkerStats {
  worker: number;
  connections: number;
  opened: number;
  rejected: number;
  closed: Record<CloseReason, number>;
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  sends: number;
  staleSends: number;
  droppedSends: number;
  pausedReads: number;
  truncatedFrames: number;
  abandonedBytes: number;
  /** Bytes in the worker's event ring at the moment of the snapshot. */
  eventRingUsed: number;
  eventRingHighWater: number;
  stashHighWater: number;
  restarts: number;
  bufferedOut: number;
  eventLoopUtilization: number;
}

export function readStats(worker: number, counters: Float64Array, eventRingUsed: number): WorkerStats {
  const closed = {} as Record<CloseReason, number>;
  CLOSE_REASONS.forEach((reason, code) => {
    closed[reason] = counters[StatField.CLOSED_BASE + code]!;
  });
  return {
    worker,
    connections: counters[StatField.OPEN_NOW]!,
    opened: counters[StatField.OPENED]!,
    rejected: counters[StatField.REJECTED]!,
    closed,
    bytesIn: counters[StatField.BYTES_IN]!,
    bytesOut: counters[StatField.BYTES_OUT]!,
    framesIn: counters[StatField.FRAMES_IN]!,
    sends: counters[StatField.SENDS]!,
    staleSends: counters[StatField.STALE_SENDS]!,
    droppedSends: counters[StatField.DROPPED_SENDS]!,
    pausedReads: counters[StatField.PAUSED_READS]!,
    truncatedFrames: counters[StatField.TRUNCATED_FRAMES]!,
    abandonedBytes: counters[StatField.ABANDONED_BYTES]!,
    eventRingUsed,
    eventRingHighWater: counters[StatField.EVENT_RING_HIGH_WATER]!,
    stashHighWater: counters[StatField.STASH_HIGH_WATER]!,
    restarts: counters[StatField.RESTARTS]!,
    bufferedOut: counters[StatField.BUFFERED_OUT]!,
    eventLoopUtilization: counters[StatField.EVENT_LOOP_UTILIZATION]!,
  };
}
