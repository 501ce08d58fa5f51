// The pub/sub benchmark: the Redis-protocol example (examples/pubsub, one
// process) against redis-server, side by side in one run. Measured, never
// asserted.
//
//   npm run bench:pubsub                        10,000 subscribers, 100 channels, 200 publishes/s, 3 runs each
//   npm run bench:pubsub -- --quick             1,000 subscribers, short windows, 1 run
//   npm run bench:pubsub -- --runs 1 --rate 400
//   npm run bench:pubsub -- --setups flamingo3 --runs 1   57,000 subscribers on 3 example processes through Redis
//
// Each setup: the server on a free loopback port (redis-server with
// --save '' --appendonly no); one subscriber process (bench/cluster/subgen.c
// --proto resp, C epoll, built at start) opens --subs connections, each
// SUBSCRIBEs to channel t<i % channels> and waits for its confirmation; one
// publisher process paces PUBLISH t<k> <64-byte payload> at --rate publishes/s
// over --publishers connections (each channel always on the same one), a
// --warmup window, then the measured --duration window. Every delivery is
// checked by its subscriber: own channel, per-channel sequence in order
// without gap or duplicate, payload intact; publish-to-delivery latency from
// a CLOCK_MONOTONIC stamp inside the payload. Server CPU is utime + stime of
// the server's process tree over the window (/proc), per million deliveries
// made in the window; RSS per subscriber is the server's RSS growth from
// before the subscribers connected to after, divided by their number.
// Setup flamingo3 (opt-in): the example with --processes 3 --redis on its
// own redis-server, --cluster-subs subscribers split over client processes of
// at most 19,000 each, at the same offered deliveries/s (fewer publishes/s);
// redis-server's CPU is reported apart.
// Setups alternate (flamingo, redis, flamingo, redis, ...); the table shows
// medians and min–max. Then, unless --no-redis-benchmark, redis-benchmark
// -n 200000 -c 50 PUBLISH ch hello against a fresh server of each kind.
//
// Flags (defaults in brackets):
//   --subs N            subscribers [10000; 1000 with --quick] (one client process: at most 19,000)
//   --cluster-subs N    subscribers of the flamingo3 setup [57000; 3000 with --quick]
//   --channels N        channels [100]
//   --rate P            publishes/s, all channels together [200] (deliveries/s = P × subs / channels)
//   --publishers N      publisher connections [4]
//   --duration S        measured seconds [15; 4]
//   --warmup S          seconds of traffic before the window [3; 1]
//   --runs N            runs of each setup, alternating [3; 1]
//   --setups LIST       of flamingo, redis, flamingo3 [flamingo,redis]
//   --bench-n N         redis-benchmark requests [200000]
//   --no-redis-benchmark
//   --results NAME      bench/results/NAME.json and NAME.md [pubsub; pubsub-quick]
//   --timeout MIN       stop everything after this many minutes [20]
//
// Every process started is stopped at the end, on failure, on timeout and on
// SIGINT/SIGTERM (runGuarded in bench/load/procs.ts).

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Child, cpuSeconds, monoNs, processTree, rssBytes, runGuarded, sleep, sleepUntil } from '../load/procs.ts';
import { freePort, Redis } from '../cluster/servers.ts';
import {
  BenchFailure,
  buildSubgen,
  type DeliveryTally,
  describeBenchError,
  type CheckedEvent,
  type PublishedEvent,
  type ResultEvent,
  SOURCES_PER_PROCESS,
  Subgen,
  split,
} from '../cluster/subgen.ts';
import { mergeHistograms, percentile } from '../load/stats.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const EXAMPLE = `${REPO}examples/pubsub/server.ts`;
const READY_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 180_000;
const STOP_GRACE_MS = 10_000;
const MAX_SUBS = 19_000;

type SetupName = 'flamingo' | 'redis' | 'flamingo3';
const SETUPS: readonly SetupName[] = ['flamingo', 'redis', 'flamingo3'];
const SETUP_TITLES: Record<SetupName, string> = {
  flamingo: 'flamingo (example, 1 process)',
  redis: 'redis-server',
  flamingo3: 'flamingo (3 processes via Redis)',
};

interface Plan {
  subs: number;
  clusterSubs: number;
  channels: number;
  rate: number;
  publishers: number;
  duration: number;
  warmup: number;
  runs: number;
  setups: SetupName[];
  benchN: number;
  redisBenchmark: boolean;
  results: string;
  timeoutMin: number;
}

