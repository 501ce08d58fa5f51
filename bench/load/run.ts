// The load benchmark: Flamingo against plain Node on the same machine, in one
// run. Each server under test runs in its own process
// (bench/load/servers), driven by C epoll load generators
// (bench/load/loadgen.c, compiled here at start) in their own processes.
//
//   npm run bench:load                      everything, about 12 minutes on 2 cores
//   npm run bench:load -- --quick           a smoke run of every scenario, about 2 minutes
//   npm run bench:load -- --scenario echo1k,echo10k --servers flamingo,net --runs 5
//   npm run bench:load -- --scenario rate --servers flamingo,net --clients 1,2
//   npm run bench:load -- --scenario ingest --servers flamingo,net,cluster
//   npm run bench:load -- --proto ws --scenario idle,echo1k --servers flamingo,ws,ws-cluster
//   npm run bench:load -- --tls --scenario idle,handshake --servers flamingo,tls-echo
//
// Flags (defaults in brackets):
//   --scenario LIST     scenarios or groups (rate, ingest) [idle,echo1k,echo10k,bulk,fanout]
//                         idle     --idle-conns connections held --hold s: RSS per connection, idle CPU
//                         echo1k   1,000 connections, 64-byte messages, one in flight each (closed loop)
//                         echo10k  10,000 connections, the same
//                         bulk     100 connections, 16 KiB messages: MB/s
//                         fanout   10,000 connections, one 64-byte broadcast per round
//                         soak     --idle-conns connections echoing 64 B for --duration s (npm run bench:soak)
//                         rate20k-1k, rate40k-1k, rate60k-1k, rate20k-10k, rate40k-10k, rate60k-10k
//                                  (group: rate) offered load, open loop: 64-byte echoes at 20k, 40k or
//                                  60k messages/s in total over 1,000 or 10,000 connections; latency from
//                                  the scheduled send time; CPU per 1M messages at equal throughput
//                         ingest-lines-100, ingest-lines-10k, ingest-16k-100, ingest-16k-10k
//                                  (group: ingest) one-way streams of 64-byte lines (one message each)
//                                  or 16 KiB chunks over 100 or 10,000 connections, the server
//                                  checksumming every byte: MB/s and CPU per GB
//                         handshake  new connections, 100 at a time: connect, set up (TLS handshake,
//                                  WebSocket upgrade), one 16-byte echo, reset, again: handshakes/s and
//                                  server CPU per handshake
//   --proto raw|ws      what the connections speak: the bytes as they are, or WebSocket (RFC 6455,
//                       one binary frame a message; not fanout or ingest) [raw]
//   --tls               TLS on every connection (the servers make a throwaway certificate)
//   --servers LIST      flamingo,net,cluster,threads (TCP), ws,ws-cluster (the `ws` package, WebSocket
//                       only), tls-echo (Node `tls`, TLS only) [all that speak the transport]
//   --runs N            runs per figure; the table shows the median and min–max [3]
//   --duration S        measured seconds per echo and bulk run [5]
//   --warmup S          seconds of load before the measured window [1]
//   --hold S            seconds the idle connections are held [20]
//   --idle-conns N      connections in the idle hold [19000: the server has a 20000-fd limit]
//   --rounds N          measured fan-out rounds [20], after --warmup-rounds [3]
//   --clients LIST      load generator processes per run, splitting the connections and the
//                       offered rate; a list runs every scenario in each shape, e.g. 1,2 [2]
//                       (--loadgens N is the same, one value)
//   --workers N         I/O threads of Flamingo and threads, processes of cluster [2]
//   --rate-nice N       offered load: the load generators' nice value, so they send on schedule and
//                       read echoes at once instead of queueing behind the servers' threads on
//                       the shared cores (needs root or CAP_SYS_NICE; write --rate-nice=-10) [0]
//   --ingest-sndbuf B   ingest: SO_SNDBUF of each client connection (the kernel doubles it), so
//                       10,000 streams cannot park gigabytes in socket buffers; 0 = autotuning [32768]
//   --quick             runs 1, duration 2, hold 4, idle-conns 4000, rounds 5, warmup-rounds 1
//                       (flags given explicitly win)
//   --flamingo-ref REF  benchmark Flamingo as of a git ref (a snapshot of its src/ is
//                       extracted under bench/load/.build), not the working tree [working tree]
//   --quiet-wait S      before each run, wait up to S seconds for other processes to
//                       leave the CPUs idle (a shared machine) [10]
//   --results NAME      write bench/results/NAME.json and NAME.md [load; load-quick with --quick]
//   --keep-going        after a failed run, go on with the others (the exit code is still 1)
//   --timeout MIN       stop everything after this many minutes [40]
//
// Output: one table on stdout; the same as JSON in bench/results/load.json
// and as markdown ready for the README in bench/results/load.md (a --quick
// smoke run writes load-quick.* instead, so it never replaces real figures). A run with
// any verification error, lost connection or timeout fails the benchmark:
// a message naming the scenario, server and first error, and exit code 1.
// Every process started is stopped at the end, on failure, on timeout and
// on SIGINT/SIGTERM.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compileServers, compileSnapshot } from './build.ts';
import { type LoadMode, buildLoadgen } from './loadgen.ts';
import { killAll, runGuarded, sleep } from './procs.ts';
import { type Meta, type RunRecord, aggregate, checkTargets, headerLines, markdownReport, markdownTable, orderCases, ratiosJson } from './report.ts';
import {
  DEFAULT_SCENARIOS,
  SCENARIOS,
  SCENARIO_GROUPS,
  SCENARIO_NAMES,
  type ScenarioName,
  type Settings,
  boxCpu,
  runScenario,
  transportProblem,
} from './scenarios.ts';
import { SERVER_KINDS, type ServerKind, ServerProcess, serversFor } from './server-process.ts';
import { transportOf } from './servers/protocol.ts';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BUILD_DIR = fileURLToPath(new URL('./.build/', import.meta.url));
/** The machine counts as quiet when everything on it uses less than this (kernel threads tick along). */
const QUIET_CORES = 0.25;
/** Runs with other processes busier than this are counted in the notes as noisy. */
const BUSY_ELSEWHERE_CORES = 0.3;
/** Between runs: let the kernel finish tearing down the last run's sockets. */
const PAUSE_BETWEEN_RUNS_MS = 500;

