// The scenarios. Each run starts a fresh server process, drives it with
// load generator processes, samples CPU and memory from /proc at the edges
// of its measured window, and returns figures for one run. Anything that
// went wrong (a differing byte, a lost connection, a step that timed out)
// throws; the caller stops every process.
//
// Three kinds of load: closed loop (echo, bulk, soak: one message in flight
// per connection, the next sent when the echo is back, so the rate is
// whatever the server and clients reach), offered load (rate*: open loop,
// a fixed total rate split over the connections and the client processes,
// latency from each message's scheduled send time), and ingestion (ingest*:
// one-way streams, throughput counted by the server's consumer, every
// connection's bytes and checksum confirmed by the server at the end).
// Besides, the idle hold, fan-out, and handshake (new connections as fast as
// the server sets them up: connect, TLS handshake or WebSocket upgrade as the
// transport asks, one echo, reset, again).
//
// Every scenario runs over the plan's transport (Settings.transport): plain
// TCP, TLS, WebSocket or WebSocket over TLS, the same for the load
// generators and the server; fan-out and ingestion are plain TCP or TLS only.

import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { BenchFailure, type LoadMode, Loadgen, type LoadgenResult, type RoundEvent, type TriggeredEvent, splitConnections } from './loadgen.ts';
import { cpuByThread, cpuSeconds, monoNs, openFds, rssBytes, sleep, sleepUntil } from './procs.ts';
import { type IngestCount, type ServerKind, ServerProcess, type StopReport } from './server-process.ts';
import { type ServerMode, type Transport, isWebSocket } from './servers/protocol.ts';
import { mergeHistograms, percentile } from './stats.ts';

export const RATE_SCENARIOS = ['rate20k-1k', 'rate40k-1k', 'rate60k-1k', 'rate20k-10k', 'rate40k-10k', 'rate60k-10k'] as const;
export const INGEST_SCENARIOS = ['ingest-lines-100', 'ingest-lines-10k', 'ingest-16k-100', 'ingest-16k-10k'] as const;
export const SCENARIO_NAMES = ['idle', 'echo1k', 'echo10k', 'bulk', 'fanout', 'soak', 'handshake', ...RATE_SCENARIOS, ...INGEST_SCENARIOS] as const;
/** What a run without --scenario measures: the soak, offered-load and ingestion scenarios are asked for by name (or group). */
export const DEFAULT_SCENARIOS: ScenarioName[] = ['idle', 'echo1k', 'echo10k', 'bulk', 'fanout'];
export type ScenarioName = (typeof SCENARIO_NAMES)[number];
/** Names --scenario accepts for a whole group. */
export const SCENARIO_GROUPS: Record<string, readonly ScenarioName[]> = { rate: RATE_SCENARIOS, ingest: INGEST_SCENARIOS };

export function isRateScenario(name: ScenarioName): boolean {
  return SCENARIOS[name].mode === 'rate';
}

/** Why a scenario cannot run over a transport, or undefined when it can. */
export function transportProblem(name: ScenarioName, transport: Transport): string | undefined {
  const { mode } = SCENARIOS[name];
  if (isWebSocket(transport) && (mode === 'fanout' || mode === 'ingest')) return `${name} is plain TCP or TLS only (its servers frame no WebSocket)`;
  return undefined;
}

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
  /** Offered load: the load generators' nice value (negative: they keep their schedule ahead of the servers); 0 leaves it. */
  rateNice: number;
  /** Ingest: SO_SNDBUF of each client connection in bytes (the kernel doubles it); 0 leaves it to autotuning. */
  ingestSndbuf: number;
  /** What every scenario of the run speaks, clients and servers alike. */
  transport: Transport;
  /** The Flamingo copy to load (a snapshot of a git ref); the working tree's src when undefined. */
  flamingoEntry?: string;
}

