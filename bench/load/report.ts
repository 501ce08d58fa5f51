// Turns the runs into the table (every figure the median of its runs with
// min–max, and Flamingo's ratio to each baseline's median from the same
// run), the load targets, and the JSON written next to it. Rows are grouped
// by case: a scenario in one client shape (1 or 2 load generator
// processes); offered-load cases come first. A run has one transport (TCP,
// TLS, WebSocket): the header says which, and the targets are those set
// against that transport's baseline (plain `net`, or `ws` in one process).

import { INGEST_SCENARIOS, RATE_SCENARIOS, type ScenarioName, isRateScenario } from './scenarios.ts';
import type { ServerKind } from './server-process.ts';
import type { Transport } from './servers/protocol.ts';
import { type Summary, summarize } from './stats.ts';

interface MetricRow {
  key: string;
  label: string;
  better?: 'higher' | 'lower';
}

/** The last rows of a scenario under load: what the server and the load generators used. */
const CPU_ROWS: MetricRow[] = [
  { key: 'serverCores', label: 'server CPU (cores)' },
  { key: 'loadgenCores', label: 'load generator CPU (cores)' },
];

/** The rows of the table, per scenario, in order. */
const ROWS: Record<ScenarioName, MetricRow[]> = {
  idle: [
    { key: 'rssPerConn', label: 'RSS per idle connection (B)', better: 'lower' },
    { key: 'idleCpuPct', label: 'server CPU while idle (% of a core)', better: 'lower' },
    { key: 'rssBeforeMB', label: 'server RSS before connections (MB)', better: 'lower' },
    { key: 'rssWithMB', label: 'server RSS holding them (MB)', better: 'lower' },
    { key: 'connectSeconds', label: 'time to open them all (s)', better: 'lower' },
  ],
  echo1k: echoRows(),
  echo10k: echoRows(),
  soak: echoRows(),
  handshake: [
    { key: 'handshakesPerSec', label: 'handshakes/s (each confirmed by an echo)', better: 'higher' },
    { key: 'serverCpuMsPerHandshake', label: 'server CPU-ms per handshake', better: 'lower' },
    { key: 'p50Ms', label: 'p50 connect to echo (ms)', better: 'lower' },
    { key: 'p99Ms', label: 'p99 connect to echo (ms)', better: 'lower' },
    ...CPU_ROWS,
  ],
  bulk: [
    { key: 'mbPerSec', label: 'echoed MB/s', better: 'higher' },
    { key: 'serverCpuPerGB', label: 'server CPU-s per GB', better: 'lower' },
    { key: 'p99Us', label: 'p99 round trip of 16 KiB (µs)', better: 'lower' },
    { key: 'loadgenCores', label: 'load generator CPU (cores)' },
  ],
  fanout: [
    { key: 'deliveriesPerSec', label: 'deliveries/s', better: 'higher' },
    { key: 'lastMs', label: 'trigger to last client (ms)', better: 'lower' },
    { key: 'firstMs', label: 'trigger to first client (ms)', better: 'lower' },
    { key: 'serverCpuPerM', label: 'server CPU-s per 1M deliveries', better: 'lower' },
  ],
  'rate20k-1k': rateRows(),
  'rate40k-1k': rateRows(),
  'rate60k-1k': rateRows(),
  'rate20k-10k': rateRows(),
  'rate40k-10k': rateRows(),
  'rate60k-10k': rateRows(),
  'ingest-lines-100': ingestRows(true),
  'ingest-lines-10k': ingestRows(true),
  'ingest-16k-100': ingestRows(false),
  'ingest-16k-10k': ingestRows(false),
};

function echoRows(): MetricRow[] {
  return [
    { key: 'msgsPerSec', label: 'messages/s', better: 'higher' },
    { key: 'p50Us', label: 'p50 round trip (µs)', better: 'lower' },
    { key: 'p99Us', label: 'p99 round trip (µs)', better: 'lower' },
    { key: 'p999Us', label: 'p99.9 round trip (µs)', better: 'lower' },
    { key: 'serverCpuPerM', label: 'server CPU-s per 1M messages', better: 'lower' },
    ...CPU_ROWS,
  ];
}

function rateRows(): MetricRow[] {
  return [
    { key: 'serverCpuPerM', label: 'server CPU-s per 1M messages', better: 'lower' },
    { key: 'msgsPerSec', label: 'achieved messages/s', better: 'higher' },
    { key: 'p50Us', label: 'p50 from scheduled send (µs)', better: 'lower' },
    { key: 'p99Us', label: 'p99 from scheduled send (µs)', better: 'lower' },
    { key: 'p999Us', label: 'p99.9 from scheduled send (µs)', better: 'lower' },
    { key: 'latePct', label: 'sends > 1 ms late (%)', better: 'lower' },
    ...CPU_ROWS,
  ];
}

