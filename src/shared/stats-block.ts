// Where each per-worker counter lives in shared memory, and who writes it;
// and the admission words every worker shares for maxConnections. What each
// counter means, and everything derived from that, is in stats.ts.
//
// Stats block: one SharedArrayBuffer per worker index, Float64 words. It
// outlives the worker's thread: a replacement adopts its predecessor's
// block, so counters run on across restarts. Each writer has its own
// 64-byte lines, and each word has exactly one writer, which uses plain
// stores (its read-modify-writes are safe because no other thread writes
// the word). Readers use plain loads of aligned 8-byte words: a figure a
// moment old is fine for stats. Writers also read their own words.
//
//   word          field                  writer                      readers
//   line 0-4      the I/O worker's block
//     0           OPEN_NOW               I/O worker                  stats(), only while the worker runs (*)
//     1           OPENED                 I/O worker                  stats()
//     2           REJECTED               I/O worker                  stats()
//     3           BYTES_IN               I/O worker                  stats()
//     4           BYTES_OUT              I/O worker                  stats()
//     5           FRAMES_IN              I/O worker                  stats()
//     6           SENDS                  I/O worker                  stats()
//     7           STALE_SENDS            I/O worker                  stats()
//     8           PAUSED_READS           I/O worker                  stats()
//     9           EVENT_RING_HIGH_WATER  I/O worker                  stats()
//     10          TRUNCATED_FRAMES       I/O worker                  stats()
//     11          DROPPED_SENDS          I/O worker                  stats()
//     12          STASH_HIGH_WATER       I/O worker                  stats()
//     13          BUFFERED_OUT           I/O worker                  stats()
//     14          EVENT_LOOP_UTILIZATION I/O worker                  stats()
//     15          ABANDONED_BYTES        I/O worker                  stats()
//     16 + code   CLOSED_BASE + code     I/O worker                  stats(); the 'worker-exit' word is never
//                                                                    written: a worker cannot report its own death
//     25..29      unused (room for more close reasons)
//     30          CLOSING_NOW            I/O worker                  stats(), only while the worker runs (*)
//     31          ACCEPT_ERRORS          I/O worker                  stats()
//     32          PROTOCOL_ERRORS        I/O worker                  stats()
//     33          CLOSED_BEFORE_OPEN     I/O worker                  stats()
//     34          TLS_HANDSHAKE_ERRORS   I/O worker                  stats()
//     35..39      unused
//   line 5        the supervisor's block
//     40          RESTARTS               supervisor (main thread)    stats()
//   line 6        the event consumer's block
//     48          WORKER_EXIT_CLOSES     event consumer (**)         stats()
//
// (*) A dead worker's OPEN_NOW keeps its last value until a replacement
//     zeroes it, which the replacement does before it answers any call.
//     The supervisor does not touch the word: stats() reads a worker's
//     connections as 0 from its death until its replacement answers listen().
// (**) The one thread that consumes the event rings and so sees WORKER_EXIT
//     records: the main thread's dispatcher, or the pipeline handed out with
//     consume: true. Never both.
//
// Admission words: one SharedArrayBuffer per server, Int32 words, every
// access atomic (several writers, all with atomic read-modify-writes):
//
//   word     writers                                          readers
//   0        every worker: Atomics.add when it accepts a      every worker: the result of its
//            socket, Atomics.sub when that socket closes or   Atomics.add, against maxConnections
//            is refused; the supervisor: Atomics.sub of a
//            dead worker's count
//   1 + i    worker i: Atomics.add / Atomics.sub beside       the supervisor, through that
//            word 0; the supervisor: Atomics.exchange(0)      exchange
//            once worker i's thread has exited, before its
//            replacement starts
//
// Word 0 counts the sockets every worker holds (from accept until the socket
// is gone, closing ones included), word 1 + i those of worker i, so the
// supervisor can give a dead worker's places back.

import { MAX_WORKERS } from './id.ts';
import { CloseCode } from './records.ts';

/** Float64 word indices in the stats block (see the layout above). */
export const StatField = {
  /** Connections whose open event is written and whose close event is not. */
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
  /** Bytes written to sockets and not yet taken by the kernel, sampled each second. */
  BUFFERED_OUT: 13,
  /** Event-loop utilisation of the worker over the last second, 0 to 1. */
  EVENT_LOOP_UTILIZATION: 14,
  /** Bytes never written because a closing socket outlived closeTimeoutMs (or shutdown's drainMs) and was destroyed. */
  ABANDONED_BYTES: 15,
  /** CLOSED_BASE + close code: connections the worker closed for that reason (never 'worker-exit'). */
  CLOSED_BASE: 16,
  /** Sockets whose close event is written but which are still flushing (a half-closed peer awaiting its release, a close(id) draining). */
  CLOSING_NOW: 30,
  /** Times the worker could not accept (no descriptor free, or its listener failed) and paused accepting. */
  ACCEPT_ERRORS: 31,
  /** Connections closed because their protocol threw or handed the worker something it could not use. */
  PROTOCOL_ERRORS: 32,
  /** Connections that ended before their protocol opened them (a handshake refused or never finished): no events. */
  CLOSED_BEFORE_OPEN: 33,
  /** TLS connections that ended before their handshake was done (failed, abandoned, or past tlsHandshakeTimeoutMs): no events. */
  TLS_HANDSHAKE_ERRORS: 34,
  /** Times this worker index was restarted after its thread died. The supervisor's word. */
  RESTARTS: 40,
  /** Connections of this worker index closed with 'worker-exit'. The event consumer's word. */
  WORKER_EXIT_CLOSES: 48,
} as const;

/** The stats block's Float64 words by writer, first to end (exclusive), each on its own 64-byte lines. */
export const StatsBlock = {
  worker: { first: 0, end: 40 },
  supervisor: { first: 40, end: 48 },
  consumer: { first: 48, end: 56 },
} as const;
export type StatWriter = keyof typeof StatsBlock;

export const STATS_WORDS = StatsBlock.consumer.end;
export const STATS_BYTES = STATS_WORDS * 8;

export function createStatsStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(STATS_BYTES);
}

/** A view of a whole stats block, for any of its writers or readers. */
export function statsView(storage: SharedArrayBuffer): Float64Array {
  return new Float64Array(storage, 0, STATS_WORDS);
}

/** The word holding how many connections closed with the reason `code`. */
export function closedField(code: number): number {
  return code === CloseCode['worker-exit'] ? StatField.WORKER_EXIT_CLOSES : StatField.CLOSED_BASE + code;
}

/** Admission word counting every worker's sockets (see the layout above). */
export const ADMITTED_ALL = 0;
/** Admission word counting worker `index`'s sockets. */
export function admittedBy(index: number): number {
  return 1 + index;
}
export const ADMISSION_WORDS = 1 + MAX_WORKERS;

export function createAdmissionStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(ADMISSION_WORDS * 4);
}
