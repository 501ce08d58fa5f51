// The cluster benchmark: pub/sub fan-out across Flamingo server processes
// routed through a real Redis, against the same fan-out in one process
// without Redis, in one run. Measured, never asserted.
//
//   npm run bench:cluster                        57,000 connections on 3 processes, then the baseline (about 4 minutes)
//   npm run bench:cluster -- --quick             3,000 connections, short windows (about 1 minute)
//   npm run bench:cluster -- --rate 40000 --saturate
//
// Cluster: redis-server on a free loopback port (--save '' --appendonly no),
// 3 demo server processes (examples/echo.ts --framing delimiter --redis URL,
// each --share-port --node auto, or one --processes 3 supervisor) on one
// port, the kernel spreading connections over them. Client processes
// (bench/cluster/subgen.c, C epoll, built at start) open the connections,
// each subscribing to one of 100 topics and waiting for its OK; a publisher
// process holds one connection on each server (found by which process
// accepted it) and paces PUB lines of 64-byte payloads, each topic on one
// connection, at --rate deliveries/s. Every delivery is checked by its
// client: own topic, per-topic sequence in order without gap or duplicate,
// payload intact; publish-to-delivery latency from a CLOCK_MONOTONIC stamp.
// Baseline: one server process without Redis, --baseline-conns connections,
// the same topics and the same offered deliveries/s.
//
// Flags (defaults in brackets):
//   --conns N            cluster connections [57000; 3000 with --quick]
//   --servers N          cluster server processes [3]
//   --baseline-conns N   baseline connections [19000; 1000 with --quick]; 0 skips the baseline
//   --topics N           topics [100]
//   --rate D             offered deliveries/s, cluster and baseline alike [20000]
//   --duration S         measured seconds of traffic [20; 5]
//   --warmup S           seconds of traffic before the window [3; 1]
//   --idle S             seconds of the idle CPU window [10; 3]
//   --saturate           after the fixed-rate window, raise the rate by --step until the servers fall behind
//   --step F             rate multiplier per saturation step [1.5]
//   --max-steps N        saturation steps at most [8]
//   --topology T         separate (3 processes with --share-port --node auto) | supervised (--processes 3) [separate]
//   --server-args "..."  more flags for every demo server process (e.g. "--workers 1")
//   --demo PATH          the server script [examples/echo.ts] (another one speaking the same lines, for testing the harness)
//   --pub-probes N       publisher connections opened to find one per server process [30]
//   --drain-timeout S    after a window, how long clients wait for the deliveries still due [30]
//   --runs N             runs of each setup, alternating (the table shows medians and min–max) [1]
//   --results NAME       writes bench/results/NAME.json and NAME.md [cluster; cluster-quick with --quick]
//   --quiet-wait S       before each setup, wait up to S seconds for other processes to leave the CPUs idle [10]
//   --timeout MIN        stop everything after this many minutes [30]
//
// Every process started (redis-server, servers, clients) is stopped at the
// end, on failure, on timeout and on SIGINT/SIGTERM. The exit code is 1 only
// when a setup could not be run; verification counts are reported, not asserted.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { boxCpu, type BoxCpu } from '../load/scenarios.ts';
import { cpuByThread, cpuSeconds, killAll, monoNs, rssBytes, runGuarded, sleep, sleepUntil } from '../load/procs.ts';
import { mergeHistograms, percentile } from '../load/stats.ts';
import { aggregate, figuresTable, format, projection, ratios, type Metrics, type SetupResult, splitTable, stepsTable } from './report.ts';
import { Fleet, freePort, kernelMemory, ownersOfClientPorts, Redis, socketCount } from './servers.ts';
import {
  describeBenchError,
  buildSubgen,
  type CheckedEvent,
  MAX_CONNS_PER_PROCESS,
  type PublishedEvent,
  type ResultEvent,
  SOURCES_PER_PROCESS,
  Subgen,
  split,
} from './subgen.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const CONNECT_TIMEOUT_MS = 180_000;
const OPEN_FILE_LIMIT = 20_000;
/** Ports tried for the servers when the free one found is taken before they bind it. */
const PORT_ATTEMPTS = 3;
/** Stop the saturation steps when the window delivers less than this share of what was offered. */
const KEEPS_UP = 0.95;
/** ... or when clients need longer than this after the window to receive everything published in it ... */
const MAX_CATCH_UP_S = 3;
/** ... or when the window's p99 publish-to-delivery latency passes this: deliveries queue up somewhere. */
const MAX_P99_MS = 1000;
/** The machine counts as quiet when everything on it uses less than this (kernel threads tick along). */
const QUIET_CORES = 0.25;
/** A window with other processes busier than this gets a note: its figures are noisier. */
const BUSY_ELSEWHERE_CORES = 0.3;

