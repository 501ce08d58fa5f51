import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { decodeId } from '../../src/shared/id.ts';
import { closeAll, connectMany, converse, waitFor } from '../helpers/clients.ts';

describe('echo end to end', () => {
  let server: Server;
  const openWorkers = new Set<number>();
  let closes = 0;

  beforeAll(async () => {
    server = await listen({ port: 0, workers: 2 });
    server.on('open', (id) => openWorkers.add(decodeId(id).worker));
    server.on('data', (id, data) => server.send(id, data));
    server.on('close', () => closes++);
  });

  afterAll(async () => {
    await server?.shutdown();
  });

  it('2,000 concurrent connections through 2 workers echo every byte in order', async () => {
    const sockets = await connectMany(server.port, 2000);
    const messages = 200;
    const verified = await Promise.all(sockets.map((socket, i) => converse(socket, 1000 + i, messages)));
    const totalBytes = verified.reduce((a, b) => a + b, 0);
    const stats = server.stats();
    expect(stats.opened).toBe(2000);
    expect(stats.bytesIn).toBe(totalBytes);
    expect(stats.bytesOut).toBe(totalBytes);
    // Both workers received connections, and the ids say so too.
    expect(stats.workers.every((w) => w.opened > 0)).toBe(true);
    expect([...openWorkers].sort()).toEqual([0, 1]);
    await closeAll(sockets);
    await waitFor(() => closes === 2000, 10_000, '2,000 close events');
    expect(server.stats().closed.peer).toBe(2000);
  });
});
