// Turns tinybench's per-batch statistics into the ring bench's rows, a
// markdown table and the JSON written to bench/results/ring.json.

import type { Task } from 'tinybench';

const KiB = 1024;

/** What a transport's batches cost in wake-ups, summed over warm-up and measured batches. */
export interface WakeCounts {
  batches: number;
  /** Consumer parks on the doorbell; NaN where the consumer does not say (the Dispatcher). */
  parks: number;
  /** Producer rings of the consumer's doorbell. */
  bellRings: number;
  /** Producer waits for ring space. */
  spaceWaits: number;
}

export function newWakeCounts(): WakeCounts {
  return { batches: 0, parks: 0, bellRings: 0, spaceWaits: 0 };
}

export interface Row {
  payloadBytes: number;
  transport: string;
  batchRecords: number;
  samples: number;
  batchMeanMs: number;
  batchP50Ms: number;
  batchMinMs: number;
  batchMaxMs: number;
  rmePercent: number;
  /** batchRecords / mean batch time. */
  messagesPerSecond: number;
  /** batchRecords / median batch time. */
  messagesPerSecondP50: number;
  bytesPerSecond: number;
  bytesPerSecondP50: number;
  /** messagesPerSecond / postMessage's messagesPerSecond at this size. */
  ratioVsPostMessage: number;
  ratioVsPostMessageP50: number;
  /** Per batch, warm-up batches included; absent for postMessage. */
  wakeups?: { parksPerBatch: number | null; bellRingsPerBatch: number; spaceWaitsPerBatch: number };
}

export type Measured = Omit<Row, 'ratioVsPostMessage' | 'ratioVsPostMessageP50'>;

export function measure(task: Task, transport: string, payloadBytes: number, batchRecords: number, wakes?: WakeCounts): Measured {
  const result = task.result;
  if (result.state !== 'completed' && result.state !== 'aborted-with-statistics') {
    throw new Error(`${task.name} did not complete: ${result.state}`);
  }
  const latency = result.latency; // milliseconds per batch
  const messagesPerSecond = batchRecords / (latency.mean / 1000);
  const messagesPerSecondP50 = batchRecords / (latency.p50 / 1000);
  const row: Measured = {
    payloadBytes,
    transport,
    batchRecords,
    samples: latency.samplesCount,
    batchMeanMs: latency.mean,
    batchP50Ms: latency.p50,
    batchMinMs: latency.min,
    batchMaxMs: latency.max,
    rmePercent: latency.rme,
    messagesPerSecond,
    messagesPerSecondP50,
    bytesPerSecond: messagesPerSecond * payloadBytes,
    bytesPerSecondP50: messagesPerSecondP50 * payloadBytes,
  };
  if (wakes !== undefined && wakes.batches > 0) {
    row.wakeups = {
      parksPerBatch: Number.isNaN(wakes.parks) ? null : wakes.parks / wakes.batches,
      bellRingsPerBatch: wakes.bellRings / wakes.batches,
      spaceWaitsPerBatch: wakes.spaceWaits / wakes.batches,
    };
  }
  return row;
}

/** Adds each row's ratio against the postMessage row of the same size. */
export function withRatios(measured: readonly Measured[]): Row[] {
  return measured.map((row) => {
    const post = measured.find((other) => other.payloadBytes === row.payloadBytes && other.transport === 'postMessage');
    return {
      ...row,
      ratioVsPostMessage: post === undefined ? NaN : row.messagesPerSecond / post.messagesPerSecond,
      ratioVsPostMessageP50: post === undefined ? NaN : row.messagesPerSecondP50 / post.messagesPerSecondP50,
    };
  });
}

export function formatSize(bytes: number): string {
  return bytes >= KiB ? `${bytes / KiB} KiB` : `${bytes} B`;
}

export function formatRate(perSecond: number): string {
  if (perSecond >= 1e9) return `${(perSecond / 1e9).toFixed(2)} G`;
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k`;
  return perSecond.toFixed(0);
}

function formatWakeups(row: Row): string {
  const w = row.wakeups;
  if (w === undefined) return '-';
  const parks = w.parksPerBatch === null ? '-' : w.parksPerBatch.toFixed(0);
  return `${parks} / ${w.bellRingsPerBatch.toFixed(0)} / ${w.spaceWaitsPerBatch.toFixed(1)}`;
}

export function markdownTable(rows: readonly Row[]): string {
  const header = [
    'payload',
    'transport',
    'batch',
    'msg/s p50',
    'msg/s mean',
    'payload B/s p50',
    'x postMessage p50 (mean)',
    'batch ms p50 / max',
    'rme',
    'n',
    'parks / rings / space waits per batch',
  ];
  const body = rows.map((row) => [
    formatSize(row.payloadBytes),
    row.transport,
    String(row.batchRecords),
    formatRate(row.messagesPerSecondP50),
    formatRate(row.messagesPerSecond),
    `${formatRate(row.bytesPerSecondP50)}B`,
    row.transport === 'postMessage' ? '1' : `${row.ratioVsPostMessageP50.toFixed(1)} (${row.ratioVsPostMessage.toFixed(1)})`,
    `${row.batchP50Ms.toFixed(2)} / ${row.batchMaxMs.toFixed(1)}`,
    `${row.rmePercent.toFixed(0)}%`,
    String(row.samples),
    formatWakeups(row),
  ]);
  const widths = header.map((cell, i) => Math.max(cell.length, ...body.map((line) => line[i]!.length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
