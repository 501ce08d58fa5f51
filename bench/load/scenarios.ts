// The five scenarios. Each run starts a fresh server process, drives it with
// load generator processes, samples CPU and memory from /proc at the edges
// of its measured window, and returns figures for one run. Anything that
// went wrong (a differing byte, a lost connection, a step that timed out)
// throws; the caller stops every process.

import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { BenchFailure, type LoadMode, Loadgen, type LoadgenResult, type RoundEvent, type TriggeredEvent, splitConnections } from './loadgen.ts';
import { cpuByThread, cpuSeconds, monoNs, openFds, rssBytes, sleep, sleepUntil } from './procs.ts';
import { type ServerKind, ServerProcess, type StopReport } from './server-process.ts';
import { mergeHistograms, percentile } from './stats.ts';

export const SCENARIO_NAMES = ['idle', 'echo1k', 'echo10k', 'bulk', 'fanout', 'soak'] as const;
/** What a run without --scenario measures: the soak is asked for by name (npm run bench:soak). */
export const DEFAULT_SCENARIOS = SCENARIO_NAMES.filter((name) => name !== 'soak');
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface Settings {
  /** Measured seconds of each echo and bulk run. */
  duration: number;
  /** Seconds of load before the measured window. */
  warmup: number;
  /** Seconds the idle connections are held. */
  hold: number;
  idleConns: number;
  /** Measured fan-out rounds (after `warmupRounds`). */
  rounds: number;
  warmupRounds: number;
  /** Load generator processes per run. */
  loadgens: number;
  /** I/O threads / processes of Flamingo, cluster and threads. */
  workers: number;
  /** The Flamingo copy to load (a snapshot of a git ref); the working tree's src when undefined. */
  flamingoEntry?: string;
}

interface ScenarioShape {
  mode: LoadMode;
  conns: (s: Settings) => number;
  /** Bytes per echo message, or per broadcast in fan-out. */
  size: number;
}

export const SCENARIOS: Record<ScenarioName, ScenarioShape> = {
  idle: { mode: 'idle', conns: (s) => s.idleConns, size: 16 },
  echo1k: { mode: 'echo', conns: () => 1000, size: 64 },
  echo10k: { mode: 'echo', conns: () => 10_000, size: 64 },
  bulk: { mode: 'bulk', conns: () => 100, size: 16 * 1024 },
  fanout: { mode: 'fanout', conns: () => 10_000, size: 64 },
  // The most connections the server's 20,000-file limit allows, echoing for --duration.
  soak: { mode: 'echo', conns: (s) => s.idleConns, size: 64 },
};

export interface RunOutcome {
  metrics: Record<string, number>;
  /** Everything else worth keeping in the JSON: server counters, CPU by thread, loadgen figures. */
  diagnostics: Record<string, unknown>;
  notes: string[];
}

const CONNECT_TIMEOUT_MS = 120_000;
const RESULT_TIMEOUT_MS = 30_000;
const ROUND_TIMEOUT_MS = 15_000;
/** A load generator process using this much of a core in a window is the bottleneck, not the server. */
const SATURATED_CORE = 0.9;
const CORES = availableParallelism();

export async function runScenario(name: ScenarioName, kind: ServerKind, settings: Settings): Promise<RunOutcome> {
  const shape = SCENARIOS[name];
  const server = await ServerProcess.start(kind, shape.mode === 'fanout' ? 'fanout' : 'echo', settings.workers, settings.flamingoEntry);
  const gens: Loadgen[] = [];
  let stop: StopReport | undefined;
  try {
    const conns = shape.conns(settings);
    const counts = splitConnections(conns, Math.min(settings.loadgens, conns));
    const rssBefore = rssBytes(server.pids);
    // A hard bound on each load generator's life, past every timeout here.
    const roundsSeconds = ((settings.rounds + settings.warmupRounds) * ROUND_TIMEOUT_MS) / 1000;
    const maxSeconds = Math.ceil(CONNECT_TIMEOUT_MS / 1000 + settings.hold + settings.warmup + settings.duration + roundsSeconds + 120);
    counts.forEach((count, index) => {
      const trigger = shape.mode === 'fanout' && index === 0;
      gens.push(new Loadgen({ mode: shape.mode, port: server.port, conns: count, size: shape.size, index, trigger, maxSeconds }));
    });
    const connected = await Promise.all(gens.map((g) => g.connected(CONNECT_TIMEOUT_MS)));
    const connectSeconds = Math.max(...connected.map((c) => c.connect_s));
    let outcome: RunOutcome;
    if (shape.mode === 'idle') outcome = await idle(server, gens, settings, conns, rssBefore);
    else if (shape.mode === 'fanout') outcome = await fanout(server, gens, settings, conns);
    else outcome = await echo(server, gens, settings, shape);
    outcome.metrics.connectSeconds = connectSeconds;
    stop = await server.stop();
    outcome.diagnostics.server = { clean: stop.clean, code: stop.code, signal: stop.signal, stats: stop.stats };
    if (!stop.clean) outcome.notes.push(`${kind} did not exit cleanly on SIGTERM (code ${stop.code}, signal ${stop.signal}): ${stop.stderr}`);
    return outcome;
  } finally {
    for (const gen of gens) gen.child.kill();
    if (stop === undefined) await server.stop().catch(() => undefined);
  }
}

