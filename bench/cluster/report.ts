// The cluster benchmark's tables: the figures of the cluster and of the
// single-process baseline side by side with their ratio, the saturation
// steps, and the projection to one million connections.

import { summarize } from '../load/stats.ts';

export type Metrics = Record<string, number>;

export interface SetupResult {
  name: 'cluster' | 'baseline';
  metrics: Metrics;
  /** Connections each server process holds, from its socket count. */
  split: number[];
  steps: Metrics[];
  notes: string[];
  diagnostics: Record<string, unknown>;
  /** With several runs: each run's metrics (`metrics` is then their median). */
  runs?: Metrics[];
}

/** One result per setup: the median of each figure over its runs; split, steps and diagnostics from its last run. */
export function aggregate(results: readonly SetupResult[]): SetupResult[] {
  const names = [...new Set(results.map((r) => r.name))];
  return names.map((name) => {
    const group = results.filter((r) => r.name === name);
    const last = group[group.length - 1]!;
    if (group.length === 1) return last;
    const metrics: Metrics = {};
    for (const key of Object.keys(last.metrics)) {
      const values = group.map((r) => r.metrics[key]!).filter((v) => Number.isFinite(v));
      metrics[key] = values.length === 0 ? Number.NaN : summarize(values).median;
    }
    return { ...last, metrics, notes: group.flatMap((r) => r.notes), runs: group.map((r) => r.metrics) };
  });
}

interface Row {
  key: string;
  label: string;
  /** Ratios make sense for figures per unit (per connection, per delivery), not for totals. */
  ratio?: boolean;
}

const ROWS: Row[] = [
  { key: 'conns', label: 'connections' },
  { key: 'processes', label: 'server processes' },
  { key: 'subscribersPerTopic', label: 'subscribers per topic (100 topics)' },
  { key: 'connectSeconds', label: 'time to connect and subscribe all (s)' },
  { key: 'offeredPerSec', label: 'offered deliveries/s' },
  { key: 'publishesPerSec', label: 'publishes/s' },
  { key: 'deliveriesPerSec', label: 'deliveries/s (measured window)', ratio: true },
  { key: 'sustainedPerSec', label: 'saturation: most deliveries/s kept up with', ratio: true },
  { key: 'peakPerSec', label: 'saturation: peak deliveries/s', ratio: true },
  { key: 'flamingoCpuPerM', label: 'Flamingo CPU-s per 1M deliveries', ratio: true },
  { key: 'redisCpuPerM', label: 'redis-server CPU-s per 1M deliveries' },
  { key: 'totalCpuPerM', label: 'Flamingo + Redis CPU-s per 1M deliveries', ratio: true },
  { key: 'flamingoCores', label: 'Flamingo CPU (cores)' },
  { key: 'redisCores', label: 'redis-server CPU (cores)' },
  { key: 'clientCores', label: 'client processes CPU (cores)' },
  { key: 'clientCoresMax', label: 'busiest client process CPU (cores)' },
  { key: 'otherCores', label: 'other processes on the machine (cores)' },
  { key: 'p50Us', label: 'p50 publish to delivery (µs)', ratio: true },
  { key: 'p99Us', label: 'p99 publish to delivery (µs)', ratio: true },
  { key: 'p999Us', label: 'p99.9 publish to delivery (µs)', ratio: true },
  { key: 'maxUs', label: 'max publish to delivery (µs)', ratio: true },
  { key: 'pubLagMaxMs', label: 'publisher behind schedule, max (ms)' },
  { key: 'rssBeforeMB', label: 'Flamingo RSS before connections (MB, all processes)', ratio: true },
  { key: 'rssWithMB', label: 'Flamingo RSS holding them (MB, all processes)', ratio: true },
  { key: 'rssPerConn', label: 'Flamingo RSS per connection (B)', ratio: true },
  { key: 'redisRssDeltaMB', label: 'redis-server RSS growth with them (MB)' },
  { key: 'slabPerConn', label: 'kernel Slab per connection, both ends (B)', ratio: true },
  { key: 'tcpBuffersPerConn', label: 'kernel TCP buffers per idle connection, both ends (B)' },
  { key: 'idleFlamingoCpuS', label: 'Flamingo idle CPU-s over the idle window' },
  { key: 'idleSeconds', label: 'idle window (s)' },
  { key: 'idleFlamingoPctPer10k', label: 'Flamingo idle CPU per 10k connections (% of a core)', ratio: true },
  { key: 'idleRedisCpuS', label: 'redis-server idle CPU-s over the idle window' },
  { key: 'expected', label: 'deliveries expected (whole run)' },
  { key: 'delivered', label: 'deliveries received (whole run)' },
  { key: 'missing', label: 'missing' },
  { key: 'duplicate', label: 'duplicate or late' },
  { key: 'corrupt', label: 'corrupt' },
  { key: 'misrouted', label: 'of another topic' },
  { key: 'errLines', label: 'ERR lines' },
  { key: 'connErrors', label: 'connections lost' },
];

