// close(id) flushes what was sent before it closes, but never waits without
// bound: a client that does not read is cut off after closeTimeoutMs, the
// close is reported with 'local', and the bytes it never took are counted.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { Received, waitFor } from '../helpers/clients.ts';

describe('closeTimeoutMs', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown({ drainMs: 1000 });
    server = undefined;
  });

  it('close(id) on a client that never reads completes after closeTimeoutMs with local, counting the abandoned bytes', async () => {
    const closeTimeoutMs = 400;
    const s = (server = await listen({ port: 0, workers: 1, closeTimeoutMs, maxBufferedBytes: 64 * 1024 * 1024 }));
    const closes: Array<{ reason: string; at: number }> = [];
    let id = -1;
    s.on('open', (opened) => {
      id = opened;
    });
    s.on('close', (_id, reason) => closes.push({ reason, at: performance.now() }));
    const client = net.connect({ port: s.port, host: '127.0.0.1' });
    client.on('error', () => {});
    client.pause();
    await waitFor(() => id >= 0, 5000, 'open');
    const payload = Buffer.alloc(16 * 1024 * 1024, 0x63);
    s.send(id, payload);
    const closedAt = performance.now();
    s.close(id);
    await waitFor(() => closes.length === 1, 10_000, 'the close event');
    expect(closes[0]!.reason).toBe('local');
    expect(closes[0]!.at - closedAt).toBeGreaterThanOrEqual(closeTimeoutMs - 5);
    const abandoned = s.stats().abandonedBytes;
    expect(abandoned).toBeGreaterThan(0);
    // Node counts a write as queued until all of it is taken, so this may include bytes the kernel held.
    expect(abandoned).toBeLessThanOrEqual(payload.length);
    client.destroy();
  });

  it('close(id) on a client that reads delivers everything sent before it, then FIN, well within closeTimeoutMs', async () => {
    const s = (server = await listen({ port: 0, workers: 1, closeTimeoutMs: 60_000, maxBufferedBytes: 8 * 1024 * 1024 }));
    const closes: string[] = [];
    let id = -1;
    s.on('open', (opened) => {
      id = opened;
    });
    s.on('close', (_id, reason) => closes.push(reason));
    const client = net.connect({ port: s.port, host: '127.0.0.1' });
    const received = new Received(client);
    await waitFor(() => id >= 0, 5000, 'open');
    const payload = Buffer.alloc(4 * 1024 * 1024, 0x64);
    s.send(id, payload);
    s.close(id);
    await received.until(payload.length);
    await waitFor(() => received.ended && closes.length === 1, 10_000, 'FIN and the close event');
    expect(received.bytes().equals(payload)).toBe(true);
    expect(closes).toEqual(['local']);
    expect(s.stats().abandonedBytes).toBe(0);
  });

  it('closeTimeoutMs is validated like every option', async () => {
    await expect(listen({ port: 0, closeTimeoutMs: 0 })).rejects.toMatchObject({
      code: 'ERR_FLAMINGO_INVALID_OPTION',
      message: expect.stringContaining('closeTimeoutMs'),
    });
  });
});
