// An echo server whose events are consumed by a blocking loop in a dedicated
// thread (examples/pipeline-thread-worker.ts), as close to the Go original's
// goroutines as JavaScript gets. The main thread only starts the server,
// hands the thread its pipeline, and shuts down on a signal.
//
//   node_modules/.bin/node examples/pipeline-thread.ts [--port 9002] [--host 127.0.0.1] [--workers N]
//
// The first line it prints is `listening on HOST:PORT` (use --port 0 for a
// free port). SIGINT or SIGTERM shuts down gracefully.

import { Worker } from 'node:worker_threads';
import { startExample, stopOnSignal } from './start.ts';

const { server } = await startExample(9002, {
  // Nobody drains the events on this thread: the pipeline thread does.
  consumer: 'external',
});

// The handle is plain data (SharedArrayBuffers and numbers): it goes to the
// thread as workerData. `consume: true` makes that thread the consumer of
// every event; it also gets its own command ring to each I/O worker.
const handle = await server.pipelineHandle({ consume: true });
const thread = new Worker(new URL('./pipeline-thread-worker.ts', import.meta.url), { workerData: handle });
const threadExited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
thread.on('message', (summary: { opened: number; closed: number; echoed: number }) => {
  console.log(`pipeline thread: ${summary.opened} opened, ${summary.closed} closed, ${summary.echoed} frames echoed`);
});
thread.once('error', (error) => {
  // Without its consumer the server cannot deliver events: stop it.
  console.error('pipeline thread failed:', error);
  process.exitCode = 1;
  void stop('pipeline thread error');
});

console.log(`listening on ${server.options.host}:${server.port}`);
console.log(`${server.workerCount} I/O workers, events consumed by a blocking pipeline thread`);

const { stop } = stopOnSignal(server, {
  after: async (report) => {
    // The pipeline's next() returns null once shutdown has ended the stream, so the thread's loop ends.
    await threadExited;
    return `stopped (${report.abandonedBytes} bytes abandoned)`;
  },
});
