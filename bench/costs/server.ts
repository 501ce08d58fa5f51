// The Flamingo echo server the cost benchmarks run, in its own
// process. Prints {"event":"ready","port":N}; stdin's end shuts it down and
// prints {"event":"stopped",...} with its stats.
//
//   node bench/costs/server.ts [--idle-timeout-ms N] [--observe]
//
// --observe polls stats() ten times a second and scrapes its own /metrics
// once a second, as an operator's tooling would.

import { parseArgs } from 'node:util';
import { listen } from '../../src/main/index.ts';

const { values } = parseArgs({ options: { 'idle-timeout-ms': { type: 'string' }, observe: { type: 'boolean' } } });
const idleTimeoutMs = Number(values['idle-timeout-ms'] ?? 0);
const server = await listen({ port: 0, workers: 2, idleTimeoutMs, metricsPort: values.observe ? 0 : undefined });
server.on('data', (id, data) => server.send(id, data));
const timers: NodeJS.Timeout[] = [];
if (values.observe) {
  let polls = 0;
  timers.push(setInterval(() => void (polls += server.stats().connections >= 0 ? 1 : 0), 100));
  timers.push(setInterval(() => void fetch(`http://127.0.0.1:${server.metricsPort}/metrics`).then((r) => r.text()), 1000));
}
process.stdout.write(`${JSON.stringify({ event: 'ready', port: server.port })}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  for (const timer of timers) clearInterval(timer);
  const stats = server.stats();
  await server.shutdown({ drainMs: 2000 });
  process.stdout.write(`${JSON.stringify({ event: 'stopped', stats: { ...stats, workers: undefined } })}\n`);
});
