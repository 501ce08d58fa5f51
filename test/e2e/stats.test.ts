import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { Received, closeAll, connectMany, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

describe('stats()', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('agrees exactly with what the test did: 1,000 connections, known byte counts, closes of each reason', async () => {
    const s = (server = await listen({ port: 0, workers: 2, framing: 'delimiter', maxFrameBytes: 1000, maxConnections: 1000 }));
    const recorder = new EventRecorder(s);
    const idByPort = new Map<number, number>();
    s.on('open', (id, info) => idByPort.set(info.port, id));
    const sockets = await connectMany(s.port, 1000);
    const received = sockets.map((socket) => new Received(socket));
    await waitFor(() => recorder.opened.size === 1000, 10_000, 'opens');
    // One more than maxConnections: rejected.
    const [extra] = await connectMany(s.port, 1);
    await waitFor(() => s.stats().rejected === 1, 5000, 'rejection');

    // Every client sends 3 lines of 10 bytes: 30 bytes, 3 frames each.
    for (const socket of sockets) socket.write('123456789\n123456789\nabcdefghi\n');
    await waitFor(() => s.stats().framesIn === 3000, 10_000, 'frames');
    // The server sends 7 bytes to each, and one 5-byte broadcast to all.
    const ids = sockets.map((socket) => idByPort.get(socket.localPort!)!);
    for (const id of ids) s.send(id, 'seven!!');
    s.sendMany(ids, 'hello');
    await Promise.all(received.map((r) => r.until(12)));

    // Close 100 from the client (peer), 100 from the server (local), 100 by an oversize frame.
    for (const socket of sockets.slice(0, 100)) socket.end();
    for (const id of ids.slice(100, 200)) s.close(id);
    for (const socket of sockets.slice(200, 300)) {
      socket.on('error', () => {});
      socket.write('x'.repeat(2000));
    }
    await waitFor(() => recorder.closed.size === 300, 10_000, '300 closes');
    // 50 stale sends, to ids the server closed. (A client that only ended its
    // side may still be reading until its close is released: a send to it in
    // the same turn as its close can still reach it.)
    for (const id of ids.slice(100, 150)) s.send(id, 'late');

    await waitFor(() => s.stats().staleSends === 50, 5000, 'stale sends');
    const stats = s.stats();
    expect(stats.opened).toBe(1000);
    expect(stats.rejected).toBe(1);
    expect(stats.connections).toBe(700);
    expect(stats.framesIn).toBe(3000);
    expect(stats.bytesIn).toBe(1000 * 30 + 100 * 2000);
    expect(stats.sends).toBe(2000);
    expect(stats.bytesOut).toBe(1000 * 12);
    expect(stats.closed).toEqual({
      peer: 100,
      error: 0,
      'idle-timeout': 0,
      'frame-timeout': 0,
      local: 100,
      'frame-too-large': 100,
      'slow-consumer': 0,
      'worker-exit': 0,
      shutdown: 0,
    });
    expect(stats.workers.reduce((n, w) => n + w.opened, 0)).toBe(1000);
    expect(stats.workers.every((w) => w.eventRingHighWater > 0)).toBe(true);
    expect(stats.workerRestarts).toBe(0);
    await closeAll(sockets.slice(300));
    extra!.destroy();
  });

  it("reads shared memory synchronously, with no round trip, and shows each worker's event-loop utilisation", async () => {
    const s = (server = await listen({ port: 0, workers: 2 }));
    // Synchronous: 10,000 snapshots in a row return without awaiting anything.
    let last = s.stats();
    for (let i = 0; i < 10_000; i++) last = s.stats();
    expect(last.workers.length).toBe(2);
    // Utilisation appears within a couple of samples.
    await waitFor(() => s.stats().workers.every((w) => w.eventLoopUtilization > 0), 5000, 'utilisation samples');
  });
});
