import { afterEach, describe, expect, it } from 'vitest';
import { type Server, formatId, listen } from '../../src/main/index.ts';
import { Received, connectMany, holdInChild, waitFor } from '../helpers/clients.ts';

describe('connection queries', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it("an open id's details are right; a closed id gives null, not an error from another thread", async () => {
    const s = (server = await listen({ port: 0, workers: 2 }));
    const idByPort = new Map<number, number>();
    s.on('open', (id, info) => idByPort.set(info.port, id));
    s.on('data', (id, data) => s.send(id, data));
    const [socket] = await connectMany(s.port, 1);
    const received = new Received(socket!);
    await waitFor(() => idByPort.size === 1, 5000, 'open');
    const id = idByPort.get(socket!.localPort!)!;
    socket!.write('0123456789');
    await received.until(10);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const info = await s.connection(id);
    expect(info).toMatchObject({
      id,
      address: '127.0.0.1',
      port: socket!.localPort,
      family: 4,
      localPort: s.port,
      bytesIn: 10,
      bytesOut: 10,
      bufferedBytes: 0,
    });
    expect(info!.worker).toBe(Math.floor(id / 2 ** 39) % 64);
    expect(info!.ageMs).toBeGreaterThanOrEqual(0);
    expect(info!.ageMs).toBeLessThan(60_000);
    socket!.destroy();
    await waitFor(() => s.stats().connections === 0, 5000, 'close');
    expect(await s.connection(id)).toBeNull();
    // A well-formed id that never existed: also null.
    expect(await s.connection(id + 1)).toBeNull();
    // Garbage is refused at the call, with the id helpers' error.
    await expect(s.connection(-1)).rejects.toMatchObject({ code: 'ERR_FLAMINGO_INVALID_ID' });
    expect(formatId(id)).toBe(String(id));
  });

  it('paging through the ids of a worker with 10,000 connections yields each exactly once', async () => {
    const s = (server = await listen({ port: 0, workers: 1 }));
    const opened = new Set<number>();
    s.on('open', (id) => opened.add(id));
    // The clients live in another process: 10,000 of them beside 10,000 server sockets would pass this process's file limit.
    const clients = await holdInChild(s.port, 10_000);
    await waitFor(() => opened.size === 10_000, 20_000, '10,000 opens');
    const seen = new Set<number>();
    let pages = 0;
    let cursor: number | null = 0;
    while (cursor !== null) {
      const page: { ids: number[]; next: number | null } = await s.ids(0, { cursor, limit: 777 });
      for (const id of page.ids) {
        expect(seen.has(id)).toBe(false);
        seen.add(id);
      }
      expect(page.ids.length).toBeLessThanOrEqual(777);
      cursor = page.next;
      pages++;
    }
    expect(seen).toEqual(opened);
    expect(pages).toBeGreaterThanOrEqual(13);
    // The iterator over every worker gives the same set.
    const all = new Set<number>();
    for await (const page of s.openIds(2000)) for (const id of page) all.add(id);
    expect(all).toEqual(opened);
    await expect(s.ids(3)).rejects.toMatchObject({ code: 'ERR_FLAMINGO_INVALID_ID' });
    await clients.release();
  });
});
