// The worker's stash (events read while its event ring was full) stays
// within its documented bound, eventRingBytes plus one read plus the open
// events of connections accepted meanwhile, even when new connections keep
// arriving while it is over the limit.

import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { Received, connectMany, waitFor } from '../helpers/clients.ts';

/** One read of a socket: Node reads at most 64 KiB at a time. */
const ONE_READ = 64 * 1024;
/** The largest OPEN event payload: 8 bytes of ports and family, an address of at most 64 characters. */
const OPEN_EVENT_BYTES = 72;

function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('stash bound', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown({ drainMs: 1000 });
    server = undefined;
  });

  it('a flood into a slow consumer plus a wave of 1,000 new connections keeps every stash within eventRingBytes plus one read plus their opens', async () => {
    const eventRingBytes = 64 * 1024;
    const s = (server = await listen({ port: 0, workers: 2, eventRingBytes }));
    let bytes = 0;
    // A slow consumer: each data event costs the main thread 1 ms.
    s.on('data', (_id, data) => {
      bytes += data.length;
      busyFor(1);
    });
    const flooders = await connectMany(s.port, 20);
    const chunk = Buffer.alloc(ONE_READ, 0x61);
    const flooding = setInterval(() => {
      for (const socket of flooders) if (socket.writableLength < 4 * ONE_READ) socket.write(chunk);
    }, 5);
    const wave: Received[] = [];
    try {
      await waitFor(() => s.stats().pausedReads > 0, 10_000, 'the event ring to fill');
      // New connections arrive while the workers are over their limit, each
      // with a read's worth of data ready at once.
      const newcomers = await connectMany(s.port, 1000, 100);
      for (const socket of newcomers) {
        wave.push(new Received(socket));
        socket.write(chunk);
      }
      await new Promise((resolve) => setTimeout(resolve, 1500));
      for (const worker of s.stats().workers) {
        expect(worker.stashHighWater, `worker ${worker.worker}`).toBeGreaterThan(0);
        expect(worker.stashHighWater, `worker ${worker.worker}`).toBeLessThanOrEqual(eventRingBytes + ONE_READ + newcomers.length * OPEN_EVENT_BYTES);
      }
      for (const socket of newcomers) socket.destroy();
    } finally {
      clearInterval(flooding);
      for (const socket of flooders) socket.destroy();
    }
    expect(bytes).toBeGreaterThan(0);
  });
});
