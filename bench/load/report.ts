// Turns the runs into the table (every figure the median of its runs with
// min–max, and Flamingo's ratio to each baseline), the load targets,
// and the JSON written next to it.

import type { ScenarioName } from './scenarios.ts';
import type { ServerKind } from './server-process.ts';
import { type Summary, summarize } from './stats.ts';

interface MetricRow {
  key: string;
  label: string;
  better?: 'higher' | 'lower';
}

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
};

function echoRows(): MetricRow[] {
  return [
    { key: 'msgsPerSec', label: 'messages/s', better: 'higher' },
    { key: 'p50Us', label: 'p50 round trip (µs)', better: 'lower' },
    { key: 'p99Us', label: 'p99 round trip (µs)', better: 'lower' },
    { key: 'p999Us', label: 'p99.9 round trip (µs)', better: 'lower' },
    { key: 'serverCpuPerM', label: 'server CPU-s per 1M messages', better: 'lower' },
    { key: 'serverCores', label: 'server CPU (cores)' },
    { key: 'loadgenCores', label: 'load generator CPU (cores)' },
  ];
}

export const SCENARIO_TITLES: Record<ScenarioName, string> = {
  idle: 'idle hold',
  echo1k: 'echo 1k × 64 B',
  echo10k: 'echo 10k × 64 B',
  bulk: 'bulk 100 × 16 KiB',
  fanout: 'fan-out to 10k',
  soak: 'soak, most connections × 64 B',
};

/** Issue 3's bar, against plain `net` in the same run. */
const TARGETS: Array<{ scenario: ScenarioName; key: string; max?: number; min?: number; what: string }> = [
  { scenario: 'echo1k', key: 'serverCpuPerM', max: 1.0, what: 'server CPU per 1M echo messages, 1k connections' },
  { scenario: 'echo10k', key: 'serverCpuPerM', max: 1.0, what: 'server CPU per 1M echo messages, 10k connections' },
  { scenario: 'idle', key: 'rssPerConn', max: 1.0, what: 'RSS per idle connection (then toward 0.75x)' },
  { scenario: 'echo1k', key: 'msgsPerSec', min: 1.0, what: 'echo messages/s, 1k connections' },
  { scenario: 'echo10k', key: 'msgsPerSec', min: 1.0, what: 'echo messages/s, 10k connections' },
  { scenario: 'echo1k', key: 'p99Us', max: 1.5, what: 'p99 latency, 1k connections' },
  { scenario: 'echo10k', key: 'p99Us', max: 1.5, what: 'p99 latency, 10k connections' },
];

export interface RunRecord {
  scenario: ScenarioName;
  server: ServerKind;
  run: number;
  metrics: Record<string, number>;
  diagnostics: Record<string, unknown>;
  notes: string[];
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
}

export type Results = Partial<Record<ScenarioName, Partial<Record<ServerKind, Record<string, Summary>>>>>;

export function aggregate(runs: readonly RunRecord[]): Results {
  const results: Results = {};
  const grouped = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const key = `${run.scenario}/${run.server}`;
    grouped.set(key, [...(grouped.get(key) ?? []), run]);
  }
  for (const group of grouped.values()) {
    const { scenario, server } = group[0]!;
    const metrics: Record<string, Summary> = {};
    for (const key of Object.keys(group[0]!.metrics)) metrics[key] = summarize(group.map((r) => r.metrics[key]!));
    (results[scenario] ??= {})[server] = metrics;
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

function ratio(results: Results, scenario: ScenarioName, key: string, baseline: ServerKind): number | undefined {
  const f = results[scenario]?.flamingo?.[key]?.median;
  const b = results[scenario]?.[baseline]?.[key]?.median;
  if (f === undefined || b === undefined || b === 0) return undefined;
  return f / b;
}

/** The markdown table: one row per figure, a column per server, then Flamingo's ratio to each baseline. */
export function markdownTable(results: Results, scenarios: readonly ScenarioName[], servers: readonly ServerKind[]): string {
  const baselines = servers.filter((s) => s !== 'flamingo');
  const showRatios = servers.includes('flamingo');
  const header = ['scenario', 'figure', ...servers, ...(showRatios ? baselines.map((b) => `flamingo/${b}`) : [])];
  const rows: string[][] = [];
  for (const scenario of scenarios) {
    if (results[scenario] === undefined) continue;
    for (const row of ROWS[scenario]) {
      const ratios = showRatios
        ? baselines.map((b) => {
            const r = ratio(results, scenario, row.key, b);
            return r === undefined ? 'n/a' : `${r.toFixed(2)}x`;
          })
        : [];
      rows.push([SCENARIO_TITLES[scenario], row.label, ...servers.map((s) => cell(results[scenario]?.[s]?.[row.key])), ...ratios]);
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

export function checkTargets(results: Results): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const t of TARGETS) {
    const r = ratio(results, t.scenario, t.key, 'net');
    if (r === undefined) continue;
    const met = (t.max === undefined || r <= t.max) && (t.min === undefined || r >= t.min);
    checks.push({ what: t.what, ratio: r, bound: t.max !== undefined ? `≤ ${t.max.toFixed(1)}x` : `≥ ${t.min!.toFixed(1)}x`, met });
  }
  return checks;
}

export function ratiosJson(
  results: Results,
  scenarios: readonly ScenarioName[],
  servers: readonly ServerKind[],
): Record<string, Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, Record<string, number>>> = {};
  for (const scenario of scenarios) {
    for (const row of ROWS[scenario]) {
      for (const baseline of servers.filter((s) => s !== 'flamingo')) {
        const r = ratio(results, scenario, row.key, baseline);
        if (r !== undefined) ((out[scenario] ??= {})[row.key] ??= {})[baseline] = r;
      }
    }
  }
  return out;
}

export function headerLines(meta: Meta, runs: number): string[] {
  return [
    `Flamingo load benchmark: Node ${meta.node}, ${meta.cores} cores (${meta.cpuModel}), Linux ${meta.kernel}, ${meta.date}`,
    `Flamingo: ${meta.flamingo}`,
    `Each figure: median of ${runs} run${runs === 1 ? '' : 's'} (min–max). Servers and C epoll load generators share the machine's cores. Command: ${meta.command}`,
  ];
}

export function markdownReport(meta: Meta, runs: number, table: string, targets: TargetCheck[], notes: string[]): string {
  const lines = [...headerLines(meta, runs).map((l) => `${l}  `), '', table, ''];
  lines.push(
    'How measured: each run starts a fresh server process. Messages/s and MB/s count echoes completed in the measured window',
    '(one message in flight per connection, every byte verified); round trips are from send to the last echoed byte.',
    "Server CPU is utime+stime of the server's process tree from /proc over the same window, so it includes the kernel's",
    "TCP work done on the server's behalf. RSS per idle connection = (VmRSS holding them − VmRSS before) / count, summed",
    'over the process tree for cluster. Fan-out: deliveries/s = connections × rounds / total time from trigger to last client.',
    '',
  );
  if (targets.length > 0) {
    lines.push('Targets (Flamingo against plain `net`):', '');
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
