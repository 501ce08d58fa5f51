import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { Received, connectMany, prng, randomBytes, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

describe('full rings lose nothing', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('a 4 KiB event ring under 100 streaming clients: the worker pauses reading and every byte arrives in order', async () => {
    const s = (server = await listen({ port: 0, workers: 2, eventRingBytes: 4096 }));
    const recorder = new EventRecorder(s, { echo: true });
    const sockets = await connectMany(s.port, 100);
    const received = sockets.map((socket) => new Received(socket));
    const payloads = sockets.map((_, i) => randomBytes(prng(i + 1), 200_000));
    sockets.forEach((socket, i) => {
      socket.write(payloads[i]!);
    });
    await Promise.all(received.map((r) => r.until(200_000, 30_000)));
    received.forEach((r, i) => {
      expect(r.bytes().equals(payloads[i]!)).toBe(true);
    });
    expect(s.stats().pausedReads).toBeGreaterThan(0);
    expect(recorder.violations).toEqual([]);
    for (const socket of sockets) socket.destroy();
  });

  it('a 4 KiB command ring: send returns false, drain follows, and every byte reaches the client in order', async () => {
    const s = (server = await listen({ port: 0, workers: 1, commandRingBytes: 4096 }));
    const recorder = new EventRecorder(s);
    const [socket] = await connectMany(s.port, 1);
    const received = new Received(socket!);
    await waitFor(() => recorder.opened.size === 1, 5000, 'open');
    const id = [...recorder.opened][0]!;
    const chunks = Array.from({ length: 400 }, (_, i) => randomBytes(prng(i), 1 + (i % 3000)));
    let falses = 0;
    let drains = 0;
    s.on('drain', () => drains++);
    for (const chunk of chunks) if (!s.send(id, chunk)) falses++;
    const expected = Buffer.concat(chunks);
    await received.until(expected.length);
    expect(received.bytes().equals(expected)).toBe(true);
    expect(falses).toBeGreaterThan(0);
    expect(drains).toBeGreaterThan(0);
    socket!.destroy();
  });
});
