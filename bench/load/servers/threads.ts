// The naive thread version of Flamingo's shape: 2 worker_threads, each with
// its own `net` server on the same port with reusePort, echoing in place on
// the thread that owns the socket (no rings, no consumer thread). For
// fan-out, the thread that receives the trigger writes to its own sockets
// and tells the other threads over a BroadcastChannel, which write to
// theirs: a thread cannot write to another thread's sockets.
//
// In the ingest modes each thread checksums its own connections; "count" on
// stdin asks every thread for its count.
//
//   node bench/load/servers/threads.ts --mode echo|fanout|ingest-lines|ingest-chunks [--port 0] [--workers 2]

import { BroadcastChannel, Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { type ConsumerCount, countNow, printCount } from './ingest.ts';
import { listeningPort, startNetEcho } from './net-echo.ts';
import { type ServerArgs, announceReady, exitOnStop, onStdinLine, parseServerArgs } from './protocol.ts';

const CHANNEL = 'flamingo-bench-fanout';

if (isMainThread) {
  const args = parseServerArgs();
  const threads: Worker[] = [];
  const startThread = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const thread = new Worker(new URL(import.meta.url), { workerData: { ...args, port } satisfies ServerArgs });
      threads.push(thread);
      thread.once('message', (bound: number) => resolve(bound));
      thread.once('error', reject);
      thread.on('exit', (code) => {
        if (!stopping) process.stderr.write(`echo thread exited with code ${code}\n`);
      });
    });
  let stopping = false;
  // The first thread picks the port; the others join it.
  const port = await startThread(args.port);
  for (let i = 1; i < args.workers; i++) await startThread(port);
  let counts: ConsumerCount[] = [];
  for (const thread of threads) {
    thread.on('message', (count: ConsumerCount) => {
      counts.push(count);
      if (counts.length === threads.length) printCount(counts);
    });
  }
  onStdinLine((line) => {
    if (line !== 'count') return;
    counts = [];
    for (const thread of threads) thread.postMessage('count');
  });
  announceReady(port);
  exitOnStop(async () => {
    stopping = true;
    await Promise.all(threads.map((thread) => thread.terminate()));
  });
} else {
  const args = workerData as ServerArgs;
  const channel = new BroadcastChannel(CHANNEL);
  const echo = await startNetEcho(args, true, (round) => channel.postMessage(round));
  channel.onmessage = (event) => echo.broadcast((event as { data: number }).data);
  if (args.mode === 'echo') channel.unref();
  parentPort!.postMessage(listeningPort(echo.server));
  parentPort!.on('message', () => parentPort!.postMessage(countNow()));
}
