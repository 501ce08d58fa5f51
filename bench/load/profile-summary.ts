// Summarises V8 .cpuprofile files (node --cpu-prof, one per thread, workers
// included): per thread, the shares of (program), (garbage collector) and
// (idle), the top functions by self time, and self time by source file.
//
//   node bench/load/profile-summary.ts DIR|FILE... [--from-us N --to-us N] [--top 15] [--json OUT]
//
// Capturing: NODE_OPTIONS="--cpu-prof --cpu-prof-dir=DIR" in the environment
// of the process that starts a server (server-process.ts passes its
// environment on), or node --cpu-prof --cpu-prof-dir=DIR on a server by hand.
//
// --from-us/--to-us keep only the samples stamped inside a CLOCK_MONOTONIC
// window in µs (V8's profile clock on Linux is the monotonic clock that
// process.hrtime reads), e.g. a benchmark's measured window.
//
// Reading the figures: V8 samples wall-clock time, not CPU time. A thread
// blocked in epoll_wait shows as (idle); a thread that is runnable but not
// running (preempted, or waiting for a lock inside a native call) is charged
// to whatever was on its stack. "cores" is self time over the window's
// length, an upper bound on the CPU a function used; on a busy machine read
// the shares, and take CPU from /proc or perf.

import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const SPECIAL = new Set(['(program)', '(garbage collector)', '(idle)', '(root)']);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'from-us': { type: 'string' },
    'to-us': { type: 'string' },
    top: { type: 'string', default: '15' },
    json: { type: 'string' },
  },
});
const from = values['from-us'] === undefined ? Number.NEGATIVE_INFINITY : Number(values['from-us']);
const to = values['to-us'] === undefined ? Number.POSITIVE_INFINITY : Number(values['to-us']);
const top = Number(values.top);
if (positionals.length === 0) {
  console.error('usage: node bench/load/profile-summary.ts DIR|FILE... [--from-us N --to-us N] [--top 15] [--json OUT]');
  process.exit(2);
}

const files = positionals.flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(p, f))
    : [p],
);

function shortUrl(url: string): string {
  if (url === '' || url.startsWith('node:')) return url;
  const match = /\/(src|bench|examples)\/(.*)$/.exec(url);
  return match ? `${match[1]}/${match[2]}` : basename(url);
}

/** node names profiles CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread. */
function threadOf(file: string, profile: Profile): { pid: number; tid: number; name: string } {
  const match = /\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(file);
  const pid = Number(match?.[1] ?? 0);
  const tid = Number(match?.[2] ?? 0);
  if (tid === 0) return { pid, tid, name: 'main' };
  // Flamingo starts its I/O workers in index order, so thread ids 1.. are flamingo-io-0..
  const io = profile.nodes.some((n) => n.callFrame.url.includes('/worker/io-worker'));
  return { pid, tid, name: io ? `flamingo-io-${tid - 1}` : `worker thread ${tid}` };
}

const pct = (part: number, whole: number): string => `${((part / whole) * 100).toFixed(1)}%`;
const summaries: unknown[] = [];
for (const file of files.sort()) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const { pid, tid, name } = threadOf(file, profile);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const bySource = new Map<string, number>();
  // Sample i is stamped at startTime + the sum of deltas 0..i and stands for the time until the next one.
  const stamps = new Float64Array(profile.samples.length);
  let t = profile.startTime;
  for (let i = 0; i < stamps.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    stamps[i] = t;
  }
  let total = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (let i = 0; i + 1 < stamps.length; i++) {
    const at = stamps[i]!;
    if (at < from || at >= to) continue;
    const duration = stamps[i + 1]! - at;
    const frame = byId.get(profile.samples[i]!)!.callFrame;
    const special = SPECIAL.has(frame.functionName);
    const key = special ? frame.functionName : `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    const source = special ? frame.functionName : frame.url === '' ? '(native/builtin)' : shortUrl(frame.url);
    self.set(key, (self.get(key) ?? 0) + duration);
    bySource.set(source, (bySource.get(source) ?? 0) + duration);
    total += duration;
    first = Math.min(first, at);
    last = Math.max(last, at);
  }
  if (total === 0) continue;
  const windowUs = Number.isFinite(from) && Number.isFinite(to) ? to - from : last - first;
  const of = (k: string): number => self.get(k) ?? 0;
  const busy = total - of('(idle)');
  const rows = [...self.entries()].filter(([k]) => !SPECIAL.has(k)).sort((a, b) => b[1] - a[1]);
  const sources = [...bySource.entries()].filter(([k]) => !SPECIAL.has(k)).sort((a, b) => b[1] - a[1]);
  console.log(`\n== pid ${pid} ${name} (thread ${tid}): ${(total / 1000).toFixed(0)} ms sampled over ${(windowUs / 1e6).toFixed(2)} s (${basename(file)})`);
  console.log(
    `   of all samples: (idle) ${pct(of('(idle)'), total)}  (program) ${pct(of('(program)'), total)}  (garbage collector) ${pct(of('(garbage collector)'), total)}  ` +
      `JS and builtins ${pct(busy - of('(program)') - of('(garbage collector)'), total)}`,
  );
  console.log(`   ${'top functions by self time'.padEnd(62)}  %all %busy   cores`);
  for (const [k, v] of rows.slice(0, top)) {
    console.log(`   ${k.slice(0, 62).padEnd(62)} ${pct(v, total).padStart(6)} ${pct(v, busy).padStart(5)} ${(v / windowUs).toFixed(4)}`);
  }
  console.log('   self time by source:');
  for (const [k, v] of sources.slice(0, 8)) console.log(`     ${k.slice(0, 60).padEnd(60)} ${pct(v, total).padStart(6)} ${pct(v, busy).padStart(5)}`);
  summaries.push({
    file: basename(file),
    pid,
    tid,
    name,
    sampledMs: total / 1000,
    windowS: windowUs / 1e6,
    shares: { idle: of('(idle)') / total, program: of('(program)') / total, gc: of('(garbage collector)') / total },
    top: rows.slice(0, top).map(([fn, v]) => ({ fn, share: v / total, shareOfBusy: v / busy, cores: v / windowUs })),
    bySource: sources.map(([source, v]) => ({ source, share: v / total, shareOfBusy: v / busy })),
  });
}
if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(summaries, null, 2)}\n`);
