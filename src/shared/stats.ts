// Per-worker counters in shared memory, so the consumer side reads a
// snapshot with no round trip. Their layout, writers and the admission
// words are in stats-block.ts.
//
// STATS lists every figure of a worker's stats once: its WorkerStats key,
// where it lives, its one writer, its Prometheus name, help and type, and
// the server total it is summed into. readStats(), sumTotals(), the
// metrics (metrics.ts) and the docs tables are derived from it; adding a
// counter is a StatField word and a STATS entry.
//
import { CLOSE_REASONS, type CloseReason } from './records.ts';
import { StatField, type StatWriter, closedField } from './stats-block.ts';

export {
  ADMISSION_WORDS,
  ADMITTED_ALL,
  STATS_BYTES,
  STATS_WORDS,
  StatField,
  StatsBlock,
  type StatWriter,
  admittedBy,
  closedField,
  createAdmissionStorage,
  createStatsStorage,
  statsView,
} from './stats-block.ts';

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
    key: 'protocolErrors',
    field: StatField.PROTOCOL_ERRORS,
    writer: 'worker',
    metric: 'protocol_errors_total',
    help: "Protocol failures: a protocol threw, or handed the worker something it could not use; each closes its connection with 'error' (one from outside any protocol call closes nothing). See Protocols.",
    type: 'counter',
    total: 'protocolErrors',
  },
  {
    key: 'closedBeforeOpen',
    field: StatField.CLOSED_BEFORE_OPEN,
    writer: 'worker',
    metric: 'connections_closed_before_open_total',
    help: 'Connections that ended before their protocol opened them (a handshake refused or never finished); no open or close event was delivered for them.',
    type: 'counter',
    total: 'closedBeforeOpen',
  },
  {
    key: 'tlsHandshakeErrors',
    field: StatField.TLS_HANDSHAKE_ERRORS,
    writer: 'worker',
    metric: 'tls_handshake_errors_total',
    help: 'TLS connections that ended before their handshake was done: not TLS, nothing in common with the server (version, cipher), the client gave up or went away, or tlsHandshakeTimeoutMs passed. No open or close event was delivered for them.',
    type: 'counter',
    total: 'tlsHandshakeErrors',
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