interface ScenarioShape {
  mode: LoadMode;
  conns: (s: Settings) => number;
  /** Bytes per echo message, or per broadcast in fan-out, or per unit (line, chunk) ingested. */
  size: number;
  /** Offered load: messages/s over all connections and client processes. */
  rate?: number;
  /** Ingest: 64-byte lines, each a message (the servers frame them), rather than chunks as read. */
  lines?: boolean;
}

export const SCENARIOS: Record<ScenarioName, ScenarioShape> = {
  idle: { mode: 'idle', conns: (s) => s.idleConns, size: 16 },
  echo1k: { mode: 'echo', conns: () => 1000, size: 64 },
  echo10k: { mode: 'echo', conns: () => 10_000, size: 64 },
  bulk: { mode: 'bulk', conns: () => 100, size: 16 * 1024 },
  fanout: { mode: 'fanout', conns: () => 10_000, size: 64 },
  // The most connections the server's 20,000-file limit allows, echoing for --duration.
  soak: { mode: 'echo', conns: (s) => s.idleConns, size: 64 },
  // 100 connections at a time, each set up, confirmed by a 16-byte echo and reset, over and over.
  handshake: { mode: 'handshake', conns: () => 100, size: 16 },
  // Offered load: 64-byte echoes at a fixed total rate, well below saturation (20k/s) to near it (60k/s).
  'rate20k-1k': { mode: 'rate', conns: () => 1000, size: 64, rate: 20_000 },
  'rate40k-1k': { mode: 'rate', conns: () => 1000, size: 64, rate: 40_000 },
  'rate60k-1k': { mode: 'rate', conns: () => 1000, size: 64, rate: 60_000 },
  'rate20k-10k': { mode: 'rate', conns: () => 10_000, size: 64, rate: 20_000 },
  'rate40k-10k': { mode: 'rate', conns: () => 10_000, size: 64, rate: 40_000 },
  'rate60k-10k': { mode: 'rate', conns: () => 10_000, size: 64, rate: 60_000 },
  // Ingestion: one-way streams as fast as the server takes them.
  'ingest-lines-100': { mode: 'ingest', conns: () => 100, size: 64, lines: true },
  'ingest-lines-10k': { mode: 'ingest', conns: () => 10_000, size: 64, lines: true },
  'ingest-16k-100': { mode: 'ingest', conns: () => 100, size: 16 * 1024 },
  'ingest-16k-10k': { mode: 'ingest', conns: () => 10_000, size: 16 * 1024 },
};

function serverMode(shape: ScenarioShape): ServerMode {
  if (shape.mode === 'fanout') return 'fanout';
  if (shape.mode === 'ingest') return shape.lines ? 'ingest-lines' : 'ingest-chunks';
  return 'echo';
}

export interface RunOutcome {
  metrics: Record<string, number>;
  /** Everything else worth keeping in the JSON: server counters, CPU by thread, loadgen figures. */
  diagnostics: Record<string, unknown>;
  notes: string[];
}

const CONNECT_TIMEOUT_MS = 120_000;
const RESULT_TIMEOUT_MS = 30_000;
const ROUND_TIMEOUT_MS = 15_000;
/** Rate: the most messages a connection may have in flight; more are counted as missed, not sent. */
const MAX_OUTSTANDING = 64;
/** After the window: how long echoes (rate) or the servers' final totals (ingest: buffered bytes to read first) may take. */
const RATE_DRAIN_S = 10;
const INGEST_DRAIN_S = 60;
/** Offered load the server did not keep up with: achieved below this share of offered. */
const KEPT_UP_SHARE = 0.97;
/** A note when more than this share of sends started over 1 ms late. */
const LATE_SHARE = 0.05;
/** A load generator process using this much of a core in a window is the bottleneck, not the server. */
const SATURATED_CORE = 0.9;
const CORES = availableParallelism();

