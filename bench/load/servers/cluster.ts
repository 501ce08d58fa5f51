// Node `cluster` with 2 worker processes, each running the plain `net` echo.
// The primary accepts and hands each connection to a worker (round-robin,
// Node's default on Linux). For fan-out, the worker that receives the
// trigger writes to its own sockets and asks the primary to relay the round
// to the other workers over IPC, which write to theirs: no process can see
// another's sockets, so this relay is the baseline's natural shape.
//
//   node bench/load/servers/cluster.ts --mode echo|fanout [--port 0] [--workers 2]

import cluster, { type Worker } from 'node:cluster';
import { listeningPort, startNetEcho } from './net-echo.ts';
import { announceReady, exitOnStop, parseServerArgs } from './protocol.ts';

interface RoundMessage {
  round: number;
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
  for (let i = 0; i < args.workers; i++) {
    const worker = cluster.fork();
    worker.on('message', (message: RoundMessage) => {
      for (const other of workers) if (other !== worker) other.send(message);
    });
    workers.push(worker);
  }
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
  process.on('message', (message: RoundMessage) => echo.broadcast(message.round));
  listeningPort(echo.server);
  // A worker ends on SIGTERM from the primary, or when the primary is gone
  // (cluster exits a worker whose IPC channel closes).
  process.once('SIGTERM', () => {
    echo.server.close();
    process.exit(0);
  });
}
