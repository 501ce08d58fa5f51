import type net from 'node:net';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { decodeId } from '../../src/shared/id.ts';
import { Received, connectMany, converse, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';
import { faults } from '../../src/main/testing.ts';

describe('a worker that dies', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  for (const how of ['throws an uncaught exception', 'is terminated'] as const) {
    it(`${how}: each of its connections closes once with worker-exit, a replacement listens, and the other worker's connections keep every byte`, async () => {
      const s = (server = await listen({ port: 0, workers: 2 }));
      const recorder = new EventRecorder(s, { echo: true });
      const idByPort = new Map<number, number>();
      s.on('open', (id, info) => idByPort.set(info.port, id));
      const exits: number[] = [];
      s.on('workerExit', (worker) => exits.push(worker));

      const sockets = await connectMany(s.port, 300);
      await waitFor(() => idByPort.size === 300, 5000, 'opens');
      // A closed socket forgets its port: note each socket's id while it is open.
      const idOf = new Map(sockets.map((socket) => [socket, idByPort.get(socket.localPort!)!]));
      const workerOf = (socket: net.Socket): number => decodeId(idOf.get(socket) ?? idByPort.get(socket.localPort!)!).worker;
      const victims = sockets.filter((socket) => workerOf(socket) === 0);
      const survivors = sockets.filter((socket) => workerOf(socket) === 1);
      expect(victims.length).toBeGreaterThan(0);
      expect(survivors.length).toBeGreaterThan(0);
      for (const socket of victims) socket.on('error', () => {});

      // Mid-stream: survivors are conversing while worker 0 dies.
      const conversations = Promise.all(survivors.map((socket, i) => converse(socket, i, 60)));
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (how === 'is terminated') await faults(s).terminate(0);
      else faults(s).crash(0);

      await waitFor(() => recorder.closed.size === victims.length, 10_000, 'worker-exit closes');
      const victimIds = new Set(victims.map((socket) => idOf.get(socket)!));
      for (const [id, reason] of recorder.closed) {
        expect(victimIds.has(id)).toBe(true);
        expect(reason).toBe('worker-exit');
      }
      await conversations;
      expect(exits).toEqual([0]);
      expect(recorder.violations).toEqual([]);

      // Sends to the dead ids are stale, not delivered, not thrown.
      const staleBefore = s.stats().staleSends;
      for (const id of victimIds) expect(s.send(id, 'gone')).toBe(true);
      await waitFor(() => s.stats().staleSends === staleBefore + victimIds.size, 10_000, 'stale sends counted');

      // The replacement listens on the same port: new connections reach worker 0 again.
      await waitFor(() => s.stats().workers[0]!.restarts === 1, 5000, 'restart counted');
      let reached0 = false;
      for (let attempt = 0; attempt < 20 && !reached0; attempt++) {
        const fresh = await connectMany(s.port, 20);
        await waitFor(() => fresh.every((socket) => idByPort.has(socket.localPort!)), 5000, 'fresh opens');
        reached0 = fresh.some((socket) => workerOf(socket) === 0);
        await Promise.all(fresh.map((socket, i) => converse(socket, 900 + i, 3)));
        for (const socket of fresh) socket.destroy();
      }
      expect(reached0).toBe(true);
      const stats = s.stats();
      expect(stats.workerRestarts).toBe(1);
      expect(stats.closed['worker-exit']).toBe(victims.length);
      for (const socket of sockets) socket.destroy();
    });
  }

  it('a blocking pipeline consumer also gets one worker-exit close per connection of the dead worker', async () => {
    const s = (server = await listen({ port: 0, workers: 2, consumer: 'external' }));
    const handle = await s.pipelineHandle({ consume: true });
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const thread = new Worker(new URL('../helpers/blocking-echo.ts', import.meta.url), { workerData: { handle, mode: 'next', stop } });
    const summary = new Promise<{ opened: number; closed: number; violations: string[]; reasons: Record<string, number> }>((resolve, reject) => {
      thread.once('message', resolve);
      thread.once('error', reject);
    });
    const sockets = await connectMany(s.port, 200);
    for (const socket of sockets) socket.on('error', () => {});
    await Promise.all(sockets.map((socket, i) => converse(socket, i, 3)));
    const perWorker = s.stats().workers.map((w) => w.opened);
    const closedBy = sockets.map((socket) => new Received(socket));
    await faults(s).terminate(1);
    await waitFor(() => closedBy.filter((r) => r.ended).length === perWorker[1], 10_000, 'the dead worker’s sockets to close');
    await waitFor(() => s.stats().closed['worker-exit'] === perWorker[1], 10_000, 'worker-exit closes counted by the pipeline');
    for (const socket of sockets) socket.destroy();
    await s.shutdown();
    server = undefined;
    const result = await summary;
    await thread.terminate();
    expect({ ...result, violations: result.violations.slice(0, 5) }).toMatchObject({ violations: [], opened: 200 });
    expect(result.closed).toBe(200);
    expect(result.reasons['worker-exit']).toBe(perWorker[1]);
  });
});
