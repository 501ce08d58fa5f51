// A client process that opens many connections and holds them, for tests
// that need more sockets than one process may open beside the server
// (20,000 files per process here). It prints one JSON line with its local
// ports once every connection is up, and exits when stdin closes.

import { connectMany } from './clients.ts';

const [port, count, host] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] ?? '127.0.0.1'];
const sockets = await connectMany(port, count, 500, host);
for (const socket of sockets) socket.on('error', () => {});
process.stdout.write(`${JSON.stringify({ ports: sockets.map((s) => s.localPort) })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  for (const socket of sockets) socket.destroy();
});