interface Plan {
  scenarios: ScenarioName[];
  clients: number[];
  servers: ServerKind[];
  runs: number;
  settings: Settings;
  keepGoing: boolean;
  timeoutMin: number;
  flamingoRef: string | undefined;
  quietWait: number;
  resultsName: string;
}

function parsePlan(): Plan {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string' },
      servers: { type: 'string' },
      runs: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      hold: { type: 'string' },
      'idle-conns': { type: 'string' },
      rounds: { type: 'string' },
      'warmup-rounds': { type: 'string' },
      loadgens: { type: 'string' },
      clients: { type: 'string' },
      workers: { type: 'string' },
      'ingest-sndbuf': { type: 'string' },
      'rate-nice': { type: 'string' },
      proto: { type: 'string', default: 'raw' },
      tls: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      'keep-going': { type: 'boolean', default: false },
      'flamingo-ref': { type: 'string' },
      'quiet-wait': { type: 'string' },
      results: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    const source = fileURLToPath(import.meta.url);
    console.log(`See the comment at the top of ${source} for every flag and its default.`);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const number = (name: string, text: string | undefined, full: number, smoke: number, min: number, max: number): number => {
    const value = text === undefined ? (quick ? smoke : full) : Number(text);
    if (!Number.isFinite(value) || value < min || value > max) throw new Error(`--${name} must be a number from ${min} to ${max}; got ${text}`);
    return value;
  };
  const list = <T extends string>(name: string, text: string | undefined, all: readonly T[]): T[] => {
    if (text === undefined) return [...all];
    const items = text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    for (const item of items) if (!all.includes(item as T)) throw new Error(`--${name}: unknown "${item}"; choose from ${all.join(',')}`);
    return items as T[];
  };
  const scenarios = (text: string | undefined): ScenarioName[] => {
    if (text === undefined) return [...DEFAULT_SCENARIOS];
    const names = text.split(',').flatMap((item) => SCENARIO_GROUPS[item.trim()] ?? [item]);
    return [...new Set(list('scenario', names.join(','), SCENARIO_NAMES))];
  };
  if (values.clients !== undefined && values.loadgens !== undefined) throw new Error('give --clients or --loadgens, not both');
  const clientsText = values.clients ?? values.loadgens;
  const clients =
    clientsText === undefined
      ? [2]
      : [
          ...new Set(
            clientsText.split(',').map((item) => {
              const n = Number(item.trim());
              if (!Number.isInteger(n) || n < 1 || n > 8) throw new Error(`--clients takes whole numbers from 1 to 8; got ${clientsText}`);
              return n;
            }),
          ),
        ];
  if (values.proto !== 'raw' && values.proto !== 'ws') throw new Error(`--proto takes raw or ws; got ${values.proto}`);
  const transport = transportOf(values.proto === 'ws', values.tls ?? false);
  const speaking = serversFor(transport);
  const servers = values.servers === undefined ? speaking : list('servers', values.servers, SERVER_KINDS);
  for (const server of servers)
    if (!speaking.includes(server)) throw new Error(`--servers: ${server} does not speak ${transport}; these do: ${speaking.join(',')}`);
  const planned = scenarios(values.scenario);
  for (const scenario of planned) {
    const problem = transportProblem(scenario, transport);
    if (problem !== undefined) throw new Error(`--scenario: ${problem}`);
  }
  return {
    scenarios: planned,
    clients,
    servers,
    runs: Math.round(number('runs', values.runs, 3, 1, 1, 50)),
    settings: {
      duration: number('duration', values.duration, 5, 2, 0.5, 120),
      warmup: number('warmup', values.warmup, 1, 0.5, 0, 30),
      hold: number('hold', values.hold, 20, 4, 1, 600),
      idleConns: Math.round(number('idle-conns', values['idle-conns'], 19_000, 4000, 1, 19_500)),
      rounds: Math.round(number('rounds', values.rounds, 20, 5, 1, 5000)),
      warmupRounds: Math.round(number('warmup-rounds', values['warmup-rounds'], 3, 1, 0, 100)),
      loadgens: clients[0]!,
      workers: Math.round(number('workers', values.workers, 2, 2, 1, 16)),
      rateNice: Math.round(number('rate-nice', values['rate-nice'], 0, 0, -20, 19)),
      ingestSndbuf: Math.round(number('ingest-sndbuf', values['ingest-sndbuf'], 32 * 1024, 32 * 1024, 0, 64 * 1024 * 1024)),
      transport,
    },
    keepGoing: values['keep-going'] ?? false,
    timeoutMin: number('timeout', values.timeout, 40, 40, 1, 600),
    flamingoRef: values['flamingo-ref'],
    quietWait: number('quiet-wait', values['quiet-wait'], 10, 5, 0, 600),
    resultsName: resultsName(values.results ?? (quick ? 'load-quick' : 'load')),
  };
}