export function format(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 1000 || Number.isInteger(value)) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** A figure, with its min–max over the runs when there were several. */
function cell(result: SetupResult, key: string): string {
  const median = format(result.metrics[key]);
  const values = (result.runs ?? []).map((m) => m[key]!).filter((v) => Number.isFinite(v));
  if (values.length < 2) return median;
  const { min, max } = summarize(values);
  return min === max ? median : `${median} (${format(min)}–${format(max)})`;
}

/** The main table: a column per setup, then cluster/baseline for the figures per unit. */
export function figuresTable(results: readonly SetupResult[]): string {
  const cluster = results.find((r) => r.name === 'cluster');
  const baseline = results.find((r) => r.name === 'baseline');
  const both = cluster !== undefined && baseline !== undefined;
  const header = ['figure', ...results.map((r) => (r.name === 'cluster' ? 'cluster (Redis)' : 'one process, no Redis')), ...(both ? ['cluster/one'] : [])];
  const rows: string[][] = [];
  for (const row of ROWS) {
    if (results.every((r) => r.metrics[row.key] === undefined)) continue;
    const cells = results.map((r) => cell(r, row.key));
    if (both) {
      const c = cluster.metrics[row.key];
      const b = baseline.metrics[row.key];
      cells.push(row.ratio && c !== undefined && b !== undefined && b !== 0 ? `${(c / b).toFixed(2)}x` : '');
    }
    rows.push([row.label, ...cells]);
  }
  return table(header, rows);
}

export function ratios(results: readonly SetupResult[]): Record<string, number> {
  const cluster = results.find((r) => r.name === 'cluster');
  const baseline = results.find((r) => r.name === 'baseline');
  const out: Record<string, number> = {};
  if (cluster === undefined || baseline === undefined) return out;
  for (const row of ROWS) {
    const c = cluster.metrics[row.key];
    const b = baseline.metrics[row.key];
    if (row.ratio && c !== undefined && b !== undefined && b !== 0) out[row.key] = c / b;
  }
  return out;
}

export function splitTable(result: SetupResult): string {
  const d = result.diagnostics as { perServer?: Array<Record<string, number>> };
  const rows = (d.perServer ?? []).map((s, i) => [
    `#${i} (pid ${s.pid})`,
    format(s.conns),
    format(s.rssPerConn),
    format(s.windowCores),
    format(s.idleCpuS),
    format(s.publishers),
  ]);
  return table(['server process', 'connections', 'RSS per connection (B)', 'CPU in the window (cores)', 'idle CPU-s', 'publisher connections'], rows);
}

/** One row per saturation step; the first is the fixed-rate window. */
export function stepsTable(steps: readonly Metrics[]): string {
  const rows = steps.map((s) => [
    format(s.offeredPerSec),
    format(s.deliveriesPerSec),
    `${((s.deliveriesPerSec! / s.offeredPerSec!) * 100).toFixed(1)}%`,
    format(s.flamingoCpuPerM),
    format(s.redisCpuPerM),
    format(s.flamingoCores),
    format(s.redisCores),
    format(s.p50Us),
    format(s.p99Us),
    format(s.drainSeconds),
    format(s.clientCoresMax),
    format(s.otherCores),
  ]);
  return table(
    [
      'offered deliveries/s',
      'deliveries/s',
      'of offered',
      'Flamingo CPU-s/1M',
      'Redis CPU-s/1M',
      'Flamingo cores',
      'Redis cores',
      'p50 (µs)',
      'p99 (µs)',
      'catch-up after the window (s)',
      'busiest client (cores)',
      'other processes (cores)',
    ],
    rows,
  );
}

export interface MachineShape {
  cores: number;
  memoryBytes: number;
  /** The open-file limit of one process. */
  fileLimit: number;
  /** Connections one server process holds under that limit. */
  connsPerProcess: number;
}

const TARGET = 1_000_000;

/**
 * Per-connection and per-delivery costs measured in the cluster run,
 * multiplied out to one million connections. Kernel memory is measured with
 * both ends of each connection on this machine, so a server machine's share
 * is taken as half of it.
 */