function parsePlan(): Plan {
  const { values } = parseArgs({
    options: {
      subs: { type: 'string' },
      'cluster-subs': { type: 'string' },
      channels: { type: 'string' },
      rate: { type: 'string' },
      publishers: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      runs: { type: 'string' },
      setups: { type: 'string' },
      'bench-n': { type: 'string' },
      'no-redis-benchmark': { type: 'boolean' },
      results: { type: 'string' },
      timeout: { type: 'string' },
      quick: { type: 'boolean' },
    },
  });
  const quick = values.quick === true;
  const num = (name: string, text: string | undefined, fallback: number, min = 1): number => {
    const v = text === undefined ? fallback : Number(text);
    if (!Number.isFinite(v) || v < min) throw new BenchFailure(`--${name} must be a number of at least ${min}; got ${text}`);
    return v;
  };
  const setups = (values.setups ?? 'flamingo,redis').split(',').map((s) => s.trim());
  for (const s of setups) if (!SETUPS.includes(s as SetupName)) throw new BenchFailure(`--setups: unknown "${s}" (${SETUPS.join(', ')})`);
  const plan: Plan = {
    subs: num('subs', values.subs, quick ? 1000 : 10_000),
    clusterSubs: num('cluster-subs', values['cluster-subs'], quick ? 3000 : 57_000),
    channels: num('channels', values.channels, 100),
    rate: num('rate', values.rate, 200),
    publishers: num('publishers', values.publishers, 4),
    duration: num('duration', values.duration, quick ? 4 : 15),
    warmup: num('warmup', values.warmup, quick ? 1 : 3, 0),
    runs: num('runs', values.runs, quick ? 1 : 3),
    setups: setups as SetupName[],
    benchN: num('bench-n', values['bench-n'], 200_000),
    redisBenchmark: values['no-redis-benchmark'] !== true,
    results: values.results ?? (quick ? 'pubsub-quick' : 'pubsub'),
    timeoutMin: num('timeout', values.timeout, 20),
  };
  if (plan.subs > MAX_SUBS) throw new BenchFailure(`--subs: at most ${MAX_SUBS} (one client process; its open-file limit is 20,000)`);
  if (plan.clusterSubs > 5 * MAX_SUBS) throw new BenchFailure(`--cluster-subs: at most ${5 * MAX_SUBS}`);
  if (plan.channels > 1000) throw new BenchFailure('--channels: at most 1000');
  if (plan.publishers > 64) throw new BenchFailure('--publishers: at most 64');
  return plan;
}

/** A server under test: its port, the pids its CPU and memory are read from, and how to stop it. */
interface Server {
  port: number;
  pids: () => number[];
  /** flamingo3: the redis-server it routes through, measured apart. */
  redisPids?: () => number[];
  stop: () => Promise<void>;
}

async function startFlamingo(): Promise<Server> {
  const port = await freePort();
  const child = new Child('example:pubsub', process.execPath, [EXAMPLE, '--port', String(port)]);
  try {
    await child.waitLine('"listening on"', (line) => (line.startsWith('listening on') ? true : undefined), READY_TIMEOUT_MS);
  } catch (error) {
    child.kill();
    throw error;
  }
  return { port, pids: () => processTree(child.pid), stop: async () => void (await child.stop(STOP_GRACE_MS)) };
}

async function startRedis(plan: Plan): Promise<Server> {
  const redis = await Redis.start({ maxClients: plan.subs + plan.publishers + 1000 });
  return { port: redis.port, pids: () => processTree(redis.child.pid), stop: () => redis.stop() };
}

/** Three example processes (one `--processes 3` supervisor) on one port, routed through a redis-server of their own. */
async function startFlamingo3(): Promise<Server> {
  const redis = await Redis.start();
  const port = await freePort();
  let child: Child | undefined;
  try {
    child = new Child('example:pubsub x3', process.execPath, [EXAMPLE, '--port', String(port), '--processes', '3', '--redis', redis.url]);
    await child.waitLine(
      '"listening on ... with 3 processes"',
      (line) => (/^listening on .* with 3 processes/.test(line) ? true : undefined),
      READY_TIMEOUT_MS,
    );
  } catch (error) {
    child?.kill();
    await redis.stop();
    throw error;
  }
  const supervisor = child;
  return {
    port,
    pids: () => processTree(supervisor.pid),
    redisPids: () => processTree(redis.child.pid),
    stop: async () => {
      await supervisor.stop(STOP_GRACE_MS);
      await redis.stop();
    },
  };
}