function resultsName(name: string): string {
  if (!/^[\w.-]+$/.test(name)) throw new Error(`--results takes a plain file name (letters, digits, . _ -); got ${name}`);
  return name;
}

/** The order servers run in for run `n`: rotated, so no server always goes first after a cold start. */
function rotate<T>(items: readonly T[], n: number): T[] {
  const k = n % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function progressLine(record: RunRecord): string {
  const m = record.metrics;
  const f = (v: number | undefined, digits = 0): string => (v === undefined ? '' : v.toLocaleString('en-US', { maximumFractionDigits: digits }));
  const byMode: Record<LoadMode, () => string> = {
    idle: () => `${f(m.conns)} held, ${f(m.rssPerConn)} B/conn, idle CPU ${f(m.idleCpuPct, 2)}%`,
    echo: () => `${f(m.msgsPerSec)} msg/s, p99 ${f(m.p99Us)} µs, ${f(m.serverCpuPerM, 2)} CPU-s/1M`,
    bulk: () => `${f(m.mbPerSec)} MB/s, ${f(m.serverCpuPerGB, 2)} CPU-s/GB`,
    fanout: () => `${f(m.deliveriesPerSec)} deliveries/s, last client ${f(m.lastMs, 2)} ms`,
    rate: () =>
      `${f(m.msgsPerSec)} of ${f(m.offeredPerSec)} msg/s, ${f(m.serverCpuPerM, 2)} CPU-s/1M, p50/p99/p99.9 ${f(m.p50Us)}/${f(m.p99Us)}/${f(m.p999Us)} µs, ` +
      `${f(m.latePct, 2)}% late, ${f(m.missed)} missed`,
    ingest: () => `${f(m.mbPerSec)} MB/s, ${f(m.serverCpuPerGB, 2)} CPU-s/GB, ${f(m.verifiedGB, 2)} GB verified`,
    handshake: () => `${f(m.handshakesPerSec)} handshakes/s, ${f(m.serverCpuMsPerHandshake, 3)} server CPU-ms each, p99 ${f(m.p99Ms, 1)} ms`,
  };
  const loadgens = m.loadgenCores === undefined ? '' : `; load generators ${f(m.loadgenCores, 2)} cores`;
  return `${byMode[SCENARIOS[record.scenario].mode]()}${loadgens}; other processes ${f(m.otherCores, 2)} cores`;
}

/** Which Flamingo is measured: a snapshot of a git ref, or the working tree (and whether its src/ has uncommitted changes). */
function flamingoSource(ref: string | undefined): { entry?: string; description: string } {
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
  if (ref === undefined) {
    const dirty = git('status', '--porcelain', '--', 'src') !== '';
    return { description: `working tree at ${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes in src/' : ''}, compiled` };
  }
  const commit = git('rev-parse', '--verify', `${ref}^{commit}`);
  const dir = `${BUILD_DIR}flamingo-${commit.slice(0, 12)}/`;
  if (!existsSync(`${dir}src/main/index.ts`)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', 'git archive "$1" src | tar -x -C "$2"', 'sh', commit, dir], { cwd: REPO, stdio: 'inherit' });
  }
  return { entry: compileSnapshot(dir), description: `${ref} (${commit.slice(0, 12)}), a snapshot of its src/, compiled` };
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

async function main(): Promise<number> {
  const plan = parsePlan();
  const started = Date.now();
  buildLoadgen();
  ServerProcess.directory = compileServers(BUILD_DIR);
  const flamingo = flamingoSource(plan.flamingoRef);
  plan.settings.flamingoEntry = flamingo.entry;
  const meta: Meta = {
    node: process.version,
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown CPU',
    kernel: release(),
    date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    command: `npm run bench:load${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    flamingo: flamingo.description,
    settings: { runs: plan.runs, ...plan.settings, flamingoEntry: undefined },
    servers: plan.servers,
    scenarios: plan.scenarios,
    clients: plan.clients,
  };
  const total = plan.scenarios.length * plan.clients.length * plan.runs * plan.servers.length;
  console.log(
    `${headerLines(meta, plan.runs).slice(0, 2).join('\n')}\n${total} runs: ${plan.scenarios.join(', ')} × ${plan.servers.join(', ')} × ` +
      `${plan.clients.join(' and ')} client process${plan.clients.length === 1 && plan.clients[0] === 1 ? '' : 'es'} × ${plan.runs}`,
  );

  const records: RunRecord[] = [];
  const failures: string[] = [];
  let done = 0;
  outer: for (const { scenario, clients } of plan.scenarios.flatMap((scenario) => plan.clients.map((clients) => ({ scenario, clients })))) {
    for (let run = 1; run <= plan.runs; run++) {
      for (const server of rotate(plan.servers, run - 1)) {
        const label = `[${++done}/${total}] ${scenario} ${clients} client${clients === 1 ? '' : 's'} ${server} run ${run}`;
        const busy = await waitForQuiet(plan.quietWait);
        if (busy >= QUIET_CORES) console.log(`${label}: other processes keep ${busy.toFixed(2)} cores busy; running anyway`);
        try {
          const outcome = await runScenario(scenario, server, { ...plan.settings, loadgens: clients });
          const record: RunRecord = { scenario, clients, server, run, ...outcome };
          records.push(record);
          console.log(`${label}: ${progressLine(record)}`);
          for (const note of outcome.notes) console.log(`  note: ${note}`);
        } catch (error) {
          const message = `${label} FAILED: ${error instanceof Error ? error.message : String(error)}`;
          console.error(`\n${message}\n`);
          failures.push(message);
          killAll();
          if (!plan.keepGoing) break outer;
        }
        await sleep(PAUSE_BETWEEN_RUNS_MS);
      }
    }
  }

  const results = aggregate(records);
  const cases = orderCases(plan.scenarios, plan.clients);
  const table = markdownTable(results, cases, plan.servers);
  const targets = plan.servers.includes('flamingo') ? checkTargets(results, cases) : [];
  const notes = collectNotes(records, failures);
  const elapsed = Math.round((Date.now() - started) / 1000);
  console.log(`\n${headerLines(meta, plan.runs).join('\n')}\n\n${table}\n`);
  for (const t of targets) console.log(`target: ${t.what}: ${t.ratio.toFixed(2)}x (${t.bound}) ${t.met ? 'met' : 'MISSED'}`);
  for (const note of notes) console.log(`note: ${note}`);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = {
    meta: { ...meta, elapsedSeconds: elapsed },
    results,
    ratios: ratiosJson(results, cases, plan.servers),
    targets,
    notes,
    failures,
    runs: records,
  };
  const base = `${RESULTS_DIR}${plan.resultsName}`;
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdownReport(meta, plan.runs, table, targets, notes));
  console.log(`\nwrote bench/results/${plan.resultsName}.json and .md (${elapsed} s)`);

  if (failures.length > 0) {
    console.error(`\nLOAD BENCHMARK FAILED: ${failures.length} run${failures.length === 1 ? '' : 's'} failed:\n${failures.join('\n')}`);
    return 1;
  }
  return 0;
}

function collectNotes(records: readonly RunRecord[], failures: readonly string[]): string[] {
  const notes = new Set<string>();
  for (const r of records)
    for (const note of r.notes) notes.add(`${r.scenario}/${r.clients} client${r.clients === 1 ? '' : 's'}/${r.server} run ${r.run}: ${note}`);
  const other = records.map((r) => r.metrics.otherCores ?? 0).sort((a, b) => a - b);
  if (other.length > 0) {
    const median = other[other.length >> 1]!;
    const busy = other.filter((cores) => cores >= BUSY_ELSEWHERE_CORES).length;
    notes.add(
      `Other processes on the machine used a median ${median.toFixed(2)} cores (max ${other[other.length - 1]!.toFixed(2)}) during the measured windows; ` +
        `${busy} of ${other.length} runs had ${BUSY_ELSEWHERE_CORES} cores or more taken from them, which makes figures noisier (otherCores per run in load.json).`,
    );
  }
  if (failures.length > 0) notes.add(`${failures.length} runs failed; their figures are missing from the table`);
  return [...notes];
}

// Whatever happens, nothing we started outlives us.
await runGuarded('LOAD BENCHMARK', 'every server and load generator', () => {
  const plan = parsePlan();
  return { timeoutMin: plan.timeoutMin, run: main };
});
