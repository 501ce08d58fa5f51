// A/B cost benchmarks that need real processes on both sides (the soak
// lives in the load benchmark: npm run bench:soak):
//
//   idle-wheel   a server holding 18,000 idle connections for 30 s with a
//                60 s idleTimeoutMs, against the same server with no
//                timeout: the timing wheel's cost (server CPU seconds).
//   observe      echo on 1,000 connections with stats() polled 10 times a
//                second and /metrics scraped once a second, against the
//                same run without them (messages/s, server CPU per message).
//
//   npm run bench:costs
//
// Runs alternate A and B three times each; figures are medians. Every
// process is stopped at the end, and every wait is bounded.

import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Proc, cpuSeconds, median, next, rssBytes, start, stop } from './procs.ts';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const SERVER = here('./server.ts');
const ECHO_CLIENTS = here('./echo-clients.ts');
const HOLD_CLIENTS = here('../../test/helpers/hold-clients.ts');

const { values, positionals } = parseArgs({ options: { runs: { type: 'string' } }, allowPositionals: true });
const runs = Number(values.runs ?? 3);

async function startServer(args: string[]): Promise<{ proc: Proc; port: number; pid: number }> {
  const proc = start(SERVER, args);
  const ready = await next(proc, 30_000);
  return { proc, port: ready.port as number, pid: proc.child.pid! };
}

async function echoRun(serverArgs: string[], connections: number[], seconds: number, size: number) {
  const server = await startServer(serverArgs);
  const clients = connections.map((count, i) => start(ECHO_CLIENTS, [server.port, count, seconds, size, 2 + i * 50].map(String)));
  try {
    for (const client of clients) await next(client, 120_000); // connected
    const rssHolding = rssBytes(server.pid);
    const cpuBefore = cpuSeconds(server.pid);
    const results = await Promise.all(clients.map((client) => next(client, seconds * 1000 + 60_000)));
    const cpu = cpuSeconds(server.pid) - cpuBefore;
    const messages = results.reduce((n, r) => n + (r.messages as number), 0);
    const errors = results.reduce((n, r) => n + (r.errors as number), 0);
    const clientCpu = results.reduce((n, r) => n + (r.cpuSeconds as number), 0);
    for (const r of results) if ((r.errors as number) > 0) console.error('client failures:', JSON.stringify(r.failures));
    return { messages, errors, perSecond: messages / seconds, serverCpu: cpu, cpuPerMillion: (cpu / messages) * 1e6, rssHolding, clientCpu };
  } finally {
    for (const client of clients) await stop(client);
    server.proc.child.stdin!.end();
    const stopped = await next(server.proc, 30_000).catch(() => undefined);
    if (stopped !== undefined && process.env.FLAMINGO_SOAK_VERBOSE) console.error('server:', JSON.stringify(stopped));
    await stop(server.proc);
  }
}

async function idleWheel(): Promise<void> {
  const cpu: Record<string, number[]> = { none: [], wheel: [] };
  for (let run = 0; run < runs; run++) {
    for (const variant of ['none', 'wheel'] as const) {
      const server = await startServer(variant === 'wheel' ? ['--idle-timeout-ms', '60000'] : []);
      const clients = start(HOLD_CLIENTS, [String(server.port), '18000']);
      try {
        await next(clients, 120_000);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const before = cpuSeconds(server.pid);
        await new Promise((resolve) => setTimeout(resolve, 30_000));
        cpu[variant]!.push(cpuSeconds(server.pid) - before);
      } finally {
        await stop(clients);
        await stop(server.proc);
      }
    }
  }
  console.log(`idle-wheel: 18,000 idle connections held 30 s, server CPU seconds (median of ${runs}; min–max)`);
  for (const [variant, values] of Object.entries(cpu)) {
    console.log(
      `  ${variant === 'wheel' ? 'idleTimeoutMs 60000' : 'no timeout         '}  ${median(values).toFixed(2)} (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})`,
    );
  }
}

async function observe(): Promise<void> {
  const rows: Record<string, { perSecond: number[]; cpuPerMillion: number[] }> = {
    plain: { perSecond: [], cpuPerMillion: [] },
    observed: { perSecond: [], cpuPerMillion: [] },
  };
  for (let run = 0; run < runs; run++) {
    for (const variant of ['plain', 'observed'] as const) {
      const result = await echoRun(variant === 'observed' ? ['--observe'] : [], [1000], 10, 64);
      if (result.errors > 0) throw new Error(`observe/${variant}: ${result.errors} verification errors`);
      rows[variant]!.perSecond.push(result.perSecond);
      rows[variant]!.cpuPerMillion.push(result.cpuPerMillion);
    }
  }
  console.log(`observe: echo, 1,000 connections, 64 B, 10 s runs; stats() 10/s and /metrics 1/s against none (median of ${runs}; min–max)`);
  for (const [variant, row] of Object.entries(rows)) {
    const span = (v: number[]): string => `${median(v).toFixed(1)} (${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)})`;
    console.log(`  ${variant.padEnd(8)}  messages/s ${span(row.perSecond)}  server CPU-s per 1M messages ${span(row.cpuPerMillion)}`);
  }
}

const scenarios: Record<string, () => Promise<void>> = { 'idle-wheel': idleWheel, observe };
for (const name of positionals.length > 0 ? positionals : Object.keys(scenarios)) {
  const scenario = scenarios[name];
  if (scenario === undefined) throw new Error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
  await scenario();
}
