// A plain Node `tls` echo server, the TLS baseline: `tls.createServer` with a
// throwaway certificate (testCertificate), `socket.on('data', d =>
// socket.write(d))`, noDelay like the plain `net` echo, Node's defaults
// otherwise (TLS 1.3, session tickets, SSL_MODE_RELEASE_BUFFERS).
//
//   node bench/load/servers/tls-echo.ts --tls [--port 0]

import type { AddressInfo } from 'node:net';
import { createServer } from 'node:tls';
import { announceReady, exitOnStop, parseServerArgs, testCertificate } from './protocol.ts';

function ignore(): void {}

const args = parseServerArgs('tls-echo');
if (args.mode !== 'echo') throw new Error(`tls-echo only echoes; got --mode ${args.mode}`);
const server = createServer(testCertificate(), (socket) => {
  socket.setNoDelay(true);
  // The load generator closes with a reset: ECONNRESET is its normal goodbye.
  socket.on('error', ignore);
  socket.on('data', (d) => socket.write(d));
});
// A client that resets during its handshake (the handshake scenario's last cycles) is no failure of the server.
server.on('tlsClientError', ignore);
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(args.port, '127.0.0.1', () => resolve());
});
announceReady((server.address() as AddressInfo).port);
exitOnStop(() => {
  server.close();
});
