// Per-worker counters in shared memory, so the consumer side reads a
// snapshot with no round trip; and the admission words that every worker
// shares for maxConnections.
//
// STATS lists every figure of a worker's stats once: its WorkerStats key,
// where it lives, its one writer, its Prometheus name, help and type, and
// the server total it is summed into. readStats(), sumTotals(), the
// metrics (metrics.ts) and the docs tables are derived from it; adding a
// counter is a StatField word and a STATS entry.
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
//   line 0-3      the I/O worker's block
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
//   line 4        the supervisor's block
//     32          RESTARTS               supervisor (main thread)    stats()
//   line 5        the event consumer's block
//     40          WORKER_EXIT_CLOSES     event consumer (**)         stats()
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
import { CLOSE_REASONS, CloseCode, type CloseReason } from './records.ts';

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
  /** Times this worker index was restarted after its thread died. The supervisor's word. */
  RESTARTS: 32,
  /** Connections of this worker index closed with 'worker-exit'. The event consumer's word. */
  WORKER_EXIT_CLOSES: 40,
} as const;

/** The stats block's Float64 words by writer, first to end (exclusive), each on its own 64-byte lines. */
export const StatsBlock = {
  worker: { first: 0, end: 32 },
  supervisor: { first: 32, end: 40 },
  consumer: { first: 40, end: 48 },
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

interface Figure {
  /** Its key in WorkerStats. */
  readonly key: string;
  /** Its Prometheus name, without the prefix. */
  readonly metric: string;
  /** The metric's help text, and the field's meaning in the docs. */
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  /** The ServerStats key its sum over the workers goes to; absent when it is not summed. */
  readonly total?: string;
}

/** A figure kept in the stats block. */
export interface BlockFigure extends Figure {
  /** Its StatField word; with byReason, the first of one word per close reason (see closedField). */
  readonly field: number;
  /** Its one writer: the field lies in that writer's StatsBlock. */
  readonly writer: StatWriter;
  /** One count per close reason: a Record<CloseReason, number>, and a `reason` label. */
  readonly byReason?: true;
  /** Reads 0 while the worker is not running (see the (*) note above). */
  readonly whileRunning?: true;
}

/** A figure read from the worker's event ring (its fill level, from the ring's indices), not from the stats block. */
export interface RingFigure extends Figure {
  readonly field: 'event ring';
}

export type StatDescriptor = BlockFigure | RingFigure;

const STAT_LIST = [
  {
    key: 'connections',
    field: StatField.OPEN_NOW,
    writer: 'worker',
    whileRunning: true,
    metric: 'connections',
    help: 'Connections open now.',
    type: 'gauge',
    total: 'connections',
  },
  {
    key: 'closing',
    field: StatField.CLOSING_NOW,
    writer: 'worker',
    whileRunning: true,
    metric: 'closing_connections',
    help: 'Connections whose close was reported but whose socket is still flushing (a half-closed client awaiting its last replies, a close(id) draining), at most closeTimeoutMs; they still hold a place under maxConnections.',
    type: 'gauge',
    total: 'closing',
  },
  {
    key: 'opened',
    field: StatField.OPENED,
    writer: 'worker',
    metric: 'connections_opened_total',
    help: 'Connections opened (delivered as open events).',
    type: 'counter',
    total: 'opened',
  },
  {
    key: 'rejected',
    field: StatField.REJECTED,
    writer: 'worker',
    metric: 'connections_rejected_total',
    help: 'Connections accepted and closed at once by maxConnections or maxConnectionsPerWorker.',
    type: 'counter',
    total: 'rejected',
  },
  {
    key: 'closed',
    field: StatField.CLOSED_BASE,
    writer: 'worker',
    byReason: true,
    metric: 'connections_closed_total',
    help: 'Connections closed, by worker and close reason.',
    type: 'counter',
    total: 'closed',
  },
  {
    key: 'bytesIn',
    field: StatField.BYTES_IN,
    writer: 'worker',
    metric: 'received_bytes_total',
    help: 'Bytes read from clients.',
    type: 'counter',
    total: 'bytesIn',
  },
  {
    key: 'bytesOut',
    field: StatField.BYTES_OUT,
    writer: 'worker',
    metric: 'sent_bytes_total',
    help: 'Bytes written to client sockets.',
    type: 'counter',
    total: 'bytesOut',
  },
  {
    key: 'framesIn',
    field: StatField.FRAMES_IN,
    writer: 'worker',
    metric: 'received_frames_total',
    help: 'Frames delivered as data events.',
    type: 'counter',
    total: 'framesIn',
  },
  {
    key: 'sends',
    field: StatField.SENDS,
    writer: 'worker',
    metric: 'sends_total',
    help: 'Sends written to a socket (a sendMany counts once per connection).',
    type: 'counter',
    total: 'sends',
  },
  {
    key: 'staleSends',
    field: StatField.STALE_SENDS,
    writer: 'worker',
    metric: 'stale_sends_total',
    help: 'Sends and closes for ids whose connection is gone.',
    type: 'counter',
    total: 'staleSends',
  },
  {
    key: 'droppedSends',
    field: StatField.DROPPED_SENDS,
    writer: 'worker',
    metric: 'dropped_sends_total',
    help: "Sends dropped by the slowConsumer 'drop' policy.",
    type: 'counter',
    total: 'droppedSends',
  },
  {
    key: 'pausedReads',
    field: StatField.PAUSED_READS,
    writer: 'worker',
    metric: 'paused_reads_total',
    help: 'Times a socket stopped reading because the event ring was full.',
    type: 'counter',
    total: 'pausedReads',
  },
  {
    key: 'truncatedFrames',
    field: StatField.TRUNCATED_FRAMES,
    writer: 'worker',
    metric: 'truncated_frames_total',
    help: 'Connections that closed with an incomplete frame (discarded).',
    type: 'counter',
    total: 'truncatedFrames',
  },
  {
    key: 'acceptErrors',
    field: StatField.ACCEPT_ERRORS,
    writer: 'worker',
    metric: 'accept_errors_total',
    help: 'Times the worker could not accept (EMFILE: no descriptor free in the process; ENFILE: in the system; or its listener failed) and paused accepting for about 100 ms.',
    type: 'counter',
    total: 'acceptErrors',
  },
  {
    key: 'abandonedBytes',
    field: StatField.ABANDONED_BYTES,
    writer: 'worker',
    metric: 'abandoned_bytes_total',
    help: 'Bytes never written because a closing socket outlived closeTimeoutMs or drainMs.',
    type: 'counter',
    total: 'abandonedBytes',
  },
  {
    key: 'eventRingUsed',
    field: 'event ring',
    metric: 'event_ring_used_bytes',
    help: 'Bytes in the worker event ring now.',
    type: 'gauge',
  },
  {
    key: 'eventRingHighWater',
    field: StatField.EVENT_RING_HIGH_WATER,
    writer: 'worker',
    metric: 'event_ring_high_water_bytes',
    help: 'Most bytes seen in the worker event ring.',
    type: 'gauge',
  },
  {
    key: 'stashHighWater',
    field: StatField.STASH_HIGH_WATER,
    writer: 'worker',
    metric: 'stash_high_water_bytes',
    help: 'Most bytes the worker held back while its event ring was full.',
    type: 'gauge',
  },
  {
    key: 'bufferedOut',
    field: StatField.BUFFERED_OUT,
    writer: 'worker',
    metric: 'buffered_out_bytes',
    help: 'Bytes written to sockets not yet taken by the kernel (sampled each second).',
    type: 'gauge',
  },
  {
    key: 'eventLoopUtilization',
    field: StatField.EVENT_LOOP_UTILIZATION,
    writer: 'worker',
    metric: 'event_loop_utilization',
    help: 'Event-loop utilisation of the I/O worker over the last second (0 to 1).',
    type: 'gauge',
  },
  {
    key: 'restarts',
    field: StatField.RESTARTS,
    writer: 'supervisor',
    metric: 'worker_restarts_total',
    help: 'Times the I/O worker was replaced after its thread died.',
    type: 'counter',
    total: 'workerRestarts',
  },
] as const satisfies readonly StatDescriptor[];

/** Every figure of a worker's stats, in the order stats(), the metrics and the docs list them. */
export const STATS: readonly StatDescriptor[] = STAT_LIST;

type Listed = (typeof STAT_LIST)[number];
type Value<D> = D extends { byReason: true } ? Record<CloseReason, number> : number;
type Figures = { [D in Listed as D['key']]: Value<D> };
type Summed = Extract<Listed, { total: string }>;

/** One worker's figures, as stats() returns them: one key per STATS entry. */
export interface WorkerStats extends Figures {
  /** The worker's index. */
  worker: number;
}

/** The sums over every worker of the figures STATS marks with a total. */
export type StatTotals = { [D in Summed as D['total']]: Value<D> };

export type StatValue = number | Record<CloseReason, number>;

/**
 * Reads worker `worker`'s figures from its stats block. `running`: whether
 * the worker's thread runs and has answered listen() (see the (*) note).
 */
export function readStats(worker: number, counters: Float64Array, eventRingUsed: number, running = true): WorkerStats {
  const stats: Record<string, StatValue> = { worker };
  for (const stat of STATS) {
    if (stat.field === 'event ring') stats[stat.key] = eventRingUsed;
    else if (stat.byReason) stats[stat.key] = readClosed(counters);
    else stats[stat.key] = stat.whileRunning && !running ? 0 : counters[stat.field]!;
  }
  return stats as unknown as WorkerStats;
}

function readClosed(counters: Float64Array): Record<CloseReason, number> {
  const closed = {} as Record<CloseReason, number>;
  CLOSE_REASONS.forEach((reason, code) => {
    closed[reason] = counters[closedField(code)]!;
  });
  return closed;
}

/** The value of `stat` in a worker's stats. */
export function statValue(stats: WorkerStats, stat: StatDescriptor): StatValue {
  return (stats as unknown as Record<string, StatValue>)[stat.key]!;
}

/** The server totals: each figure STATS marks with a total, summed over `workers`. */
export function sumTotals(workers: readonly WorkerStats[]): StatTotals {
  const totals: Record<string, StatValue> = {};
  for (const stat of STATS) {
    if (stat.total === undefined) continue;
    if (stat.field !== 'event ring' && stat.byReason) {
      const closed = Object.fromEntries(CLOSE_REASONS.map((reason) => [reason, 0])) as Record<CloseReason, number>;
      for (const worker of workers) {
        const counts = statValue(worker, stat) as Record<CloseReason, number>;
        for (const reason of CLOSE_REASONS) closed[reason] += counts[reason];
      }
      totals[stat.total] = closed;
    } else {
      totals[stat.total] = workers.reduce((sum, worker) => sum + (statValue(worker, stat) as number), 0);
    }
  }
  return totals as unknown as StatTotals;
}

/** The per-worker fields of stats() as a markdown table: field, meaning, and the total it is summed into. */
export function renderStatsFields(): string {
  const rows = ['| field | meaning | total |', '|---|---|---|', "| `worker` | The worker's index. | |"];
  for (const stat of STATS) {
    const by = stat.field !== 'event ring' && stat.byReason ? ' (a count per close reason)' : '';
    rows.push(`| \`${stat.key}\`${by} | ${stat.help} | ${stat.total === undefined ? '' : `\`${stat.total}\``} |`);
  }
  return `${rows.join('\n')}\n`;
}
