// Runs in its own process: a clustered server on a fixed node number that
// opens `count` connections to itself, prints their ids as one JSON line,
// then waits to be killed (the test SIGKILLs it: no shutdown, no release).

import { listen } from '../../src/main/index.ts';
import { connectMany, waitFor } from './clients.ts';

const [redis, node, count] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])];
const server = await listen({ port: 0, workers: 2, node, cluster: { redis, leaseMs: 1000 } });
const opened: number[] = [];
server.on('open', (id) => opened.push(id));
const sockets = await connectMany(server.port, count);
await waitFor(() => opened.length === count, 10_000, 'opens');
// Close and reopen some, so slots are reused and generations advance past the first.
for (const socket of sockets.slice(0, count / 2)) socket.destroy();
await connectMany(server.port, count);
await waitFor(() => opened.length === 2 * count, 10_000, 'reopens');
process.stdout.write(`${JSON.stringify({ ids: opened })}\n`);
setInterval(() => {}, 1000);