async function idle(server: ServerProcess, gens: Loadgen[], s: Settings, conns: number, rssBefore: number): Promise<RunOutcome> {
  const settle = Math.min(2, s.hold / 4);
  await sleep(settle * 1000);
  const a = sample(server, gens);
  await sleep((s.hold - settle) * 1000);
  const b = sample(server, gens);
  const rssWith = rssBytes(server.pids);
  const fds = openFds(server.child.pid);
  for (const gen of gens) gen.send('verify');
  const results = await Promise.all(gens.map((g) => g.result(RESULT_TIMEOUT_MS)));
  const held = results.reduce((n, r) => n + r.open_at_end, 0);
  if (held !== conns) throw new BenchFailure(`${held} of ${conns} idle connections still open and echoing at the end of the hold`);
  const w = windowOf(a, b);
  return {
    metrics: {
      conns,
      rssPerConn: (rssWith - rssBefore) / conns,
      rssBeforeMB: rssBefore / 1e6,
      rssWithMB: rssWith / 1e6,
      idleCpuPct: w.serverCores * 100,
      otherCores: w.otherCores,
      softirqCores: w.softirqCores,
    },
    diagnostics: { serverFds: fds, cpuByThread: w.serverByThread },
    notes: saturationNotes(w.loadgenCores),
  };
}

async function echo(server: ServerProcess, gens: Loadgen[], s: Settings, shape: ScenarioShape): Promise<RunOutcome> {
  const start = monoNs() + BigInt(Math.round(s.warmup * 1e9));
  const end = start + BigInt(Math.round(s.duration * 1e9));
  for (const gen of gens) gen.send(`start ${start} ${end}`);
  await sleepUntil(start);
  const a = sample(server, gens);
  await sleepUntil(end);
  const b = sample(server, gens);
  const results = await Promise.all(gens.map((g) => g.result(RESULT_TIMEOUT_MS)));
  const w = windowOf(a, b);
  const windowS = Number(end - start) / 1e9;
  const messages = sum(results.map((r) => r.messages));
  if (messages === 0) throw new BenchFailure('no echo message completed in the measured window');
  const perSecond = messages / windowS;
  const hist = mergeHistograms(results.map((r) => r.hist));
  const metrics: Record<string, number> = {
    msgsPerSec: perSecond,
    p50Us: percentile(hist, 0.5) / 1000,
    p99Us: percentile(hist, 0.99) / 1000,
    p999Us: percentile(hist, 0.999) / 1000,
    serverCpuPerM: (w.serverCores / perSecond) * 1e6,
    serverCores: w.serverCores,
    loadgenCores: sum(w.loadgenCores),
    otherCores: w.otherCores,
    softirqCores: w.softirqCores,
  };
  if (shape.mode === 'bulk') {
    const mbPerSecond = sum(results.map((r) => r.bytes)) / windowS / 1e6;
    metrics.mbPerSec = mbPerSecond;
    metrics.serverCpuPerGB = (w.serverCores / mbPerSecond) * 1000;
  }
  return {
    metrics,
    diagnostics: { cpuByThread: w.serverByThread, loadgens: results.map(loadgenSummary), loadgenCoresEach: w.loadgenCores },
    notes: saturationNotes(w.loadgenCores),
  };
}