function ingestRows(lines: boolean): MetricRow[] {
  return [
    { key: 'mbPerSec', label: 'MB/s read and checksummed', better: 'higher' },
    { key: 'serverCpuPerGB', label: 'server CPU-s per GB', better: 'lower' },
    ...(lines ? [{ key: 'linesPerSec', label: 'lines/s', better: 'higher' } as const] : []),
    ...CPU_ROWS,
  ];
}

export const SCENARIO_TITLES: Record<ScenarioName, string> = {
  idle: 'idle hold',
  echo1k: 'echo 1k × 64 B',
  echo10k: 'echo 10k × 64 B',
  bulk: 'bulk 100 × 16 KiB',
  fanout: 'fan-out to 10k',
  soak: 'soak, most connections × 64 B',
  handshake: 'new connections, 100 at a time',
  'rate20k-1k': 'offered 20k/s, 1k × 64 B',
  'rate40k-1k': 'offered 40k/s, 1k × 64 B',
  'rate60k-1k': 'offered 60k/s, 1k × 64 B',
  'rate20k-10k': 'offered 20k/s, 10k × 64 B',
  'rate40k-10k': 'offered 40k/s, 10k × 64 B',
  'rate60k-10k': 'offered 60k/s, 10k × 64 B',
  'ingest-lines-100': 'ingest 100 × 64 B lines',
  'ingest-lines-10k': 'ingest 10k × 64 B lines',
  'ingest-16k-100': 'ingest 100 × 16 KiB chunks',
  'ingest-16k-10k': 'ingest 10k × 16 KiB chunks',
};

interface Target {
  scenarios: readonly ScenarioName[];
  /** Flamingo against this server, measured in the same run. */
  baseline: ServerKind;
  key: string;
  max?: number;
  min?: number;
  what: string;
}

/**
 * The performance targets, every client shape: over TCP (CPU per message at
 * equal offered load, p99, closed-loop echo, bulk and ingestion) against
 * plain `net`; over WebSocket against the `ws` package in one process.
 */
const NET_TARGETS: Omit<Target, 'baseline'>[] = [
  { scenarios: RATE_SCENARIOS, key: 'serverCpuPerM', max: 1.0, what: 'server CPU per 1M messages at equal offered load' },
  { scenarios: RATE_SCENARIOS, key: 'p99Us', max: 1.2, what: 'p99 from scheduled send at equal offered load' },
  { scenarios: ['echo1k', 'echo10k'], key: 'msgsPerSec', min: 1.0, what: 'closed-loop echo messages/s' },
  { scenarios: ['echo1k', 'echo10k'], key: 'serverCpuPerM', max: 1.0, what: 'closed-loop server CPU per 1M echo messages' },
  { scenarios: ['echo1k', 'echo10k'], key: 'p99Us', max: 1.5, what: 'closed-loop p99 latency' },
  { scenarios: ['bulk'], key: 'mbPerSec', min: 1.0, what: 'bulk echo MB/s' },
  { scenarios: ['bulk'], key: 'serverCpuPerGB', max: 1.2, what: 'bulk echo server CPU per GB' },
  { scenarios: INGEST_SCENARIOS, key: 'mbPerSec', min: 1.3, what: 'ingestion MB/s' },
  { scenarios: INGEST_SCENARIOS, key: 'serverCpuPerGB', max: 1.0, what: 'ingestion server CPU per GB' },
  { scenarios: ['idle'], key: 'rssPerConn', max: 0.85, what: 'RSS per idle connection' },
];
const WS_TARGETS: Omit<Target, 'baseline'>[] = [
  { scenarios: ['idle'], key: 'rssPerConn', max: 0.5, what: 'RSS per idle WebSocket connection' },
  { scenarios: ['echo1k', 'echo10k'], key: 'serverCpuPerM', max: 0.8, what: 'server CPU per 1M WebSocket echo messages' },
  { scenarios: ['echo1k', 'echo10k'], key: 'msgsPerSec', min: 1.3, what: 'WebSocket echo messages/s' },
];
const TARGETS: Target[] = [...NET_TARGETS.map((t) => ({ ...t, baseline: 'net' as const })), ...WS_TARGETS.map((t) => ({ ...t, baseline: 'ws' as const }))];

