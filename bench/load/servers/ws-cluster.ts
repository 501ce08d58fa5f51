// The `ws` package's WebSocket echo (ws-echo.ts) under Node `cluster`: 2
// worker processes (--workers) on one port, the primary accepting and
// handing each connection to a worker (round-robin, Node's default on Linux):
// how a `ws` user spreads over cores without changing code.
//
//   node bench/load/servers/ws-cluster.ts --protocol websocket [--tls] [--port 0] [--workers 2]

import cluster, { type Worker } from 'node:cluster';
import { announceReady, exitOnStop, parseServerArgs } from './protocol.ts';
import { startWsEcho } from './ws-echo.ts';

const args = parseServerArgs('ws-cluster');

if (cluster.isPrimary) {
  let stopping = false;
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    if (++listening === args.workers) announceReady(address.port);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) process.stderr.write(`ws worker ${worker.id} exited (code ${code}, signal ${signal})\n`);
  });
  const workers: Worker[] = Array.from({ length: args.workers }, () => cluster.fork());
  const exited = (worker: Worker): Promise<void> => new Promise((resolve) => (worker.isDead() ? resolve() : worker.once('exit', () => resolve())));
  exitOnStop(async () => {
    stopping = true;
    for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGTERM');
    await Promise.all(workers.map(exited));
  });
} else {
  const echo = await startWsEcho(args);
  // A worker ends on SIGTERM from the primary, or when the primary is gone
  // (cluster exits a worker whose IPC channel closes).
  process.once('SIGTERM', () => {
    void echo.close().then(() => process.exit(0));
  });
}
