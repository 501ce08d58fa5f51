import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { Received, closeAll, connect, connectMany, converse, prng, randomBytes, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

const READ_BYTES = 64 * 1024;

describe('slow consumers and clients that do not read', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('a consumer that sleeps between events while 500 clients send flat out gets every byte in order, and the worker stash stays bounded', async () => {
    const eventRingBytes = 64 * 1024;
    const s = (server = await listen({ port: 0, workers: 2, eventRingBytes }));
    const got = new Map<number, Buffer[]>();
    let running = true;
    let taken = 0;
    const loop = async (): Promise<void> => {
      while (running) {
        const event = await s.recvData();
        if (event === null) break;
        const { id, data } = event;
        const list = got.get(id) ?? [];
        list.push(data);
        got.set(id, list);
        if (++taken % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    };
    void loop();
    const opens = new Map<number, number>();
    const openLoop = async (): Promise<void> => {
      while (running) {
        const open = await s.recvOpen();
        if (open === null) break;
        opens.set(open.port, open.id);
      }
    };
    void openLoop();
    const sockets = await connectMany(s.port, 500);
    const payloads = sockets.map((_, i) => randomBytes(prng(i), 60_000));
    sockets.forEach((socket, i) => {
      socket.write(payloads[i]!);
    });
    await waitFor(() => [...got.values()].reduce((n, list) => n + list.reduce((m, b) => m + b.length, 0), 0) === 500 * 60_000, 60_000, 'every byte');
    running = false;
    sockets.forEach((socket, i) => {
      const id = opens.get(socket.localPort!)!;
      expect(Buffer.concat(got.get(id)!).equals(payloads[i]!)).toBe(true);
    });
    const stats = s.stats();
    expect(stats.pausedReads).toBeGreaterThan(0);
    for (const worker of stats.workers) expect(worker.stashHighWater).toBeLessThanOrEqual(eventRingBytes + READ_BYTES);
    for (const socket of sockets) socket.destroy();
  });

  it('a producer that sends until send() returns false, waits for drain and goes on delivers every byte in order', async () => {
    const s = (server = await listen({ port: 0, workers: 2, commandRingBytes: 8192 }));
    const idByPort = new Map<number, number>();
    s.on('open', (id, info) => idByPort.set(info.port, id));
    const sockets = await connectMany(s.port, 50);
    const received = sockets.map((socket) => new Received(socket));
    await waitFor(() => idByPort.size === 50, 5000, 'opens');
    const ids = sockets.map((socket) => idByPort.get(socket.localPort!)!);
    const random = prng(5);
    const sent = ids.map((): Buffer[] => []);
    let falses = 0;
    for (let round = 0; round < 2000; round++) {
      const which = round % ids.length;
      const chunk = randomBytes(random, 1 + Math.floor(random() * 1500));
      sent[which]!.push(chunk);
      if (!s.send(ids[which]!, chunk)) {
        falses++;
        await new Promise<void>((resolve) => s.once('drain', () => resolve()));
      }
    }
    expect(falses).toBeGreaterThan(0);
    const expected = sent.map((chunks) => Buffer.concat(chunks));
    await Promise.all(received.map((r, i) => r.until(expected[i]!.length)));
    received.forEach((r, i) => {
      expect(r.bytes().equals(expected[i]!)).toBe(true);
    });
    for (const socket of sockets) socket.destroy();
  });

  it('a client that never reads is closed with slow-consumer while 100 others keep their full echo', async () => {
    const s = (server = await listen({ port: 0, workers: 2, maxBufferedBytes: 256 * 1024 }));
    const recorder = new EventRecorder(s, { echo: true });
    const sleeper = await connect(s.port);
    sleeper.pause(); // never reads
    sleeper.on('error', () => {});
    await waitFor(() => recorder.opened.size === 1, 5000, 'sleeper open');
    const sleeperId = [...recorder.opened][0]!;
    const others = await connectMany(s.port, 100);
    const conversations = Promise.all(others.map((socket, i) => converse(socket, i, 30)));
    const blob = Buffer.alloc(64 * 1024, 1);
    const pushing = setInterval(() => {
      if (!recorder.closed.has(sleeperId)) for (let i = 0; i < 8; i++) s.send(sleeperId, blob);
    }, 5);
    try {
      await waitFor(() => recorder.closed.has(sleeperId), 20_000, 'the sleeper to be closed');
      expect(recorder.closed.get(sleeperId)).toBe('slow-consumer');
      await conversations;
      expect([...recorder.closed.values()]).toEqual(['slow-consumer']);
    } finally {
      clearInterval(pushing);
    }
    await closeAll(others);
    sleeper.destroy();
  });

  it("slowConsumer: 'drop' keeps the connection and counts the dropped sends", async () => {
    const s = (server = await listen({ port: 0, workers: 1, maxBufferedBytes: 128 * 1024, slowConsumer: 'drop' }));
    const recorder = new EventRecorder(s);
    const sleeper = await connect(s.port);
    sleeper.pause();
    await waitFor(() => recorder.opened.size === 1, 5000, 'open');
    const id = [...recorder.opened][0]!;
    const blob = Buffer.alloc(32 * 1024, 2);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 20; i++) s.send(id, blob);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Every send was either written or dropped, and some were dropped.
    await waitFor(() => s.stats().sends + s.stats().droppedSends === 400, 10_000, 'all 400 sends accounted for');
    expect(s.stats().droppedSends).toBeGreaterThan(0);
    expect(recorder.closed.size).toBe(0);
    sleeper.destroy();
  });
});