export interface RunRecord {
  scenario: ScenarioName;
  /** Load generator processes that drove the run. */
  clients: number;
  server: ServerKind;
  run: number;
  metrics: Record<string, number>;
  diagnostics: Record<string, unknown>;
  notes: string[];
}

/** A scenario in one client shape: a group of rows in the table. */
export interface Case {
  scenario: ScenarioName;
  clients: number;
}

export function caseKey(c: Case): string {
  return `${c.scenario}@${c.clients}`;
}

/** The cases of a plan in table order: offered-load rows first, then the others as planned. */
export function orderCases(scenarios: readonly ScenarioName[], clients: readonly number[]): Case[] {
  const ordered = [...scenarios.filter(isRateScenario), ...scenarios.filter((s) => !isRateScenario(s))];
  return ordered.flatMap((scenario) => clients.map((n) => ({ scenario, clients: n })));
}

export interface Meta {
  node: string;
  cores: number;
  cpuModel: string;
  kernel: string;
  date: string;
  command: string;
  /** Which Flamingo was measured. */
  flamingo: string;
  settings: Record<string, unknown>;
  servers: ServerKind[];
  scenarios: ScenarioName[];
  clients: number[];
}

/** By case key (caseKey), then server, then figure. */
export type Results = Record<string, Partial<Record<ServerKind, Record<string, Summary>>>>;

export function aggregate(runs: readonly RunRecord[]): Results {
  const results: Results = {};
  const grouped = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const key = `${caseKey(run)}/${run.server}`;
    grouped.set(key, [...(grouped.get(key) ?? []), run]);
  }
  for (const group of grouped.values()) {
    const first = group[0]!;
    const metrics: Record<string, Summary> = {};
    for (const key of Object.keys(first.metrics)) metrics[key] = summarize(group.map((r) => r.metrics[key]!));
    (results[caseKey(first)] ??= {})[first.server] = metrics;
  }
  return results;
}

