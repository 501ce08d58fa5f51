// Runs in its own process: starts a server, puts data in flight both ways,
// shuts down, and reports. It never calls process.exit: the test checks
// that the process ends on its own, so no thread, socket or timer is left.

import { listen } from '../../src/main/index.ts';
import { Received, connectMany, waitFor } from './clients.ts';

const server = await listen({ port: 0, workers: 2 });
const opened: number[] = [];
const reasons: Record<string, number> = {};
server.on('open', (id) => opened.push(id));
server.on('data', (id, data) => server.send(id, data));
server.on('close', (_id, reason) => {
  reasons[reason] = (reasons[reason] ?? 0) + 1;
});

const sockets = await connectMany(server.port, 200);
const received = sockets.map((socket) => new Received(socket));
await waitFor(() => opened.length === 200, 10_000, 'opens');
const bulk = Buffer.alloc(256 * 1024, 0x5a);
// In flight both ways: clients write, the server sends a large payload to each, then shuts down at once.
for (const socket of sockets) socket.write('x'.repeat(1000));
for (const id of opened) server.send(id, bulk);
const report = await server.shutdown({ drainMs: 10_000 });
await Promise.all(received.map((r) => r.untilEnd()));
const complete = received.filter((r) => {
  const bytes = r.bytes();
  // The bulk payload arrives whole; echoes of the client's writes may precede or follow it.
  return bytes.length >= bulk.length && bytes.includes(bulk);
}).length;
for (const socket of sockets) socket.destroy();
process.stdout.write(`${JSON.stringify({ complete, reasons, abandoned: report.abandonedBytes })}\n`);