interface Plan {
  runs: number;
  conns: number;
  servers: number;
  baselineConns: number;
  topics: number;
  rate: number;
  duration: number;
  warmup: number;
  idle: number;
  saturate: boolean;
  step: number;
  maxSteps: number;
  topology: 'separate' | 'supervised';
  serverArgs: string[];
  demo: string;
  pubProbes: number;
  drainTimeout: number;
  results: string;
  timeoutMin: number;
  quietWait: number;
  settle: number;
}

function parsePlan(): Plan {
  const { values } = parseArgs({
    options: {
      conns: { type: 'string' },
      runs: { type: 'string' },
      servers: { type: 'string' },
      'baseline-conns': { type: 'string' },
      topics: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      idle: { type: 'string' },
      saturate: { type: 'boolean', default: false },
      step: { type: 'string' },
      'max-steps': { type: 'string' },
      topology: { type: 'string' },
      'server-args': { type: 'string' },
      demo: { type: 'string' },
      'pub-probes': { type: 'string' },
      'drain-timeout': { type: 'string' },
      results: { type: 'string' },
      timeout: { type: 'string' },
      'quiet-wait': { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(`See the comment at the top of ${fileURLToPath(import.meta.url)} for every flag and its default.`);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const number = (name: string, text: string | undefined, full: number, smoke: number, min: number, max: number): number => {
    const value = text === undefined ? (quick ? smoke : full) : Number(text);
    if (!Number.isFinite(value) || value < min || value > max) throw new Error(`--${name} must be a number from ${min} to ${max}; got ${text}`);
    return value;
  };
  const topology = values.topology ?? 'separate';
  if (topology !== 'separate' && topology !== 'supervised') throw new Error(`--topology must be separate or supervised; got ${topology}`);
  const results = values.results ?? (quick ? 'cluster-quick' : 'cluster');
  if (!/^[\w.-]+$/.test(results)) throw new Error(`--results takes a plain file name; got ${results}`);
  const servers = Math.round(number('servers', values.servers, 3, 3, 1, 16));
  return {
    runs: Math.round(number('runs', values.runs, 1, 1, 1, 20)),
    conns: Math.round(number('conns', values.conns, 57_000, 3000, 1, servers * MAX_CONNS_PER_PROCESS)),
    servers,
    baselineConns: Math.round(number('baseline-conns', values['baseline-conns'], 19_000, 1000, 0, MAX_CONNS_PER_PROCESS)),
    topics: Math.round(number('topics', values.topics, 100, 100, 1, 1000)),
    rate: number('rate', values.rate, 20_000, 20_000, 1, 10_000_000),
    duration: number('duration', values.duration, 20, 5, 1, 600),
    warmup: number('warmup', values.warmup, 3, 1, 0, 60),
    idle: number('idle', values.idle, 10, 3, 1, 600),
    saturate: values.saturate ?? false,
    step: number('step', values.step, 1.5, 1.5, 1.05, 10),
    maxSteps: Math.round(number('max-steps', values['max-steps'], 8, 4, 1, 50)),
    topology,
    serverArgs: (values['server-args'] ?? '').split(/\s+/).filter((s) => s !== ''),
    demo: values.demo ?? fileURLToPath(new URL('../../examples/echo.ts', import.meta.url)),
    pubProbes: Math.round(number('pub-probes', values['pub-probes'], 30, 30, 1, 1000)),
    drainTimeout: number('drain-timeout', values['drain-timeout'], 30, 15, 1, 600),
    results,
    timeoutMin: number('timeout', values.timeout, 30, 10, 1, 600),
    quietWait: number('quiet-wait', values['quiet-wait'], 10, 5, 0, 600),
    settle: quick ? 1 : 2,
  };
}

interface Setup {
  name: 'cluster' | 'baseline';
  conns: number;
  processes: number;
  redis: boolean;
}

interface CpuSample {
  t: bigint;
  servers: number[];
  /** CPU-seconds by thread name over the server processes (the comm of each thread: main, I/O workers, libuv ...). */
  byThread: Record<string, number>;
  flamingo: number;
  redis: number;
  clients: number;
  /** Each client process (publisher first), to tell whether one of them is the bottleneck. */
  clientsEach: number[];
  box: BoxCpu;
  self: number;
}

class Rig {
  readonly plan: Plan;
  readonly setup: Setup;
  readonly notes: string[] = [];
  redis: Redis | undefined;
  fleet: Fleet | undefined;
  pub: Subgen | undefined;
  subs: Subgen[] = [];
  port = 0;
  counts: number[] = [];

  constructor(plan: Plan, setup: Setup) {
    this.plan = plan;
    this.setup = setup;
  }

  get gens(): Subgen[] {
    return this.pub === undefined ? this.subs : [this.pub, ...this.subs];
  }

  sample(): CpuSample {
    const usage = process.cpuUsage();
    return {
      t: monoNs(),
      servers: this.fleet!.servers.map((pid) => cpuSeconds([pid])),
      byThread: threadTotals(this.fleet!.servers),
      flamingo: cpuSeconds(this.fleet!.all),
      redis: this.redis === undefined ? 0 : cpuSeconds([this.redis.child.pid]),
      clients: cpuSeconds(this.gens.map((g) => g.child.pid)),
      clientsEach: this.gens.map((g) => cpuSeconds([g.child.pid])),
      box: boxCpu(),
      self: (usage.user + usage.system) / 1e6,
    };
  }

  /** Kills whatever is still running; the caller's finally. */
  async teardown(): Promise<void> {
    for (const g of this.gens) g.child.kill();
    await this.fleet?.stop().catch(() => undefined);
    await this.redis?.stop().catch(() => undefined);
  }
}

interface Window {
  seconds: number;
  flamingoCores: number;
  flamingoCpu: number;
  redisCores: number;
  redisCpu: number;
  clientCores: number;
  /** The busiest client process. */
  clientCoresMax: number;
  otherCores: number;
  softirqCores: number;
  serverCores: number[];
  /** Cores by thread name, summed over the server processes. */
  byThread: Record<string, number>;
}

function threadTotals(pids: readonly number[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const pid of pids) for (const [name, cpu] of Object.entries(cpuByThread([pid]))) totals[name] = (totals[name] ?? 0) + cpu;
  return totals;
}

function windowOf(a: CpuSample, b: CpuSample): Window {
  const seconds = Number(b.t - a.t) / 1e9;
  const cores = availableParallelism();
  const share = (pick: (box: BoxCpu) => number): number => ((pick(b.box) - pick(a.box)) / Math.max(1, b.box.total - a.box.total)) * cores;
  const flamingoCpu = b.flamingo - a.flamingo;
  const redisCpu = b.redis - a.redis;
  const clientCpu = b.clients - a.clients;
  const selfCpu = b.self - a.self;
  return {
    seconds,
    flamingoCpu,
    flamingoCores: flamingoCpu / seconds,
    redisCpu,
    redisCores: redisCpu / seconds,
    clientCores: clientCpu / seconds,
    clientCoresMax: Math.max(0, ...b.clientsEach.map((cpu, i) => (cpu - (a.clientsEach[i] ?? cpu)) / seconds)),
    otherCores: Math.max(0, share((box) => box.busy) - (flamingoCpu + redisCpu + clientCpu + selfCpu) / seconds),
    softirqCores: share((box) => box.softirq),
    serverCores: b.servers.map((cpu, i) => (cpu - a.servers[i]!) / seconds),
    byThread: Object.fromEntries(
      Object.entries(b.byThread)
        .map(([name, cpu]) => [name, Math.round(((cpu - (a.byThread[name] ?? 0)) / seconds) * 1e4) / 1e4] as const)
        .filter(([, cores]) => cores > 0)
        .sort((x, y) => y[1] - x[1]),
    ),
  };
}

async function startServers(rig: Rig): Promise<void> {
  const { plan, setup } = rig;
  if (setup.redis) rig.redis = await Redis.start();
  // A free port can be taken by another program between the look and the servers' bind (tests running meanwhile): try another.
  for (let attempt = 1; ; attempt++) {
    rig.port = await freePort();
    try {
      rig.fleet = await Fleet.start({
        demo: plan.demo,
        port: rig.port,
        processes: setup.processes,
        redis: rig.redis?.url,
        topology: plan.topology,
        extraArgs: plan.serverArgs,
      });
      break;
    } catch (error) {
      const taken = /ERR_FLAMINGO_LISTEN|EADDRINUSE/.test(String(error instanceof Error ? error.message : error));
      if (!taken || attempt >= PORT_ATTEMPTS) throw error;
      rig.notes.push(`port ${rig.port} was taken by another program as the servers started; took another`);
      await sleep(500);
    }
  }
  // Let start-up work (worker spawn, the first JIT, the node lease) settle before anyone samples it.
  await sleep(plan.settle * 1000);
}

/** The publisher: connections until each server process has one, then the ones it keeps. Returns the publishers per server. */
async function startPublisher(rig: Rig, clientProcesses: number, maxSeconds: number): Promise<number[]> {
  const { plan, setup } = rig;
  const fleet = rig.fleet!;
  const srcBase = 2 + clientProcesses * SOURCES_PER_PROCESS;
  const probes = setup.processes === 1 ? 1 : plan.pubProbes;
  const pub = new Subgen({
    mode: 'pub',
    port: rig.port,
    conns: probes,
    topics: plan.topics,
    first: 0,
    index: clientProcesses,
    srcBase,
    srcCount: 1,
    drainTimeoutS: plan.drainTimeout,
    maxSeconds,
  });
  rig.pub = pub;
  const connected = await pub.connected(30_000);
  // A connection the kernel completed may wait in a listen queue before its server accepts it: ask again until all are placed.
  let owners = [0];
  for (let attempt = 0; setup.processes > 1 && attempt < 50; attempt++) {
    owners = ownersOfClientPorts(fleet.servers, rig.port, srcBase, connected.ports);
    if (!owners.includes(-1)) break;
    await sleep(100);
  }
  const use: number[] = [];
  const perServer = fleet.servers.map(() => 0);
  for (let s = 0; s < fleet.servers.length; s++) {
    const i = owners.indexOf(s);
    if (i >= 0) {
      use.push(i);
      perServer[s]!++;
    }
  }
  if (use.length === 0) {
    rig.notes.push(`could not tell which server process accepted the publisher's connections; publishing on one of them, server unknown`);
    use.push(0);
  } else if (use.length < fleet.servers.length) {
    rig.notes.push(`the publisher's ${probes} connections reached only ${use.length} of ${fleet.servers.length} server processes; publishing through those`);
  }
  pub.send(`use ${use.join(' ')}`);
  await pub.event('using', 5000);
  return perServer;
}

interface WindowFigures {
  metrics: Metrics;
  /** CPU of each server process over the window, in cores. */
  serverCores: number[];
  /** Cores by server thread name over the window. */
  byThread: Record<string, number>;
  published: PublishedEvent;
  checked: CheckedEvent[];
}

/** One measured window at `rate` offered deliveries/s, then the check that every delivery due arrived. */
async function measure(rig: Rig, rate: number): Promise<WindowFigures> {
  const { plan, setup } = rig;
  const perPublish = setup.conns / plan.topics;
  const publishRate = rate / perPublish;
  const start = monoNs() + 500_000_000n;
  const windowStart = start + BigInt(Math.round(plan.warmup * 1e9));
  const windowEnd = windowStart + BigInt(Math.round(plan.duration * 1e9));
  for (const s of rig.subs) s.send(`window ${windowStart} ${windowEnd}`);
  rig.pub!.send(`run ${publishRate} ${start} ${windowEnd}`);
  await sleepUntil(windowStart);
  const a = rig.sample();
  await sleepUntil(windowStart + (windowEnd - windowStart) / 2n);
  const kernelMid = kernelMemory();
  await sleepUntil(windowEnd);
  const b = rig.sample();
  const published = await rig.pub!.event<PublishedEvent>('published', (plan.duration + plan.warmup + 60) * 1000);
  rig.counts = published.counts;
  for (const s of rig.subs) s.send(`check 0 ${published.counts.join(' ')}`);
  const checked = await Promise.all(rig.subs.map((s) => s.event<CheckedEvent>('checked', (plan.drainTimeout + 30) * 1000)));
  const w = windowOf(a, b);
  const windowDeliveries = sum(checked.map((c) => c.window_deliveries));
  const hist = mergeHistograms(checked.map((c) => c.hist));
  const perM = (cpu: number): number => (windowDeliveries > 0 ? (cpu / windowDeliveries) * 1e6 : Number.NaN);
  return {
    published,
    checked,
    serverCores: w.serverCores,
    byThread: w.byThread,
    metrics: {
      offeredPerSec: rate,
      publishesPerSec: publishRate,
      deliveriesPerSec: windowDeliveries / w.seconds,
      flamingoCpuPerM: perM(w.flamingoCpu),
      redisCpuPerM: setup.redis ? perM(w.redisCpu) : Number.NaN,
      totalCpuPerM: perM(w.flamingoCpu + w.redisCpu),
      flamingoCores: w.flamingoCores,
      redisCores: setup.redis ? w.redisCores : Number.NaN,
      clientCores: w.clientCores,
      clientCoresMax: w.clientCoresMax,
      otherCores: w.otherCores,
      softirqCores: w.softirqCores,
      p50Us: percentile(hist, 0.5) / 1000,
      p99Us: percentile(hist, 0.99) / 1000,
      p999Us: percentile(hist, 0.999) / 1000,
      maxUs: Math.max(0, ...checked.map((c) => c.lat_ns.max)) / 1000,
      pubLagMaxMs: published.lag_max_ns / 1e6,
      pubBlocked: published.blocked,
      drainSeconds: Math.max(...checked.map((c) => c.drain_s)),
      behindConns: sum(checked.map((c) => c.behind_conns)),
      shortfall: sum(checked.map((c) => c.shortfall)),
      tcpBuffersMid: kernelMid.tcpBuffers,
      windowDeliveries,
      windowStamped: sum(checked.map((c) => c.window_stamped)),
      lostConns: sum(checked.map((c) => c.conn_errors)),
    },
  };
}

async function runSetup(plan: Plan, setup: Setup, tag: string): Promise<SetupResult> {
  const rig = new Rig(plan, setup);
  try {
    return await runRig(rig, tag);
  } finally {
    await rig.teardown();
  }
}

async function runRig(rig: Rig, tag: string): Promise<SetupResult> {
  const { plan, setup } = rig;
  const label = `[${tag}]`;
  const clientProcesses = Math.ceil(setup.conns / MAX_CONNS_PER_PROCESS);
  const windows = 1 + (plan.saturate ? plan.maxSteps : 0);
  const maxSeconds = Math.ceil(CONNECT_TIMEOUT_MS / 1000 + plan.idle + windows * (plan.warmup + plan.duration + plan.drainTimeout + 5) + 300);

  console.log(`${label} starting ${setup.redis ? `redis-server and ${setup.processes} server processes` : 'one server process without Redis'}`);
  await startServers(rig);
  const fleet = rig.fleet!;
  const publishers = await startPublisher(rig, clientProcesses, maxSeconds);
  await sleep(500);

  const before = {
    rss: fleet.servers.map((pid) => rssBytes([pid])),
    rssAll: rssBytes(fleet.all),
    redisRss: rig.redis === undefined ? 0 : rssBytes([rig.redis.child.pid]),
    sockets: fleet.servers.map(socketCount),
    kernel: kernelMemory(),
  };

  console.log(`${label} ${format(setup.conns)} connections from ${clientProcesses} client processes, each subscribing to one of ${plan.topics} topics`);
  let first = 0;
  split(setup.conns, clientProcesses).forEach((conns, index) => {
    rig.subs.push(
      new Subgen({
        mode: 'sub',
        port: rig.port,
        conns,
        topics: plan.topics,
        first,
        index,
        srcBase: 2 + index * SOURCES_PER_PROCESS,
        srcCount: SOURCES_PER_PROCESS,
        drainTimeoutS: plan.drainTimeout,
        maxSeconds,
      }),
    );
    first += conns;
  });
  const connectStart = monoNs();
  await Promise.all(rig.subs.map((s) => s.subscribed(CONNECT_TIMEOUT_MS)));
  const connectSeconds = Number(monoNs() - connectStart) / 1e9;
  await sleep(plan.settle * 1000);
  const after = {
    rss: fleet.servers.map((pid) => rssBytes([pid])),
    rssAll: rssBytes(fleet.all),
    redisRss: rig.redis === undefined ? 0 : rssBytes([rig.redis.child.pid]),
    sockets: fleet.servers.map(socketCount),
    kernel: kernelMemory(),
  };
  const split_ = after.sockets.map((n, i) => n - before.sockets[i]!);
  console.log(`${label} subscribed in ${connectSeconds.toFixed(1)} s; connections per server process: ${split_.map(format).join(' / ')}`);

  console.log(`${label} idle for ${plan.idle} s`);
  const idleA = rig.sample();
  await sleep(plan.idle * 1000);
  const idleB = rig.sample();
  const idle = windowOf(idleA, idleB);

  console.log(`${label} ${format(plan.rate)} deliveries/s offered for ${plan.warmup} + ${plan.duration} s`);
  const main = await measure(rig, plan.rate);
  console.log(`${label} ${stepLine(main.metrics)}`);

  // With --saturate, the fixed-rate window is the first step, then the rate grows until the servers fall behind.
  const steps: Metrics[] = [];
  if (plan.saturate) {
    steps.push(main.metrics);
    let rate = plan.rate;
    for (let step = 1; step <= plan.maxSteps && keepsUp(steps[steps.length - 1]!); step++) {
      rate *= plan.step;
      const figures = await measure(rig, rate);
      steps.push(figures.metrics);
      console.log(`${label} saturation step ${step}: ${stepLine(figures.metrics)}`);
    }
  }
  const kept = steps.filter(keepsUp);
  for (const [i, m] of (steps.length > 0 ? steps : [main.metrics]).entries()) {
    if (m.otherCores! >= BUSY_ELSEWHERE_CORES) {
      rig.notes.push(
        `other processes on the machine used ${m.otherCores!.toFixed(2)} cores during ${i === 0 ? 'the measured window' : `saturation step ${i}`}: its figures are noisier`,
      );
    }
  }
  if (idle.otherCores >= BUSY_ELSEWHERE_CORES) rig.notes.push(`other processes on the machine used ${idle.otherCores.toFixed(2)} cores during the idle window`);

  // The final check: every client must have everything published, in order.
  for (const s of rig.subs) s.send(`check 1 ${rig.counts.join(' ')}`);
  await Promise.all(rig.subs.map((s) => s.event<CheckedEvent>('checked', (plan.drainTimeout + 30) * 1000)));
  const results = await Promise.all(rig.subs.map((s) => s.result(10_000)));
  rig.pub!.send('quit');
  const pubResult = await rig.pub!.result(10_000);
  const stop = await fleet.stop();
  if (!stop.clean) rig.notes.push(`a server did not exit cleanly on SIGTERM: ${stop.details.join('; ')}`);
  if (rig.redis !== undefined) await rig.redis.stop();

  const verification = verify(results, pubResult);
  for (const line of verification.problems) rig.notes.push(line);
  const conns = setup.conns;
  const metrics: Metrics = {
    conns,
    processes: setup.processes,
    topics: plan.topics,
    subscribersPerTopic: conns / plan.topics,
    connectSeconds,
    ...pick(main.metrics, [
      'offeredPerSec',
      'publishesPerSec',
      'deliveriesPerSec',
      'flamingoCpuPerM',
      'redisCpuPerM',
      'totalCpuPerM',
      'flamingoCores',
      'redisCores',
      'clientCores',
      'clientCoresMax',
      'otherCores',
      'softirqCores',
      'p50Us',
      'p99Us',
      'p999Us',
      'maxUs',
      'pubLagMaxMs',
      'drainSeconds',
    ]),
    rssBeforeMB: before.rssAll / 1e6,
    rssWithMB: after.rssAll / 1e6,
    rssPerConn: (after.rssAll - before.rssAll) / conns,
    redisRssDeltaMB: setup.redis ? (after.redisRss - before.redisRss) / 1e6 : Number.NaN,
    slabPerConn: (after.kernel.slab - before.kernel.slab) / conns,
    tcpBuffersPerConn: (after.kernel.tcpBuffers - before.kernel.tcpBuffers) / conns,
    idleSeconds: idle.seconds,
    idleFlamingoCpuS: idle.flamingoCpu,
    idleFlamingoCores: idle.flamingoCores,
    idleFlamingoPctPer10k: (idle.flamingoCores / conns) * 1e4 * 100,
    idleRedisCpuS: setup.redis ? idle.redisCpu : Number.NaN,
    idleRedisCores: setup.redis ? idle.redisCores : Number.NaN,
    ...verification.counts,
    ...(plan.saturate
      ? { sustainedPerSec: Math.max(0, ...kept.map((m) => m.deliveriesPerSec!)), peakPerSec: Math.max(...steps.map((m) => m.deliveriesPerSec!)) }
      : {}),
  };
  const perServer = fleet.servers.map((pid, i) => ({
    pid,
    conns: split_[i]!,
    rssPerConn: split_[i]! > 0 ? (after.rss[i]! - before.rss[i]!) / split_[i]! : Number.NaN,
    windowCores: main.serverCores[i]!,
    idleCpuS: idle.serverCores[i]! * idle.seconds,
    publishers: publishers[i]!,
  }));
  return {
    name: setup.name,
    metrics,
    split: split_,
    steps,
    notes: rig.notes,
    diagnostics: {
      perServer,
      kernelBefore: before.kernel,
      kernelAfter: after.kernel,
      mainWindow: main.metrics,
      // System-wide (sockstat counts every TCP socket on the machine): noisy when other programs use TCP meanwhile.
      tcpBuffersBytesMidWindowMinusBefore: main.metrics.tcpBuffersMid! - before.kernel.tcpBuffers,
      coresByThreadInWindow: main.byThread,
      coresByThreadIdle: idle.byThread,
      idleOtherCores: idle.otherCores,
      clients: results,
      publisher: pubResult,
      publishedPerTopic: rig.counts,
    },
  };
}

function verify(results: ResultEvent[], pub: ResultEvent): { counts: Metrics; problems: string[] } {
  const counts = {
    expected: sum(results.map((r) => r.expected)),
    delivered: sum(results.map((r) => r.delivered)),
    missing: sum(results.map((r) => r.missing)),
    duplicate: sum(results.map((r) => r.duplicate)),
    corrupt: sum(results.map((r) => r.corrupt)),
    misrouted: sum(results.map((r) => r.misrouted)),
    errLines: sum(results.map((r) => r.err_lines)) + pub.err_lines,
    connErrors: sum(results.map((r) => r.conn_errors)) + pub.conn_errors,
  };
  const problems: string[] = [];
  for (const r of [...results, pub]) {
    const first = [r.first_conn_error, r.first_verify_error, r.first_err_line].filter((s) => s !== '').join('; ');
    if (first !== '') problems.push(`${r.mode}gen#${r.index}: ${first}`);
  }
  return { counts, problems };
}

/** A window the servers kept up with: nearly all it offered delivered inside it, the rest soon after, p99 under a second, no connection lost. */
function keepsUp(m: Metrics): boolean {
  return m.deliveriesPerSec! >= KEEPS_UP * m.offeredPerSec! && m.drainSeconds! <= MAX_CATCH_UP_S && m.p99Us! <= MAX_P99_MS * 1000 && m.lostConns! === 0;
}

function stepLine(m: Metrics): string {
  const pct = ((m.deliveriesPerSec! / m.offeredPerSec!) * 100).toFixed(1);
  const redis = Number.isNaN(m.redisCpuPerM!) ? '' : ` + Redis ${format(m.redisCpuPerM)}`;
  return (
    `${format(m.deliveriesPerSec)} deliveries/s (${pct}% of offered), Flamingo ${format(m.flamingoCpuPerM)}${redis} CPU-s per 1M, ` +
    `p50 ${format(m.p50Us)} µs p99 ${format(m.p99Us)} µs, caught up ${format(m.drainSeconds)} s after the window` +
    (m.shortfall! > 0 ? `, ${format(m.shortfall)} deliveries still due from ${format(m.behindConns)} connections` : '')
  );
}

function pick(m: Metrics, keys: string[]): Metrics {
  return Object.fromEntries(keys.map((k) => [k, m[k]!]));
}

function sum(values: readonly number[]): number {
  return values.reduce((total, v) => total + v, 0);
}

function threadLine(byThread: unknown): string {
  const entries = Object.entries((byThread ?? {}) as Record<string, number>).slice(0, 6);
  return entries.length === 0 ? 'none measurable' : entries.map(([name, cores]) => `${name} ${format(cores)}`).join(', ');
}

/** Waits (at most `maxSeconds`) until other processes leave the CPUs idle; returns the last busy figure in cores. */
async function waitForQuiet(maxSeconds: number): Promise<number> {
  const deadline = Date.now() + maxSeconds * 1000;
  for (;;) {
    const a = boxCpu();
    await sleep(500);
    const b = boxCpu();
    const busy = ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * availableParallelism();
    if (busy < QUIET_CORES || Date.now() >= deadline) return busy;
  }
}

function describeFlamingo(): string {
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
  try {
    const dirty = git('status', '--porcelain', '--', 'src', 'examples') !== '';
    return `working tree at ${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes in src/ or examples/' : ''}`;
  } catch {
    return 'unknown (no git)';
  }
}

function redisVersion(): string {
  try {
    return /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function main(plan: Plan): Promise<number> {
  const started = Date.now();
  buildSubgen();
  const meta = {
    node: process.version,
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown CPU',
    kernel: release(),
    memoryBytes: totalmem(),
    redis: redisVersion(),
    date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    command: `npm run bench:cluster${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    flamingo: describeFlamingo(),
    demo: plan.demo,
    plan,
  };
  const header = [
    `Flamingo cluster benchmark: Node ${meta.node}, ${meta.cores} cores (${meta.cpuModel}), ${(meta.memoryBytes / 1e9).toFixed(0)} GB, Linux ${meta.kernel}, redis-server ${meta.redis}, ${meta.date}`,
    `Flamingo: ${meta.flamingo}; server: ${plan.demo.startsWith(REPO) ? plan.demo.slice(REPO.length) : plan.demo}${plan.serverArgs.length > 0 ? ` ${plan.serverArgs.join(' ')}` : ''}; command: ${meta.command}`,
    `Cluster: ${format(plan.conns)} connections on ${plan.servers} processes (${plan.topology}) through Redis; baseline: ${format(plan.baselineConns)} connections on one process without Redis; ` +
      `${plan.topics} topics, 64-byte payloads, ${format(plan.rate)} deliveries/s offered, ${plan.duration} s measured after ${plan.warmup} s; idle window ${plan.idle} s` +
      `${plan.runs > 1 ? `; ${plan.runs} runs of each, alternating: each figure the median (min–max)` : '; one run of each'}.`,
  ];
  console.log(header.join('\n'));

  const setups: Setup[] = [{ name: 'cluster', conns: plan.conns, processes: plan.servers, redis: true }];
  if (plan.baselineConns > 0) setups.push({ name: 'baseline', conns: plan.baselineConns, processes: 1, redis: false });
  const all: SetupResult[] = [];
  const failures: string[] = [];
  for (let run = 1; run <= plan.runs; run++) {
    // Alternate which setup goes first, so neither always runs on a machine just freed by the other.
    for (const setup of run % 2 === 1 ? setups : [...setups].reverse()) {
      const tag = plan.runs > 1 ? `${setup.name} run ${run}` : setup.name;
      const busy = await waitForQuiet(plan.quietWait);
      if (busy >= QUIET_CORES) console.log(`[${tag}] other processes keep ${busy.toFixed(2)} cores busy; running anyway`);
      try {
        const result = await runSetup(plan, setup, tag);
        if (plan.runs > 1) result.notes = result.notes.map((n) => `run ${run}: ${n}`);
        all.push(result);
      } catch (error) {
        const message = `${tag} FAILED: ${error instanceof Error ? error.message : String(error)}`;
        console.error(`\n${message}\n`);
        failures.push(message);
        killAll();
      }
      await sleep(1000); // let the kernel finish tearing down the last sockets
    }
  }
  const results = aggregate(all);

  const lines: string[] = [...header.map((l) => `${l}  `), ''];
  if (results.length > 0) lines.push(figuresTable(results), '');
  for (const r of results) {
    if (r.name === 'cluster') lines.push('Connections per server process (the kernel spreads them):', '', splitTable(r), '');
    lines.push(`Where the server CPU went (${r.name}, cores by thread name over all server processes${results.some((x) => x.runs) ? ', last run' : ''}):`, '');
    lines.push(`- measured window: ${threadLine(r.diagnostics.coresByThreadInWindow)}`, `- idle window: ${threadLine(r.diagnostics.coresByThreadIdle)}`, '');
    if (r.steps.length > 0) {
      lines.push(
        `Saturation steps (${r.name}): the fixed-rate window, then ×${plan.step} per step until a window delivers under ${KEEPS_UP * 100}% of what it offered,`,
        `needs more than ${MAX_CATCH_UP_S} s after it to deliver the rest, has a p99 latency over ${MAX_P99_MS} ms, or loses a connection.`,
        '',
        stepsTable(r.steps),
        '',
      );
    }
  }
  const cluster = results.find((r) => r.name === 'cluster');
  let projected: ReturnType<typeof projection> | undefined;
  if (cluster !== undefined) {
    projected = projection(cluster, {
      cores: availableParallelism(),
      memoryBytes: totalmem(),
      fileLimit: OPEN_FILE_LIMIT,
      connsPerProcess: MAX_CONNS_PER_PROCESS,
    });
    lines.push('Projection to 1,000,000 connections (from the cluster run):', '', projected.markdown, '');
  }
  lines.push(...methodNotes());
  const notes = results.flatMap((r) => r.notes.map((n) => `${r.name}: ${n}`));
  if (notes.length > 0 || failures.length > 0) lines.push('', 'Notes:', '', ...[...failures, ...notes].map((n) => `- ${n}`));
  const markdown = `${lines.join('\n')}\n`;
  console.log(`\n${markdown}`);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const elapsedSeconds = Math.round((Date.now() - started) / 1000);
  const json = { meta: { ...meta, elapsedSeconds }, results, ratios: ratios(results), projection: projected?.json, failures, runs: all };
  writeFileSync(`${RESULTS_DIR}${plan.results}.json`, `${JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  writeFileSync(`${RESULTS_DIR}${plan.results}.md`, markdown);
  console.log(`wrote bench/results/${plan.results}.json and .md (${elapsedSeconds} s)`);
  return failures.length > 0 ? 1 : 0;
}

function methodNotes(): string[] {
  return [
    'How measured: deliveries/s counts payloads received by the clients inside the measured window; latency is from the',
    "publisher's CLOCK_MONOTONIC stamp, taken as it queues the PUB line, to the client's read of the delivered line, for",
    "payloads stamped inside the window. CPU is utime+stime from /proc/PID/stat over the window: Flamingo's server processes",
    '(and a supervisor, if any) and redis-server separately. RSS per connection = (VmRSS holding them − VmRSS before) / connections,',
    'over all server processes. Kernel Slab per connection = /proc/meminfo Slab after − before / connections: both ends of each',
    'loopback connection live in this one kernel. TCP buffers = /proc/net/sockstat TCP mem pages after − before, idle. Both are',
    'system-wide: other programs using the machine meanwhile add noise. Idle CPU: the same processes over the idle window with',
    'every connection open and no traffic. Clients, publisher and servers share the same cores. Every delivery is checked by',
    'its client: topic, per-topic sequence (a gap counts as missing, a repeat or older number as duplicate or late), and the',
    'payload check digits.',
  ];
}

// Whatever happens, nothing we started outlives us.
await runGuarded(
  'CLUSTER BENCHMARK',
  'redis-server, every server and client',
  () => {
    const plan = parsePlan();
    return { timeoutMin: plan.timeoutMin, run: () => main(plan) };
  },
  describeBenchError,
);