function startServer(name: SetupName, plan: Plan): Promise<Server> {
  return name === 'flamingo' ? startFlamingo() : name === 'redis' ? startRedis(plan) : startFlamingo3();
}

interface RunFigures extends DeliveryTally {
  setup: SetupName;
  run: number;
  offered_per_s: number;
  deliveries_per_s: number;
  subs: number;
  cpu_s_per_million: number;
  redis_cpu_s_per_million: number;
  server_cores: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  rss_per_sub_b: number;
  rss_idle_mb: number;
  rss_subscribed_mb: number;
  connect_s: number;
  pub_blocked: number;
  pub_lag_max_ms: number;
  catch_up_s: number;
}

async function runOnce(name: SetupName, run: number, plan: Plan): Promise<RunFigures> {
  const server = await startServer(name, plan);
  const subsTotal = name === 'flamingo3' ? plan.clusterSubs : plan.subs;
  /** flamingo3 offers the same deliveries/s as the others: fewer publishes, more subscribers each. */
  const rate = (plan.rate * plan.subs) / subsTotal;
  let subgens: Subgen[] = [];
  let pub: Subgen | undefined;
  try {
    await sleep(1000);
    const rssIdle = rssBytes(server.pids());
    const common = { proto: 'resp' as const, port: server.port, topics: plan.channels, first: 0, drainTimeoutS: 30, maxSeconds: plan.timeoutMin * 60 };
    const parts = split(subsTotal, Math.ceil(subsTotal / MAX_SUBS));
    let first = 0;
    subgens = parts.map((conns, k) => {
      const g = new Subgen({ ...common, mode: 'sub', conns, first, index: k, srcBase: 2 + SOURCES_PER_PROCESS * k, srcCount: SOURCES_PER_PROCESS });
      first += conns;
      return g;
    });
    const subscribedAll = await Promise.all(subgens.map((g) => g.subscribed(CONNECT_TIMEOUT_MS)));
    const connectS = Math.max(...subscribedAll.map((e) => e.connect_s));
    await sleep(1000);
    const rssSubscribed = rssBytes(server.pids());
    pub = new Subgen({ ...common, mode: 'pub', conns: plan.publishers, index: parts.length, srcBase: 2 + SOURCES_PER_PROCESS * parts.length, srcCount: 1 });
    await pub.connected(CONNECT_TIMEOUT_MS);
    pub.send(`use ${Array.from({ length: plan.publishers }, (_, i) => i).join(' ')}`);
    await pub.event('using', 10_000);

    const window = async (seconds: number, measured: boolean) => {
      const start = monoNs() + 200_000_000n;
      const end = start + BigInt(Math.round(seconds * 1e9));
      if (measured) for (const g of subgens) g.send(`window ${start} ${end}`);
      pub!.send(`run ${rate} ${start} ${end}`);
      await sleepUntil(start);
      const cpu0 = cpuSeconds(server.pids());
      const redis0 = server.redisPids ? cpuSeconds(server.redisPids()) : 0;
      await sleepUntil(end);
      const cpu1 = cpuSeconds(server.pids());
      const redis1 = server.redisPids ? cpuSeconds(server.redisPids()) : 0;
      const published = await pub!.event<PublishedEvent>('published', (seconds + 60) * 1000);
      return { cpu: cpu1 - cpu0, redisCpu: redis1 - redis0, published };
    };
    const checkAll = (final: number, counts: number[]) => {
      for (const g of subgens) g.send(`check ${final} ${counts.join(' ')}`);
      return Promise.all(subgens.map((g) => g.event<CheckedEvent>('checked', 60_000)));
    };
    if (plan.warmup > 0) {
      const { published } = await window(plan.warmup, false);
      await checkAll(0, published.counts);
    }
    const { cpu, redisCpu, published } = await window(plan.duration, true);
    const checkedAll = await checkAll(1, published.counts);
    const subResults = await Promise.all(subgens.map((g) => g.result(60_000)));
    pub.send('quit');
    const pubResult: ResultEvent = await pub.result(30_000);
    const deliveries = checkedAll.reduce((a, c) => a + c.window_deliveries, 0);
    const hist = mergeHistograms(checkedAll.map((c) => c.hist));
    const sum = (k: keyof DeliveryTally) => subResults.reduce((a, r) => a + r[k], 0);
    return {
      setup: name,
      run,
      subs: subsTotal,
      offered_per_s: (rate * subsTotal) / plan.channels,
      deliveries_per_s: deliveries / plan.duration,
      cpu_s_per_million: deliveries > 0 ? (cpu / deliveries) * 1e6 : NaN,
      redis_cpu_s_per_million: server.redisPids && deliveries > 0 ? (redisCpu / deliveries) * 1e6 : NaN,
      server_cores: cpu / plan.duration,
      p50_ms: percentile(hist, 0.5) / 1e6,
      p99_ms: percentile(hist, 0.99) / 1e6,
      p999_ms: percentile(hist, 0.999) / 1e6,
      rss_per_sub_b: (rssSubscribed - rssIdle) / subsTotal,
      rss_idle_mb: rssIdle / 1e6,
      rss_subscribed_mb: rssSubscribed / 1e6,
      connect_s: connectS,
      delivered: sum('delivered'),
      expected: sum('expected'),
      missing: sum('missing'),
      duplicate: sum('duplicate'),
      corrupt: sum('corrupt'),
      misrouted: sum('misrouted'),
      err_lines: sum('err_lines') + pubResult.err_lines,
      conn_errors: sum('conn_errors') + pubResult.conn_errors,
      pub_blocked: published.blocked,
      pub_lag_max_ms: published.lag_max_ns / 1e6,
      catch_up_s: Math.max(...checkedAll.map((c) => c.drain_s)),
    };
  } finally {
    for (const c of [...subgens, pub]) if (c?.child.running) c.child.kill();
    await server.stop();
  }
}

