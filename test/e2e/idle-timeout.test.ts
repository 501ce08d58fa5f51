import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { TimingWheel } from '../../src/worker/timing-wheel.ts';
import { connect, waitFor } from '../helpers/clients.ts';

// Margin for a loaded two-core VM on top of the documented window.
const SCHEDULING_MARGIN_MS = 250;

describe('timeouts', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('idleTimeoutMs closes an idle connection with idle-timeout inside its window and leaves a busy one alone', async () => {
    const idleTimeoutMs = 400;
    const tick = TimingWheel.tickFor(idleTimeoutMs, 0);
    const s = (server = await listen({ port: 0, workers: 1, idleTimeoutMs }));
    const closedAt = new Map<number, { reason: string; at: number }>();
    const openedAt = new Map<number, number>();
    s.on('open', (id) => openedAt.set(id, performance.now()));
    s.on('data', (id, data) => s.send(id, data));
    s.on('close', (id, reason) => closedAt.set(id, { reason, at: performance.now() }));

    const idle = await connect(s.port);
    idle.on('error', () => {});
    await waitFor(() => openedAt.size === 1, 5000, 'idle open');
    const idleId = [...openedAt.keys()][0]!;
    const busy = await connect(s.port);
    busy.on('data', () => {});
    const pinger = setInterval(() => busy.write('ping'), idleTimeoutMs / 5);
    try {
      await waitFor(() => closedAt.has(idleId), 5000, 'the idle connection to time out');
      const { reason, at } = closedAt.get(idleId)!;
      const after = at - openedAt.get(idleId)!;
      expect(reason).toBe('idle-timeout');
      expect(after).toBeGreaterThanOrEqual(idleTimeoutMs - 5);
      expect(after).toBeLessThanOrEqual(idleTimeoutMs + 3 * tick + SCHEDULING_MARGIN_MS);
      // The busy connection outlives three timeouts.
      await new Promise((resolve) => setTimeout(resolve, idleTimeoutMs * 3));
      expect(closedAt.size).toBe(1);
    } finally {
      clearInterval(pinger);
      busy.destroy();
    }
  });

  it('sending to a connection counts as activity', async () => {
    const s = (server = await listen({ port: 0, workers: 1, idleTimeoutMs: 300 }));
    const ids: number[] = [];
    const closes: string[] = [];
    s.on('open', (id) => ids.push(id));
    s.on('close', (_id, reason) => closes.push(reason));
    const client = await connect(s.port);
    client.on('data', () => {});
    await waitFor(() => ids.length === 1, 5000, 'open');
    const pusher = setInterval(() => s.send(ids[0]!, 'news'), 60);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    clearInterval(pusher);
    expect(closes).toEqual([]);
    await waitFor(() => closes.length === 1, 5000, 'timeout after the pushes stop');
    expect(closes).toEqual(['idle-timeout']);
    client.destroy();
  });

  it('a client dribbling one byte at a time without finishing a frame is closed by frameTimeoutMs', async () => {
    const frameTimeoutMs = 500;
    const s = (server = await listen({ port: 0, workers: 1, framing: 'delimiter', frameTimeoutMs }));
    const closes: { reason: string; at: number }[] = [];
    s.on('close', (_id, reason) => closes.push({ reason, at: performance.now() }));
    const frames: string[] = [];
    s.on('data', (_id, data) => frames.push(Buffer.from(data).toString()));
    const dribbler = await connect(s.port);
    dribbler.on('error', () => {});
    const started = performance.now();
    const drip = setInterval(() => {
      if (!dribbler.destroyed) dribbler.write('x');
    }, 100);
    // A well-behaved neighbour finishing its frames is never closed.
    const neighbour = await connect(s.port);
    const chat = setInterval(() => neighbour.write('hello\n'), 100);
    try {
      await waitFor(() => closes.length === 1, 5000, 'the dribbler to be closed');
      expect(closes[0]!.reason).toBe('frame-timeout');
      const after = closes[0]!.at - started;
      expect(after).toBeGreaterThanOrEqual(frameTimeoutMs - 5);
      expect(after).toBeLessThanOrEqual(frameTimeoutMs + 3 * TimingWheel.tickFor(0, frameTimeoutMs) + SCHEDULING_MARGIN_MS);
      await new Promise((resolve) => setTimeout(resolve, frameTimeoutMs * 2));
      expect(closes.length).toBe(1);
      expect(frames.length).toBeGreaterThan(5);
    } finally {
      clearInterval(drip);
      clearInterval(chat);
      neighbour.destroy();
      dribbler.destroy();
    }
  });

  it('a client streaming frames whose reads end mid-frame is not closed by frameTimeoutMs', async () => {
    const frameTimeoutMs = 300;
    const s = (server = await listen({ port: 0, workers: 1, framing: 'length-prefix', frameTimeoutMs }));
    const closes: string[] = [];
    let frames = 0;
    s.on('data', () => frames++);
    s.on('close', (_id, reason) => closes.push(reason));
    const client = await connect(s.port);
    client.on('error', () => {});
    // 104-byte frames written 141 bytes at a time: almost every read leaves half a frame.
    const frame = Buffer.alloc(104, 7);
    frame.writeUInt32BE(100);
    const stream = Buffer.concat(Array.from({ length: 200 }, () => frame));
    let at = 0;
    const writer = setInterval(() => {
      if (at < stream.length) client.write(stream.subarray(at, (at += 141)));
    }, 10);
    try {
      await new Promise((resolve) => setTimeout(resolve, frameTimeoutMs * 4));
      expect(closes).toEqual([]);
      expect(frames).toBeGreaterThan(50);
    } finally {
      clearInterval(writer);
      client.destroy();
    }
  });
});