export async function runScenario(name: ScenarioName, kind: ServerKind, settings: Settings): Promise<RunOutcome> {
  const shape = SCENARIOS[name];
  const server = await ServerProcess.start(kind, serverMode(shape), settings.workers, settings.transport, settings.flamingoEntry);
  const gens: Loadgen[] = [];
  let stop: StopReport | undefined;
  try {
    const conns = shape.conns(settings);
    const counts = splitConnections(conns, Math.min(settings.loadgens, conns));
    const rssBefore = rssBytes(server.pids);
    // A hard bound on each load generator's life, past every timeout here.
    const roundsSeconds = ((settings.rounds + settings.warmupRounds) * ROUND_TIMEOUT_MS) / 1000;
    const drainS = shape.mode === 'ingest' ? INGEST_DRAIN_S : RATE_DRAIN_S;
    const maxSeconds = Math.ceil(CONNECT_TIMEOUT_MS / 1000 + settings.hold + settings.warmup + settings.duration + roundsSeconds + drainS + 120);
    counts.forEach((count, index) => {
      const trigger = shape.mode === 'fanout' && index === 0;
      gens.push(
        new Loadgen({
          mode: shape.mode,
          port: server.port,
          conns: count,
          size: shape.size,
          index,
          transport: settings.transport,
          trigger,
          maxSeconds,
          // Each process offers the share of the rate its connections are.
          ...(shape.rate === undefined
            ? {}
            : { rate: (shape.rate * count) / conns, maxOutstanding: MAX_OUTSTANDING, drainTimeoutS: RATE_DRAIN_S, nice: settings.rateNice }),
          ...(shape.mode === 'ingest' ? { lines: shape.lines ?? false, sndbuf: settings.ingestSndbuf, drainTimeoutS: INGEST_DRAIN_S } : {}),
        }),
      );
    });
    const connected = await Promise.all(gens.map((g) => g.connected(CONNECT_TIMEOUT_MS)));
    const connectSeconds = Math.max(...connected.map((c) => c.connect_s));
    let outcome: RunOutcome;
    if (shape.mode === 'idle') outcome = await idle(server, gens, settings, conns, rssBefore);
    else if (shape.mode === 'fanout') outcome = await fanout(server, gens, settings, conns);
    else if (shape.mode === 'rate') outcome = await offered(server, gens, settings, shape);
    else if (shape.mode === 'ingest') outcome = await ingest(server, gens, settings, shape, conns);
    else if (shape.mode === 'handshake') outcome = await handshakes(server, gens, settings);
    else outcome = await echo(server, gens, settings, shape);
    outcome.metrics.connectSeconds = connectSeconds;
    outcome.metrics.clients = gens.length;
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

interface MeasuredWindow {
  results: LoadgenResult[];
  w: Window;
  windowS: number;
}

/** Starts the load generators' run after --warmup, samples CPU at the window's edges, and waits for their results. */
async function measureWindow(server: ServerProcess, gens: Loadgen[], s: Settings, resultTimeoutMs: number): Promise<MeasuredWindow> {
  const start = monoNs() + BigInt(Math.round(s.warmup * 1e9));
  const end = start + BigInt(Math.round(s.duration * 1e9));
  for (const gen of gens) gen.send(`start ${start} ${end}`);
  await sleepUntil(start);
  const a = sample(server, gens);
  await sleepUntil(end);
  const b = sample(server, gens);
  const results = await Promise.all(gens.map((g) => g.result(resultTimeoutMs)));
  return { results, w: windowOf(a, b), windowS: Number(end - start) / 1e9 };
}

async function echo(server: ServerProcess, gens: Loadgen[], s: Settings, shape: ScenarioShape): Promise<RunOutcome> {
  const { results, w, windowS } = await measureWindow(server, gens, s, RESULT_TIMEOUT_MS);
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

/**
 * Offered load: the load generators send on their schedule from "start" on;
 * the window is measured as in echo. Achieved rate counts echoes completed in
 * the window; the latency of every message due in the window is taken from its
 * due time, including those that completed during the drain.
 */
async function offered(server: ServerProcess, gens: Loadgen[], s: Settings, shape: ScenarioShape): Promise<RunOutcome> {
  const { results, w, windowS } = await measureWindow(server, gens, s, RESULT_TIMEOUT_MS + RATE_DRAIN_S * 1000);
  const messages = sum(results.map((r) => r.messages));
  if (messages === 0) throw new BenchFailure('no echo message completed in the measured window');
  const perSecond = messages / windowS;
  const offeredPerSec = shape.rate!;
  const scheduled = sum(results.map((r) => r.scheduled));
  const late = sum(results.map((r) => r.late));
  const missed = sum(results.map((r) => r.missed));
  const hist = mergeHistograms(results.map((r) => r.hist));
  const metrics: Record<string, number> = {
    offeredPerSec,
    msgsPerSec: perSecond,
    achievedPct: (perSecond / offeredPerSec) * 100,
    p50Us: percentile(hist, 0.5) / 1000,
    p99Us: percentile(hist, 0.99) / 1000,
    p999Us: percentile(hist, 0.999) / 1000,
    serverCpuPerM: (w.serverCores / perSecond) * 1e6,
    serverCores: w.serverCores,
    latePct: scheduled > 0 ? (late / scheduled) * 100 : 0,
    missed,
    maxLagMs: Math.max(...results.map((r) => r.max_lag_ns)) / 1e6,
    loadgenCores: sum(w.loadgenCores),
    otherCores: w.otherCores,
    softirqCores: w.softirqCores,
  };
  const notes = saturationNotes(w.loadgenCores);
  if (perSecond < offeredPerSec * KEPT_UP_SHARE || missed > 0) {
    notes.push(
      `did not keep up with the offered ${offeredPerSec.toLocaleString('en-US')} msg/s: achieved ${Math.round(perSecond).toLocaleString('en-US')}, ` +
        `${missed} sends missed (the connection already had ${MAX_OUTSTANDING} in flight)`,
    );
  }
  if (late > scheduled * LATE_SHARE) {
    notes.push(
      `${metrics.latePct!.toFixed(1)}% of sends started more than 1 ms after their due time (at most ${metrics.maxLagMs!.toFixed(0)} ms): ` +
        'the load generator was not scheduled in time, or the socket was full',
    );
  }
  return {
    metrics,
    diagnostics: { cpuByThread: w.serverByThread, loadgens: results.map(loadgenSummary), loadgenCoresEach: w.loadgenCores },
    notes,
  };
}

/**
 * New connections as fast as the server sets them up: each of the load
 * generators' connections cycles (connect, TLS handshake or WebSocket upgrade,
 * one 16-byte echo that proves the server finished its side, reset). The
 * deciding figure is the server's CPU per handshake: the clients' handshakes
 * cost about as much as the server's, on the same cores.
 */
async function handshakes(server: ServerProcess, gens: Loadgen[], s: Settings): Promise<RunOutcome> {
  const { results, w, windowS } = await measureWindow(server, gens, s, RESULT_TIMEOUT_MS);
  const completed = sum(results.map((r) => r.messages));
  if (completed === 0) throw new BenchFailure('no handshake completed in the measured window');
  const perSecond = completed / windowS;
  const hist = mergeHistograms(results.map((r) => r.hist));
  return {
    metrics: {
      handshakesPerSec: perSecond,
      serverCpuMsPerHandshake: (w.serverCores / perSecond) * 1000,
      p50Ms: percentile(hist, 0.5) / 1e6,
      p99Ms: percentile(hist, 0.99) / 1e6,
      serverCores: w.serverCores,
      loadgenCores: sum(w.loadgenCores),
      otherCores: w.otherCores,
      softirqCores: w.softirqCores,
    },
    diagnostics: { cpuByThread: w.serverByThread, loadgens: results.map(loadgenSummary), loadgenCoresEach: w.loadgenCores },
    notes: saturationNotes(w.loadgenCores),
  };
}

/**
 * Ingestion: the load generators stream from "start" on; at the window's
 * edges the server reports what its consumers have checksummed (each count
 * stamped in the consumer's own thread), so MB/s is what the server read and
 * checksummed, not what the clients managed to put in socket buffers. At the
 * end every connection's totals are confirmed by the server (loadgen.c).
 */
async function ingest(server: ServerProcess, gens: Loadgen[], s: Settings, shape: ScenarioShape, conns: number): Promise<RunOutcome> {
  const start = monoNs() + BigInt(Math.round(s.warmup * 1e9));
  const end = start + BigInt(Math.round(s.duration * 1e9));
  for (const gen of gens) gen.send(`start ${start} ${end}`);
  await sleepUntil(start);
  const a = sample(server, gens);
  const countsA = await server.count();
  await sleepUntil(end);
  const b = sample(server, gens);
  const countsB = await server.count();
  const results = await Promise.all(gens.map((g) => g.result(RESULT_TIMEOUT_MS + INGEST_DRAIN_S * 1000)));
  const w = windowOf(a, b);
  const bytesPerSec = consumedRate(countsA, countsB);
  const verified = sum(results.map((r) => r.verified_conns));
  if (verified !== conns) throw new BenchFailure(`the server confirmed the totals of ${verified} of ${conns} connections`);
  const totalBytes = sum(results.map((r) => r.ingest_bytes));
  const consumedTotal = sum(countsB.map((c) => c.bytes));
  if (consumedTotal > totalBytes)
    throw new BenchFailure(`the server counted ${consumedTotal} bytes by the window's end; the clients sent ${totalBytes} in all`);
  if (bytesPerSec <= 0) throw new BenchFailure('the server consumed nothing in the measured window');
  const mbPerSec = bytesPerSec / 1e6;
  const windowS = Number(end - start) / 1e9;
  const metrics: Record<string, number> = {
    mbPerSec,
    serverCpuPerGB: (w.serverCores / mbPerSec) * 1000,
    serverCores: w.serverCores,
    loadgenCores: sum(w.loadgenCores),
    // What the clients wrote into their sockets in the window (buffers fill and drain: not the figure).
    clientMbPerSec: sum(results.map((r) => r.bytes)) / windowS / 1e6,
    verifiedGB: totalBytes / 1e9,
    // Sent but not yet read when the window closed: what sat in socket buffers (and, for Flamingo, its rings).
    backlogMB: (totalBytes - consumedTotal) / 1e6,
    otherCores: w.otherCores,
    softirqCores: w.softirqCores,
  };
  if (shape.lines) metrics.linesPerSec = bytesPerSec / shape.size;
  return {
    metrics,
    diagnostics: {
      cpuByThread: w.serverByThread,
      consumers: countsB.map((c) => c.consumer),
      loadgens: results.map(loadgenSummary),
      loadgenCoresEach: w.loadgenCores,
    },
    notes: saturationNotes(w.loadgenCores),
  };
}

/** Bytes/s summed over consumers, each over its own pair of stamps. */
function consumedRate(before: readonly IngestCount[], after: readonly IngestCount[]): number {
  let rate = 0;
  for (const b of after) {
    const a = before.find((c) => c.consumer === b.consumer);
    if (a === undefined) throw new BenchFailure(`consumer ${b.consumer} appeared during the window`);
    const seconds = Number(b.tNs - a.tNs) / 1e9;
    if (seconds > 0) rate += (b.bytes - a.bytes) / seconds;
  }
  return rate;
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
  return {
    index: r.index,
    conns: r.conns,
    messages: r.messages,
    cpuWindowS: r.cpu_window_s,
    cpuS: r.cpu_s,
    connectS: r.connect_s,
    lat_ns: r.lat_ns,
    ...(r.scheduled > 0 ? { scheduled: r.scheduled, late: r.late, missed: r.missed, maxLagNs: r.max_lag_ns } : {}),
    ...(r.verified_conns > 0 ? { verifiedConns: r.verified_conns, ingestBytes: r.ingest_bytes, ingestLines: r.ingest_lines } : {}),
    ...(r.pongs > 0 ? { pongs: r.pongs } : {}),
  };
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
