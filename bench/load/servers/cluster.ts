// Node `cluster` with 2 worker processes, each running the plain `net` echo.
// The primary accepts and hands each connection to a worker (round-robin,
// Node's default on Linux). For fan-out, the worker that receives the
// trigger writes to its own sockets and asks the primary to relay the round
// to the other workers over IPC, which write to theirs: no process can see
// another's sockets, so this relay is the baseline's natural shape. In the
// ingest modes each worker checksums its own connections; "count" on the
// primary's stdin asks every worker for its count over IPC.
//
//   node bench/load/servers/cluster.ts --mode echo|fanout|ingest-lines|ingest-chunks [--port 0] [--workers 2]

import cluster, { type Worker } from 'node:cluster';
import { type ConsumerCount, countNow, printCount } from './ingest.ts';
import { listeningPort, startNetEcho } from './net-echo.ts';
import { announceReady, exitOnStop, onStdinLine, parseServerArgs } from './protocol.ts';

interface RoundMessage {
  round: number;
}

/** Primary to worker: what have you checksummed? Worker to primary: `count`. */
interface CountMessage {
  countRequest?: number;
  count?: ConsumerCount;
}

const args = parseServerArgs();

if (cluster.isPrimary) {
  const workers: Worker[] = [];
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    if (++listening === args.workers) announceReady(address.port);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) process.stderr.write(`cluster worker ${worker.id} exited (code ${code}, signal ${signal})\n`);
  });
  let counts: ConsumerCount[] = [];
  for (let i = 0; i < args.workers; i++) {
    const worker = cluster.fork();
    worker.on('message', (message: RoundMessage & CountMessage) => {
      if (message.count !== undefined) {
        counts.push(message.count);
        if (counts.length === workers.length) {
          printCount(counts);
          counts = [];
        }
        return;
      }
      for (const other of workers) if (other !== worker) other.send(message);
    });
    workers.push(worker);
  }
  onStdinLine((line) => {
    if (line !== 'count') return;
    counts = [];
    for (const worker of workers) worker.send({ countRequest: 1 } satisfies CountMessage);
  });
  let stopping = false;
  exitOnStop(async () => {
    stopping = true;
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            worker.once('exit', () => resolve());
            worker.process.kill('SIGTERM');
          }),
      ),
    );
  });
} else {
  const echo = await startNetEcho(args, false, (round) => process.send!({ round } satisfies RoundMessage));
  process.on('message', (message: RoundMessage & CountMessage) => {
    if (message.countRequest !== undefined) process.send!({ count: countNow() } satisfies CountMessage);
    else echo.broadcast(message.round);
  });
  listeningPort(echo.server);
  // A worker ends on SIGTERM from the primary, or when the primary is gone
  // (cluster exits a worker whose IPC channel closes).
  process.once('SIGTERM', () => {
    echo.server.close();
    process.exit(0);
  });
}
