// The baselines' one server: a plain `net` echo, the way a user writes it
// (`socket.on('data', d => socket.write(d))`, noDelay true like Flamingo's
// default). In fanout mode it also keeps its sockets in a Set and writes a
// round's payload to each of them; `relay` tells the other processes or
// threads of a sharded baseline (cluster, threads) about the round, and
// `broadcast` is what they call when told. In the ingest modes each socket
// is read and checksummed instead (ingest.ts): nothing is echoed.

import { type Server, type Socket, createServer } from 'node:net';
import { ingestSocket } from './ingest.ts';
import { type ServerArgs, fanoutPayload, triggerRound } from './protocol.ts';

export interface NetEcho {
  server: Server;
  /** Writes one round's payload to every socket of this process or thread. */
  broadcast(round: number): void;
}

function ignore(): void {}

export function startNetEcho(args: ServerArgs, reusePort: boolean, relay: (round: number) => void): Promise<NetEcho> {
  const sockets = new Set<Socket>();
  const broadcast = (round: number): void => {
    const payload = fanoutPayload(round, args.fanoutBytes);
    for (const socket of sockets) socket.write(payload);
  };
  const server = createServer({ noDelay: true }, (socket) => {
    // The load generator closes with a reset: ECONNRESET is its normal goodbye.
    socket.on('error', ignore);
    if (args.mode === 'ingest-lines' || args.mode === 'ingest-chunks') {
      ingestSocket(socket, args.mode === 'ingest-lines');
      return;
    }
    if (args.mode === 'echo') {
      socket.on('data', (d) => socket.write(d));
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (d) => {
      const round = triggerRound(d);
      if (round < 0) {
        socket.write(d);
        return;
      }
      broadcast(round);
      relay(round);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: args.port, reusePort }, () => {
      server.off('error', reject);
      resolve({ server, broadcast });
    });
  });
}

export function listeningPort(server: Server): number {
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('server is not listening on a TCP port');
  return address.port;
}