export function projection(cluster: SetupResult, machine: MachineShape): { markdown: string; json: Record<string, number> } {
  const m = cluster.metrics;
  const processes = Math.ceil(TARGET / machine.connsPerProcess);
  const fixedPerProcess = (m.rssBeforeMB! * 1e6) / m.processes!;
  const rss = m.rssPerConn! * TARGET + fixedPerProcess * processes;
  const kernel = (m.slabPerConn! / 2) * TARGET;
  const buffers = Math.max(0, (m.tcpBuffersPerConn ?? 0) / 2) * TARGET;
  const memory = rss + kernel + buffers;
  // Idle CPU is per server process (timers, the lease) as much as per connection: scaled by processes,
  // which is the same as by connections when each process held ~connsPerProcess here. Redis's idle work is per node.
  const connsPerProcessHere = m.conns! / m.processes!;
  const idleCores = (m.idleFlamingoCores! / m.processes!) * processes;
  const idleRedisCores = (m.idleRedisCores! / m.processes!) * processes;
  // One delivery per connection per second: a million deliveries a second.
  const busyCores = m.flamingoCpuPerM!;
  const redisCores = m.redisCpuPerM!;
  const coresNeeded = idleCores + idleRedisCores + busyCores + redisCores;
  const byCores = Math.ceil(coresNeeded / machine.cores);
  const byMemory = Math.ceil(memory / (machine.memoryBytes * 0.8));
  const machines = Math.max(1, byCores, byMemory);
  const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(1)} GB`;
  const rows: string[][] = [
    [
      'connections per server process',
      `${format(machine.connsPerProcess)} (open-file limit ${format(machine.fileLimit)} per process)`,
      `${format(processes)} server processes`,
    ],
    ['Flamingo RSS per connection', `${format(m.rssPerConn)} B`, gb(m.rssPerConn! * TARGET)],
    [
      'Flamingo RSS per process before connections',
      `${format(fixedPerProcess / 1e6)} MB`,
      `${gb(fixedPerProcess * processes)} (${format(processes)} processes)`,
    ],
    ['kernel Slab per connection (server end: half of both ends)', `${format(m.slabPerConn! / 2)} B`, gb(kernel)],
    ['kernel TCP buffers per idle connection (server end)', `${format((m.tcpBuffersPerConn ?? 0) / 2)} B`, gb(buffers)],
    ['memory in all', '', gb(memory)],
    [
      'Flamingo idle CPU per server process',
      `${format((m.idleFlamingoCores! / m.processes!) * 100)}% of a core holding ${format(connsPerProcessHere)} connections`,
      `${format(idleCores)} cores (${format(processes)} processes)`,
    ],
    ['redis-server idle CPU per node', `${format((m.idleRedisCores! / m.processes!) * 100)}% of a core`, `${format(idleRedisCores)} cores`],
    ['Flamingo CPU per delivery', `${format(m.flamingoCpuPerM)} CPU-s per 1M`, `${format(busyCores)} cores at 1 delivery/s per connection`],
    ['redis-server CPU per delivery', `${format(m.redisCpuPerM)} CPU-s per 1M`, `${format(redisCores)} cores at 1 delivery/s per connection`],
    [
      `machines like this one (${machine.cores} cores, ${gb(machine.memoryBytes)})`,
      '',
      `${format(machines)} (${format(byCores)} by CPU at 1 delivery/s per connection, ${format(byMemory)} by memory at 80% use): ${format(Math.ceil(processes / machines))} server processes each`,
    ],
  ];
  const markdown = [
    table(['figure', 'measured here (cluster run)', `× ${format(TARGET)} connections`], rows),
    '',
    `The one wall on these machines is the open-file limit: ${format(machine.fileLimit)} descriptors per process, which cannot be raised, so one`,
    `process holds at most ~${format(machine.fileLimit - 100)} sockets and ${format(TARGET)} connections need ${format(processes)} server processes at`,
    `${format(machine.connsPerProcess)} each (and as many client processes to test them from one machine). Memory grows linearly with`,
    'connections and idle CPU with processes, both far from any limit; CPU grows with deliveries, not with connections. Redis CPU is per message per node',
    `(each publish reaches every node with a subscriber of its topic): this projection keeps ${format(m.subscribersPerTopic! / m.processes!)} local`,
    'subscribers per topic per node as measured here; with fewer per node, Redis does more work per delivery.',
  ].join('\n');
  return {
    markdown,
    json: {
      processes,
      machines,
      byCores,
      byMemory,
      rssBytes: rss,
      kernelBytes: kernel,
      buffersBytes: buffers,
      idleCores,
      idleRedisCores,
      busyCores,
      redisCores,
    },
  };
}