function format(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function cell(summary: Summary | undefined): string {
  if (summary === undefined) return 'n/a';
  if (summary.runs.length === 1) return format(summary.median);
  return `${format(summary.median)} (${format(summary.min)}–${format(summary.max)})`;
}

/** Flamingo's median over the baseline's median, both from this run. */
function ratio(results: Results, c: Case, key: string, baseline: ServerKind): number | undefined {
  const f = results[caseKey(c)]?.flamingo?.[key]?.median;
  const b = results[caseKey(c)]?.[baseline]?.[key]?.median;
  if (f === undefined || b === undefined || b === 0) return undefined;
  return f / b;
}

/** Offered load: did both servers carry what was offered (so CPU per message compares at equal throughput)? */
function equalLoad(results: Results, c: Case, baseline: ServerKind): boolean {
  const kept = (server: ServerKind): boolean => (results[caseKey(c)]?.[server]?.achievedPct?.median ?? 0) >= 97;
  return kept('flamingo') && kept(baseline);
}

/** The markdown table: one row per figure, a column per server, then Flamingo's ratio to each baseline. */
export function markdownTable(results: Results, cases: readonly Case[], servers: readonly ServerKind[]): string {
  const baselines = servers.filter((s) => s !== 'flamingo');
  const showRatios = servers.includes('flamingo');
  const header = ['scenario', 'clients', 'figure', ...servers, ...(showRatios ? baselines.map((b) => `flamingo/${b}`) : [])];
  const rows: string[][] = [];
  for (const c of cases) {
    const figures = results[caseKey(c)];
    if (figures === undefined) continue;
    for (const row of ROWS[c.scenario]) {
      if (!servers.some((s) => figures[s]?.[row.key] !== undefined)) continue;
      const ratios = showRatios
        ? baselines.map((b) => {
            const r = ratio(results, c, row.key, b);
            if (r === undefined) return 'n/a';
            // CPU per message compares only at equal throughput: say so when a server fell behind the offered rate.
            const unequal = isRateScenario(c.scenario) && row.key === 'serverCpuPerM' && !equalLoad(results, c, b);
            return `${r.toFixed(2)}x${unequal ? ' (unequal load)' : ''}`;
          })
        : [];
      rows.push([SCENARIO_TITLES[c.scenario], String(c.clients), row.label, ...servers.map((s) => cell(figures[s]?.[row.key])), ...ratios]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export interface TargetCheck {
  what: string;
  ratio: number;
  bound: string;
  met: boolean;
}

export function checkTargets(results: Results, cases: readonly Case[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const t of TARGETS) {
    for (const c of cases) {
      if (!t.scenarios.includes(c.scenario)) continue;
      const r = ratio(results, c, t.key, t.baseline);
      if (r === undefined) continue;
      const met = (t.max === undefined || r <= t.max) && (t.min === undefined || r >= t.min);
      const unequal = isRateScenario(c.scenario) && !equalLoad(results, c, t.baseline) ? ', unequal load' : '';
      checks.push({
        what: `${t.what} against ${t.baseline}, ${SCENARIO_TITLES[c.scenario]}, ${c.clients} client${c.clients === 1 ? '' : 's'}${unequal}`,
        ratio: r,
        bound: t.max !== undefined ? `≤ ${t.max.toFixed(1)}x` : `≥ ${t.min!.toFixed(1)}x`,
        met,
      });
    }
  }
  return checks;
}

export function ratiosJson(results: Results, cases: readonly Case[], servers: readonly ServerKind[]): Record<string, Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, Record<string, number>>> = {};
  for (const c of cases) {
    for (const row of ROWS[c.scenario]) {
      for (const baseline of servers.filter((s) => s !== 'flamingo')) {
        const r = ratio(results, c, row.key, baseline);
        if (r !== undefined) ((out[caseKey(c)] ??= {})[row.key] ??= {})[baseline] = r;
      }
    }
  }
  return out;
}

/** How the header names a run's transport (plain TCP: not at all). */
const TRANSPORT_TITLES: Record<Transport, string> = {
  tcp: '',
  tls: ' over TLS (TLS 1.3, ECDSA P-256 certificate, every handshake a full one)',
  ws: ' over WebSocket (RFC 6455: one binary frame a message, client frames masked, no compression)',
  wss: ' over WebSocket on TLS (wss://)',
};

export function headerLines(meta: Meta, runs: number): string[] {
  const transport = TRANSPORT_TITLES[(meta.settings.transport as Transport | undefined) ?? 'tcp'];
  return [
    `Flamingo load benchmark${transport}: Node ${meta.node}, ${meta.cores} cores (${meta.cpuModel}), Linux ${meta.kernel}, ${meta.date}`,
    `Flamingo: ${meta.flamingo}`,
    `Each figure: median of ${runs} run${runs === 1 ? '' : 's'} (min–max). Servers and C epoll load generators share the machine's cores. Command: ${meta.command}`,
  ];
}

export function markdownReport(meta: Meta, runs: number, table: string, targets: TargetCheck[], notes: string[]): string {
  const lines = [...headerLines(meta, runs).map((l) => `${l}  `), '', table, ''];
  lines.push(
    'How measured: each run starts a fresh server process; "clients" is the number of load generator processes splitting',
    'the connections (and the offered rate). Offered load (open loop): the clients send 64 B messages on a fixed schedule,',
    "whether or not earlier echoes are back, and latency runs from each message's scheduled send time, so a stall is not",
    'hidden; CPU per message compares servers at equal throughput ("unequal load" marks a server that fell behind the offered',
    'rate). Closed loop (echo, bulk): one message in flight per connection, round trips from send to the last echoed byte.',
    "Ingest: one-way streams; MB/s is what the server's consumer read and checksummed in the window (its own count), and",
    "at the end the server confirms every connection's byte count and checksum to the client. Every byte is verified.",
    "Server CPU is utime+stime of the server's process tree from /proc over the same window, so it includes the kernel's",
    "TCP work done on the server's behalf. RSS per idle connection = (VmRSS holding them − VmRSS before) / count, summed",
    'over the process tree for cluster. Fan-out: deliveries/s = connections × rounds / total time from trigger to last client.',
    'WebSocket: every message is one masked binary frame and every echo must come back as one binary frame of its length;',
    'the upgrade and its Sec-WebSocket-Accept are checked. Handshakes: 100 connections at a time each connect, finish the',
    'TLS handshake (and upgrade), echo 16 bytes (proof the server finished too), reset and start again; CPU per handshake',
    "is the deciding figure, since the clients' handshakes take about as much CPU as the server's, on the same cores.",
    "Ratios: the median of Flamingo's runs over the median of the baseline's, from the same benchmark run.",
    '',
  );
  if (targets.length > 0) {
    lines.push('Targets (Flamingo against the baseline named, same run):', '');
    for (const t of targets) lines.push(`- ${t.what}: ${t.ratio.toFixed(2)}x (target ${t.bound}): ${t.met ? 'met' : 'missed'}`);
    lines.push('');
  }
  if (notes.length > 0) {
    lines.push('Notes:', '');
    for (const note of notes) lines.push(`- ${note}`);
    lines.push('');
  }
  return lines.join('\n');
}
