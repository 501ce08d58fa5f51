// The Redis test helpers start real servers: check that they really answer,
// really restart empty on the same port, really die, and form a working cluster.

import { afterAll, describe, expect, it } from 'vitest';
import { type RedisClusterServers, type RedisServer, redisCli, startRedis, startRedisCluster } from '../helpers/redis.ts';

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startRedis', () => {
  const started: RedisServer[] = [];
  afterAll(async () => {
    await Promise.all(started.map((server) => server.stop()));
  });

  it('answers PING and keeps data; restart comes back empty on the same port', async () => {
    const server = await startRedis();
    started.push(server);
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(await redisCli(server.port, 'PING')).toBe('PONG');
    expect(await redisCli(server.port, 'SET', 'flamingo:k', 'v1')).toBe('OK');
    expect(await redisCli(server.port, 'GET', 'flamingo:k')).toBe('v1');

    const firstPid = server.pid;
    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    expect(processExists(firstPid)).toBe(false);
    expect(await redisCli(server.port, 'PING')).toBe('PONG');
    // Persistence is off, so nothing survives the restart.
    expect(await redisCli(server.port, 'EXISTS', 'flamingo:k')).toBe('0');
  });

  it('kill() really kills, and restart() after it answers again', async () => {
    const server = await startRedis();
    started.push(server);
    const pid = server.pid;
    await server.kill();
    expect(processExists(pid)).toBe(false);
    await expect(redisCli(server.port, 'PING')).rejects.toThrow(/Connection refused/);
    await server.restart();
    expect(await redisCli(server.port, 'PING')).toBe('PONG');
  });

  it('stop() ends the process; a given port is used as is', async () => {
    const first = await startRedis();
    started.push(first);
    const port = first.port;
    await first.stop();
    expect(processExists(first.pid)).toBe(false);
    const second = await startRedis({ port });
    started.push(second);
    expect(second.port).toBe(port);
    expect(await redisCli(port, 'PING')).toBe('PONG');
  });

  it('a start that fails says why, with the server output', async () => {
    const holder = await startRedis();
    started.push(holder);
    await expect(startRedis({ port: holder.port })).rejects.toThrow(/did not start[\s\S]*Address already in use/);
    expect(await redisCli(holder.port, 'PING')).toBe('PONG');
  });

  it('says how to install redis-server when it is not on PATH', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(startRedis()).rejects.toThrow('redis-server not found: install the Debian package redis-server (.ci/run does)');
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('startRedisCluster', () => {
  let cluster: RedisClusterServers | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });

  it('forms a 3-master cluster that is ok everywhere and routes keys with redis-cli -c', async () => {
    cluster = await startRedisCluster();
    expect(cluster.nodes).toHaveLength(3);
    expect(cluster.urls).toEqual(cluster.nodes.map((node) => `redis://127.0.0.1:${node.port}`));
    for (const node of cluster.nodes) {
      expect(node.port + 10_000).toBeLessThanOrEqual(65_535);
      const info = await redisCli(node.port, 'CLUSTER', 'INFO');
      expect(info).toContain('cluster_state:ok');
      expect(info).toContain('cluster_known_nodes:3');
      expect(info).toContain('cluster_slots_assigned:16384');
    }
    // Keys hashing to different slots land on different masters; -c follows the MOVED replies.
    const [a, b, c] = cluster.nodes.map((node) => node.port);
    for (let i = 0; i < 10; i++) expect(await redisCli(a!, '-c', 'SET', `flamingo:key${i}`, `v${i}`)).toBe('OK');
    for (let i = 0; i < 10; i++) expect(await redisCli(i % 2 ? b! : c!, '-c', 'GET', `flamingo:key${i}`)).toBe(`v${i}`);
    const perNode = await Promise.all(cluster.nodes.map(async (node) => Number(await redisCli(node.port, 'DBSIZE'))));
    expect(perNode.reduce((sum, n) => sum + n, 0)).toBe(10);
    expect(perNode.filter((n) => n > 0).length).toBeGreaterThan(1);
  });
});
