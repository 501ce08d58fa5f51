// Ids outlive processes: a server started again with the same node number
// never hands out an id its earlier run handed out, so an id an application
// kept (in Redis, in a log) cannot reach a stranger's connection. Without
// Redis the clock sets where generations start; with it, the node's
// generation record does, even after a run that was killed outright.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, decodeId, listen } from '../../src/main/index.ts';
import { Received, closeAll, connectMany, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';
import { type RedisServer, redisCli, startRedis } from '../helpers/redis.ts';

async function openIds(server: Server, count: number): Promise<{ ids: number[]; sockets: Awaited<ReturnType<typeof connectMany>> }> {
  const recorder = new EventRecorder(server);
  const sockets = await connectMany(server.port, count);
  await waitFor(() => recorder.opened.size === count, 10_000, 'opens');
  return { ids: [...recorder.opened], sockets };
}

describe('ids outlive processes', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('without Redis, a server started a second later gives out none of the ids of the one before', async () => {
    const first = await listen({ port: 0, workers: 2, node: 1 });
    const a = await openIds(first, 50);
    await closeAll(a.sockets);
    await first.shutdown();
    const second = Math.floor(Date.now() / 1000) + 1;
    await new Promise((resolve) => setTimeout(resolve, second * 1000 - Date.now() + 10));
    const next = await listen({ port: 0, workers: 2, node: 1 });
    try {
      const b = await openIds(next, 50);
      expect(b.ids.filter((id) => a.ids.includes(id))).toEqual([]);
      await closeAll(b.sockets);
    } finally {
      await next.shutdown();
    }
  });

  it('with Redis, a restarted node gives out none of its earlier ids, and a send to an old id is stale, reaching nobody', async () => {
    const cluster = { redis: redis.url, prefix: 'ids1', leaseMs: 1000 };
    const first = await listen({ port: 0, workers: 2, node: 7, cluster });
    const a = await openIds(first, 60);
    await closeAll(a.sockets);
    await first.shutdown();
    expect(Number(await redisCli(redis.port, 'GET', '{ids1}:gen:7'))).toBeGreaterThan(0);
    // At once: no waiting for a clock tick, the record in Redis is what counts.
    const next = await listen({ port: 0, workers: 2, node: 7, cluster });
    try {
      const b = await openIds(next, 60);
      expect(b.ids.every((id) => decodeId(id).node === 7)).toBe(true);
      expect(b.ids.filter((id) => a.ids.includes(id))).toEqual([]);
      const received = b.sockets.map((socket) => new Received(socket));
      for (const id of a.ids) next.send(id, 'for a stranger');
      await waitFor(() => next.stats().staleSends === a.ids.length, 5000, 'stale sends counted');
      for (const id of b.ids) next.send(id, '!');
      await Promise.all(received.map((r) => r.until(1)));
      for (const r of received) expect(r.bytes().toString()).toBe('!');
      await closeAll(b.sockets);
    } finally {
      await next.shutdown();
    }
  });

  it('with Redis, a node killed outright (no shutdown) is followed by a run that repeats none of its ids', async () => {
    const child = spawn(process.execPath, ['test/helpers/id-child.ts', redis.url, '9', '40'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += chunk;
      });
      await waitFor(() => out.includes('\n'), 20_000, 'the child to report its ids');
      const killed: number[] = JSON.parse(out).ids;
      expect(killed.length).toBe(80);
      child.kill('SIGKILL');
      await once(child, 'exit');
      // node 9's lease is still held by the dead run for up to leaseMs: listen waits for it.
      const next = await listen({ port: 0, workers: 2, node: 9, cluster: { redis: redis.url, leaseMs: 1000 } });
      try {
        const b = await openIds(next, 80);
        expect(b.ids.filter((id) => killed.includes(id))).toEqual([]);
        await closeAll(b.sockets);
      } finally {
        await next.shutdown();
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});