/** redis-benchmark against a fresh server: requests/s of PUBLISH ch hello. */
async function redisBenchmark(name: SetupName, plan: Plan): Promise<number> {
  const server = await startServer(name, plan);
  try {
    const args = ['-h', '127.0.0.1', '-p', String(server.port), '-n', String(plan.benchN), '-c', '50', '--csv', 'PUBLISH', 'ch', 'hello'];
    const child = new Child(`redis-benchmark (${name})`, 'redis-benchmark', args);
    const row = await child.waitLine('CSV row', (line) => (/^"PUBLISH/.test(line) ? line : undefined), 300_000);
    await child.exited;
    const rps = Number(row.split(',')[1]?.replaceAll('"', ''));
    if (!Number.isFinite(rps)) throw new BenchFailure(`redis-benchmark (${name}): cannot read ${row}`);
    return rps;
  } finally {
    await server.stop();
  }
}

function median(values: number[]): number {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3;
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const ROWS: Array<[keyof RunFigures, string]> = [
  ['subs', 'subscribers'],
  ['offered_per_s', 'offered deliveries/s'],
  ['deliveries_per_s', 'deliveries/s (measured window)'],
  ['cpu_s_per_million', 'server CPU-s per 1M deliveries'],
  ['redis_cpu_s_per_million', 'redis-server CPU-s per 1M deliveries (routing, flamingo3)'],
  ['server_cores', 'server CPU (cores)'],
  ['p50_ms', 'p50 publish-to-delivery (ms)'],
  ['p99_ms', 'p99 publish-to-delivery (ms)'],
  ['p999_ms', 'p99.9 publish-to-delivery (ms)'],
  ['rss_per_sub_b', 'RSS per subscriber (B)'],
  ['rss_idle_mb', 'server RSS before subscribers (MB)'],
  ['rss_subscribed_mb', 'server RSS with subscribers (MB)'],
  ['connect_s', 'time to subscribe all (s)'],
];

function table(plan: Plan, runs: RunFigures[], bench: Partial<Record<SetupName, number>>): string {
  const setups = plan.setups;
  const values = (name: SetupName, key: keyof RunFigures): number[] =>
    runs
      .filter((r) => r.setup === name)
      .map((r) => r[key] as number)
      .filter((v) => Number.isFinite(v));
  const cell = (name: SetupName, key: keyof RunFigures): string => {
    const vs = values(name, key);
    if (vs.length === 0) return 'n/a';
    const m = fmt(median(vs));
    return vs.length > 1 ? `${m} (${fmt(Math.min(...vs))}–${fmt(Math.max(...vs))})` : m;
  };
  const both = setups.includes('flamingo') && setups.includes('redis');
  const ratio = (f: number, r: number): string => (Number.isFinite(f) && Number.isFinite(r) && r !== 0 ? `${(f / r).toFixed(2)}x` : 'n/a');
  const lines = [
    `| figure | ${setups.map((n) => SETUP_TITLES[n]).join(' | ')} |${both ? ' flamingo/redis |' : ''}`,
    `|---|${setups.map(() => '---|').join('')}${both ? '---|' : ''}`,
  ];
  for (const [key, label] of ROWS) {
    if (setups.every((n) => values(n, key).length === 0)) continue;
    const r = both ? ` ${ratio(median(values('flamingo', key)), median(values('redis', key)))} |` : '';
    lines.push(`| ${label} | ${setups.map((n) => cell(n, key)).join(' | ')} |${r}`);
  }
  const check = (name: SetupName): string => {
    const rs = runs.filter((r) => r.setup === name);
    const sum = (k: keyof RunFigures) => rs.reduce((a, r) => a + (r[k] as number), 0);
    return `${fmt(sum('delivered'))} of ${fmt(sum('expected'))}; missing ${sum('missing')}, dup ${sum('duplicate')}, corrupt ${sum('corrupt')}, misrouted ${sum('misrouted')}, errors ${sum('err_lines') + sum('conn_errors')}`;
  };
  lines.push(`| verified deliveries (all runs) | ${setups.map(check).join(' | ')} |${both ? ' |' : ''}`);
  const benched = setups.filter((n) => bench[n] !== undefined);
  if (benched.length > 0) {
    const r = both ? ` ${ratio(bench.flamingo ?? NaN, bench.redis ?? NaN)} |` : '';
    lines.push(`| redis-benchmark -n ${plan.benchN} -c 50 PUBLISH ch hello (req/s) | ${setups.map((n) => fmt(bench[n] ?? NaN)).join(' | ')} |${r}`);
  }
  return lines.join('\n');
}

/** Subscribers and rates of the setups in the plan. */
function describe(plan: Plan): string {
  const offered = (plan.rate * plan.subs) / plan.channels;
  const parts: string[] = [];
  if (plan.setups.some((n) => n !== 'flamingo3')) parts.push(`${plan.subs} subscribers at ${plan.rate} publishes/s`);
  if (plan.setups.includes('flamingo3'))
    parts.push(`${plan.clusterSubs} subscribers at ${fmt((plan.rate * plan.subs) / plan.clusterSubs)} publishes/s (flamingo3)`);
  return `${parts.join(', ')} on ${plan.channels} channels, ${fmt(offered)} deliveries/s offered`;
}

async function main(plan: Plan): Promise<number> {
  buildSubgen();
  const started = new Date().toISOString();
  console.log(`pubsub bench: ${describe(plan)}, ${plan.duration} s windows, ${plan.runs} run(s) of ${plan.setups.join(', ')}`);
  const runs: RunFigures[] = [];
  for (let run = 1; run <= plan.runs; run++) {
    for (const name of plan.setups) {
      const r = await runOnce(name, run, plan);
      runs.push(r);
      console.log(
        `  run ${run} ${name} (${r.subs} subscribers): ${fmt(r.deliveries_per_s)} deliveries/s, ${fmt(r.cpu_s_per_million)} CPU-s/1M, p50 ${fmt(r.p50_ms)} ms, p99 ${fmt(r.p99_ms)} ms, ` +
          `${fmt(r.rss_per_sub_b)} B/sub; delivered ${r.delivered}/${r.expected}, missing ${r.missing}, dup ${r.duplicate}, corrupt ${r.corrupt}, misrouted ${r.misrouted}`,
      );
    }
  }
  const bench: Partial<Record<SetupName, number>> = {};
  if (plan.redisBenchmark) {
    for (const name of plan.setups) {
      if (name === 'flamingo3') continue;
      bench[name] = await redisBenchmark(name, plan);
      console.log(`  redis-benchmark ${name}: ${fmt(bench[name]!)} requests/s`);
    }
  }
  const md = [
    `pub/sub: ${describe(plan)}, 64 B payloads, ${plan.publishers} publisher connections, ` +
      `${plan.duration} s window after ${plan.warmup} s warm-up; median (min–max) of ${plan.runs} run(s) per setup, alternating.`,
    `Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), Linux ${release()}, ${started}.`,
    '',
    table(plan, runs, bench),
    '',
  ].join('\n');
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(`${RESULTS_DIR}${plan.results}.json`, JSON.stringify({ plan, started, runs, redis_benchmark: bench }, null, 2));
  writeFileSync(`${RESULTS_DIR}${plan.results}.md`, md);
  console.log(`\n${md}\nwrote bench/results/${plan.results}.json and .md`);
  return 0;
}

await runGuarded(
  'PUBSUB BENCHMARK',
  'the servers and clients',
  () => {
    const plan = parsePlan();
    return { timeoutMin: plan.timeoutMin, run: () => main(plan) };
  },
  describeBenchError,
);