async function fanout(server: ServerProcess, gens: Loadgen[], s: Settings, conns: number): Promise<RunOutcome> {
  const trigger = gens[0]!;
  const total = s.warmupRounds + s.rounds;
  const lastNs: number[] = [];
  const firstNs: number[] = [];
  let a: Sample | undefined;
  for (let round = 1; round <= total; round++) {
    if (round === s.warmupRounds + 1) a = sample(server, gens);
    trigger.send(`trigger ${round}`);
    const triggered = await trigger.event<TriggeredEvent>('triggered', ROUND_TIMEOUT_MS, (e) => e.round === round);
    const arrived = await Promise.all(gens.map((g) => g.event<RoundEvent>('round', ROUND_TIMEOUT_MS, (e) => e.round === round))).catch((error: unknown) => {
      throw new BenchFailure(`fan-out round ${round} did not reach every connection: ${String(error)}`);
    });
    if (round <= s.warmupRounds) continue;
    lastNs.push(Math.max(...arrived.map((e) => e.last_ns)) - triggered.t_ns);
    firstNs.push(Math.min(...arrived.map((e) => e.first_ns)) - triggered.t_ns);
  }
  const b = sample(server, gens);
  for (const gen of gens) gen.send(`finish ${total}`);
  const results = await Promise.all(gens.map((g) => g.result(RESULT_TIMEOUT_MS)));
  const w = windowOf(a!, b);
  const deliveries = conns * s.rounds;
  return {
    metrics: {
      deliveriesPerSec: deliveries / (sum(lastNs) / 1e9),
      lastMs: median(lastNs) / 1e6,
      firstMs: median(firstNs) / 1e6,
      serverCpuPerM: ((w.serverCores * w.seconds) / deliveries) * 1e6,
      loadgenCores: sum(w.loadgenCores),
      otherCores: w.otherCores,
      softirqCores: w.softirqCores,
    },
    diagnostics: { cpuByThread: w.serverByThread, lastMsEachRound: lastNs.map((ns) => ns / 1e6), loadgens: results.map(loadgenSummary) },
    notes: saturationNotes(w.loadgenCores),
  };
}

interface Sample {
  t: bigint;
  server: number;
  serverByThread: Record<string, number>;
  loadgens: number[];
  box: BoxCpu;
  self: number;
}

function sample(server: ServerProcess, gens: Loadgen[]): Sample {
  const usage = process.cpuUsage();
  return {
    t: monoNs(),
    server: cpuSeconds(server.pids),
    serverByThread: cpuByThread(server.pids),
    loadgens: gens.map((g) => cpuSeconds([g.child.pid])),
    box: boxCpu(),
    self: (usage.user + usage.system) / 1e6,
  };
}

interface Window {
  seconds: number;
  serverCores: number;
  serverByThread: Record<string, number>;
  loadgenCores: number[];
  /** CPU used by other processes on the machine (a shared box), in cores. */
  otherCores: number;
  /** Softirq time, which the kernel charges to no process: mostly loopback TCP, ours and others'. */
  softirqCores: number;
}

function windowOf(a: Sample, b: Sample): Window {
  const seconds = Number(b.t - a.t) / 1e9;
  const serverCores = (b.server - a.server) / seconds;
  const loadgenCores = b.loadgens.map((cpu, i) => (cpu - a.loadgens[i]!) / seconds);
  const share = (pick: (box: BoxCpu) => number): number => ((pick(b.box) - pick(a.box)) / (b.box.total - a.box.total)) * CORES;
  const boxCores = share((box) => box.busy);
  const selfCores = (b.self - a.self) / seconds;
  const serverByThread: Record<string, number> = {};
  for (const [name, cpu] of Object.entries(b.serverByThread)) serverByThread[name] = round3((cpu - (a.serverByThread[name] ?? 0)) / seconds);
  return {
    seconds,
    serverCores,
    serverByThread,
    loadgenCores,
    otherCores: Math.max(0, boxCores - serverCores - sum(loadgenCores) - selfCores),
    softirqCores: share((box) => box.softirq),
  };
}

export interface BoxCpu {
  /** Time charged to processes (user, nice, system). */
  busy: number;
  softirq: number;
  total: number;
}

/** CPU time of the whole machine, from the first line of /proc/stat (steal counts as not ours, not busy). */
export function boxCpu(): BoxCpu {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idleTime = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const busy = user + nice + system;
  return { busy, softirq, total: busy + irq + softirq + idleTime + iowait + steal };
}

function saturationNotes(loadgenCores: number[]): string[] {
  return loadgenCores
    .map((cores, index) => (cores >= SATURATED_CORE ? `load generator #${index} used ${cores.toFixed(2)} of a core: it may be the bottleneck` : ''))
    .filter((note) => note !== '');
}

function loadgenSummary(r: LoadgenResult): Record<string, unknown> {
  return { index: r.index, conns: r.conns, messages: r.messages, cpuWindowS: r.cpu_window_s, cpuS: r.cpu_s, connectS: r.connect_s, lat_ns: r.lat_ns };
}

function sum(values: readonly number[]): number {
  return values.reduce((total, v) => total + v, 0);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
