import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { Received, closeAll, connect, connectMany, converse, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

describe('maxConnections', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('is enforced exactly across two workers: connections over it are closed at once, counted, and never opened', async () => {
    const s = (server = await listen({ port: 0, workers: 2, maxConnections: 50 }));
    const recorder = new EventRecorder(s, { echo: true });
    const sockets = await connectMany(s.port, 80, 20);
    const received = sockets.map((socket) => new Received(socket));
    await waitFor(() => s.stats().rejected === 30 && recorder.opened.size === 50, 5000, '50 opens and 30 rejections');
    // The rejected ones are closed by the server; the admitted ones echo.
    await waitFor(() => received.filter((r) => r.ended).length === 30, 5000, '30 rejected sockets to end');
    const admitted = sockets.filter((_, i) => !received[i]!.ended);
    expect(admitted.length).toBe(50);
    await Promise.all(admitted.map((socket, i) => converse(socket, i, 5)));
    expect(s.stats().connections).toBe(50);
    expect(recorder.closed.size).toBe(0);

    // Freeing ten places admits exactly ten more.
    await closeAll(admitted.slice(0, 10));
    // A place is free once its socket is gone: after the close event, a
    // half-closed socket still flushes until its close has been handed out.
    await waitFor(() => recorder.closed.size === 10 && s.stats().closing === 0, 5000, 'ten closes and their sockets gone');
    const more = await connectMany(s.port, 15, 5);
    const moreReceived = more.map((socket) => new Received(socket));
    await waitFor(() => s.stats().rejected === 35 && recorder.opened.size === 60, 5000, 'ten more opens, five more rejections');
    await waitFor(() => moreReceived.filter((r) => r.ended).length === 5, 5000, 'five more rejected');
    expect(recorder.violations).toEqual([]);
    for (const socket of [...sockets, ...more]) socket.destroy();
  });

  it('maxConnectionsPerWorker caps one worker the same way', async () => {
    const s = (server = await listen({ port: 0, workers: 1, maxConnectionsPerWorker: 10 }));
    const recorder = new EventRecorder(s);
    const sockets = await connectMany(s.port, 14, 2);
    await waitFor(() => s.stats().rejected === 4 && recorder.opened.size === 10, 5000, '10 opens, 4 rejections');
    for (const socket of sockets) socket.destroy();
    await waitFor(() => recorder.closed.size === 10 && s.stats().closing === 0, 5000, 'the ten admitted connections to close and their sockets to go');
    const late = await connect(s.port);
    await waitFor(() => recorder.opened.size === 11, 5000, 'a slot freed by a close is reused');
    late.destroy();
  });
});
