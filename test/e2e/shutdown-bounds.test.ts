// What happens to the application's calls around shutdown: pending pulls
// settle with null, sends made once shutdown has begun are refused (false,
// counted), and after it every command throws ERR_FLAMINGO_SERVER_CLOSED.

import { describe, expect, it } from 'vitest';
import { listen } from '../../src/main/index.ts';
import { connectMany, waitFor } from '../helpers/clients.ts';

describe('around shutdown', () => {
  it('pending recvOpen, recvData and recvClose resolve with null once the server has shut down, and so do later pulls', async () => {
    const s = await listen({ port: 0, workers: 1 });
    const pending = [s.recvOpen(), s.recvData(), s.recvClose()];
    await s.shutdown();
    expect(await Promise.all(pending)).toEqual([null, null, null]);
    expect(await s.recvData()).toBeNull();
  });

  it('events queued before shutdown are still handed out before the nulls', async () => {
    const s = await listen({ port: 0, workers: 1 });
    const firstOpen = s.recvOpen();
    const [socket] = await connectMany(s.port, 1);
    const open = await firstOpen;
    expect(open).not.toBeNull();
    const closeQueued = s.recvClose();
    socket!.destroy();
    await s.shutdown();
    expect((await closeQueued)?.id).toBe(open!.id);
    expect(await s.recvClose()).toBeNull();
  });

  it('sends during shutdown return false and are counted in refusedSends; after it, commands throw ERR_FLAMINGO_SERVER_CLOSED', async () => {
    const s = await listen({ port: 0, workers: 2 });
    const ids: number[] = [];
    s.on('open', (id) => ids.push(id));
    const sockets = await connectMany(s.port, 4);
    await waitFor(() => ids.length === 4, 5000, 'opens');
    const shutdown = s.shutdown();
    expect(s.send(ids[0]!, 'late')).toBe(false);
    expect(s.sendMany(ids, 'late')).toBe(false);
    expect(s.close(ids[1]!)).toBe(false);
    expect(s.stats().refusedSends).toBe(3);
    await shutdown;
    expect(() => s.send(ids[0]!, 'after')).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_SERVER_CLOSED' }));
    expect(() => s.sendMany(ids, 'after')).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_SERVER_CLOSED' }));
    expect(() => s.close(ids[0]!)).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_SERVER_CLOSED' }));
    for (const socket of sockets) socket.destroy();
  });
});
