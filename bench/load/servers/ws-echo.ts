// The `ws` package's server echoing, as most Node users run WebSocket: one
// WebSocketServer (permessage-deflate off, as large deployments run it, and
// as Flamingo's WebSocket declines it), every message sent back as it came,
// binary as binary. With --tls it sits on an `https` server (wss://).
// ws.ts runs it in one process, ws-cluster.ts in each `cluster` worker.

import { type Server as HttpServer, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { type ServerArgs, isTls, testCertificate } from './protocol.ts';

export interface WsEcho {
  wss: WebSocketServer;
  port: number;
  close(): Promise<void>;
}

function ignore(): void {}

export function startWsEcho(args: ServerArgs): Promise<WsEcho> {
  const https: HttpServer | undefined = isTls(args.transport) ? createServer(testCertificate()) : undefined;
  const wss =
    https === undefined
      ? new WebSocketServer({ host: '127.0.0.1', port: args.port, perMessageDeflate: false })
      : new WebSocketServer({ server: https, perMessageDeflate: false });
  wss.on('connection', (socket) => {
    // The load generator closes with a reset: ECONNRESET is its normal goodbye.
    socket.on('error', ignore);
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  const listening = new Promise<void>((resolve, reject) => {
    const target = https ?? wss;
    target.once('error', reject);
    target.once('listening', () => {
      target.off('error', reject);
      resolve();
    });
  });
  https?.listen(args.port, '127.0.0.1');
  return listening.then(() => {
    const address = (https ?? wss).address() as AddressInfo;
    const close = (): Promise<void> =>
      new Promise((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => (https === undefined ? resolve() : https.close(() => resolve())));
      });
    return { wss, port: address.port, close };
  });
}
