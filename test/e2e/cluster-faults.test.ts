// Faults under the routing layer, with real processes and a real Redis:
// Redis killed and started again empty on the same port; a node SIGKILLed;
// Redis away while a burst larger than routeBufferBytes is routed. In every
// case local traffic goes on, nothing routed is lost without being counted,
// and routing comes back by itself.

import { describe, expect, it } from 'vitest';
import type { RoutingStats } from '../../src/main/cluster/routing-stats.ts';
import {
  type ClusterNode,
  type LineClient,
  type Subscription,
  byNode,
  eventually,
  nodeChannelSubscribers,
  numberedLine,
  publishAndVerify,
  sendAcrossAndVerify,
  shardSubscribers,
  sleep,
  subscribeAll,
  untilNodesAgree,
  untilSubscriptionsSettle,
  useNodeGroup,
} from '../helpers/cluster-nodes.ts';
import { redisCli, startRedis } from '../helpers/redis.ts';

/** Where lease timing is what is tested. */
const LEASE_MS = 1000;
/**
 * Where it is not: a longer lease, so that a node starved of CPU for a moment
 * (two cores, several processes) is not rightly declared down mid-test.
 */
const CALM_LEASE_MS = 2000;

/** Until every node in `nodes` has reported a routeError (ERR_FLAMINGO_CLUSTER) at or after `since`. */
async function untilRouteErrors(nodes: ClusterNode[], since: number): Promise<void> {
  await eventually(
    () => nodes.every((n) => n.events.some((e) => e.event === 'routeError' && e.at >= since)),
    5000,
    () => `routeError reported by ${nodes.filter((n) => n.events.some((e) => e.event === 'routeError' && e.at >= since)).length} of ${nodes.length} nodes`,
  );
  for (const node of nodes) {
    const error = node.events.find((e) => e.event === 'routeError' && e.at >= since)!;
    expect(error.event === 'routeError' && error.code).toBe('ERR_FLAMINGO_CLUSTER');
  }
}

/** Sends "<tag> <k>" from `from` to `to` every 100 ms until one arrives; bounded. */
async function untilRouted(from: ClusterNode, to: LineClient, tag: string, timeoutMs = 10_000): Promise<void> {
  let k = 0;
  await eventually(
    async () => {
      if (to.linesOf(tag).length > 0) return true;
      await from.send(to.id, `${tag} ${k++}\n`);
      await sleep(80);
      return to.linesOf(tag).length > 0;
    },
    timeoutMs,
    () => `no ${tag} from node ${from.node} reached a client of node ${to.node} after ${k} tries`,
  );
}

/** Echo through the client's own node: local traffic, no Redis involved. */
async function expectEcho(clients: LineClient[], tag: string): Promise<void> {
  for (const client of clients) client.socket.write(`${tag} ${client.id}\n`);
  await eventually(
    () => clients.every((c) => c.linesOf(tag).length === 1),
    5000,
    () => `${tag} echoes: ${clients.map((c) => c.linesOf(tag).length).join(',')}`,
  );
  for (const client of clients) expect(client.linesOf(tag)).toEqual([`${tag} ${client.id}`]);
}

function delta(after: RoutingStats, before: RoutingStats, field: 'routedOut' | 'undeliverable' | 'dropped' | 'routedIn'): number {
  return after[field] - before[field];
}

describe('Redis killed and started again, empty, on the same port', () => {
  const PREFIX = 'restart';
  let news: Subscription[] = [];
  const group = useNodeGroup(
    { redis: startRedis, count: 3, cluster: { prefix: PREFIX, leaseMs: CALM_LEASE_MS }, clients: { initial: 30, perNode: 3 } },
    async ({ nodes, clients, redisPorts }) => {
      const spread = byNode(clients);
      news = nodes.map((node) => ({ client: spread.get(node.node)![0]!, topic: 'news', via: node }));
      await subscribeAll(nodes, news);
      await untilSubscriptionsSettle(nodes, news, redisPorts, PREFIX, ['news']);
    },
  );
  const { nodes, clients } = group;

  it('serves locally while Redis is down, counts every routed send, and resumes routing and topics by itself once Redis is back', async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const spread = byNode(clients);
    const bClient = spread.get(b.node)![1]!;
    const aClient = spread.get(a.node)![1]!;
    const pids = nodes.map((n) => n.pid);
    await untilRouted(a, bClient, 'BEFORE');

    const killedAt = Date.now();
    await group.redis.kill();
    await untilRouteErrors(nodes, killedAt);
    const down = new Map((await Promise.all(nodes.map((n) => n.routing()))).map((s) => [s.node, s]));

    // Local traffic goes on: echoes, a send to an id of the same node, a publish's local share.
    await expectEcho(
      nodes.map((n) => spread.get(n.node)![2] ?? spread.get(n.node)![0]!),
      'ECHO-DOWN',
    );
    expect(await a.send(aClient.id, 'LOCAL-DOWN\n')).toEqual({ accepted: 1, refused: 0, threw: {} });
    await eventually(
      () => aClient.linesOf('LOCAL-DOWN').length === 1,
      5000,
      () => 'local send while Redis is down',
    );
    // (From the third node, so that the first one's counters count only its routed sends below.)
    expect(await c.publish([['news', 'NEWS-DOWN\n']])).toEqual({ accepted: 1, refused: 0, threw: {} });
    await eventually(
      () => news[2]!.client.linesOf('NEWS-DOWN').length === 1,
      5000,
      () => 'local share of a publish while Redis is down',
    );

    // Routed sends while Redis is away: each one a message of its own, held (or dropped) and counted.
    const DOWN_LINES = 20;
    expect(await a.sendLines([bClient.id], 'DOWN', DOWN_LINES, 1)).toEqual({ accepted: DOWN_LINES, refused: 0, threw: {} });
    // Stay down past a whole lease: nobody may be declared down for an outage of Redis itself.
    await sleep(CALM_LEASE_MS + 500 - (Date.now() - killedAt));

    await group.redis.restart();
    const restartedAt = Date.now();
    // Every node's channel and the topic's channels are subscribed again, with no process restarted.
    await eventually(
      async () => (await Promise.all(nodes.map((n) => nodeChannelSubscribers(group.redisPorts, PREFIX, n.node)))).every((count) => count === 1),
      10_000,
      () => 'node channels subscribed again',
    );
    await eventually(
      async () => (await shardSubscribers(group.redisPorts, PREFIX, 'news')) === 3,
      10_000,
      () => 'topic channel subscribed again by all three nodes',
    );
    // Every send made while Redis was away is accounted for, exactly once: delivered,
    // undeliverable (published before b listened again) or dropped.
    const sa = down.get(a.node)!;
    let now = sa;
    await eventually(
      async () => {
        now = await a.routing();
        return delta(now, sa, 'routedOut') + delta(now, sa, 'undeliverable') + delta(now, sa, 'dropped') >= DOWN_LINES;
      },
      10_000,
      () => `node ${a.node}'s counters: ${JSON.stringify(now)}, when Redis went down: ${JSON.stringify(sa)}`,
    );
    await sleep(100);
    now = await a.routing();
    expect(delta(now, sa, 'routedOut') + delta(now, sa, 'undeliverable') + delta(now, sa, 'dropped')).toBe(DOWN_LINES);
    // The client got exactly the delivered ones, in order: a tail of the run (those published once b listened).
    await eventually(
      () => bClient.linesOf('DOWN').length >= delta(now, sa, 'routedOut'),
      5000,
      () => `${bClient.linesOf('DOWN').length} DOWN lines arrived; ${delta(now, sa, 'routedOut')} were delivered`,
    );
    const received = bClient.linesOf('DOWN');
    expect(received.length).toBe(delta(now, sa, 'routedOut'));
    const expected = Array.from({ length: DOWN_LINES }, (_, i) => numberedLine('DOWN', i).slice(0, -1));
    expect(received).toEqual(expected.slice(DOWN_LINES - received.length));

    await untilNodesAgree(
      nodes,
      nodes.map((n) => n.node),
    );
    await untilRouted(a, bClient, 'AFTER');
    expect(Date.now() - restartedAt).toBeLessThan(10_000);
    const after = new Map((await Promise.all(nodes.map((n) => n.routing()))).map((s) => [s.node, s]));

    for (const node of nodes) {
      const stats = after.get(node.node)!;
      expect(stats.redisReconnects, `redisReconnects on ${node.node}`).toBeGreaterThanOrEqual(1);
      expect(stats.lease).toBe('held');
      expect(node.running).toBe(true);
      expect(stats.invalid).toBe(0);
      expect(
        node.events.filter((e) => e.event === 'nodeDown' && e.at >= killedAt),
        `nodeDown on node ${node.node} for an outage of Redis`,
      ).toEqual([]);
    }
    expect(nodes.map((n) => n.pid)).toEqual(pids);

    // Routing and topics are whole again: numbered runs between all three, publishes from all three.
    await sendAcrossAndVerify(nodes, clients, 'AGAIN');
    await publishAndVerify(nodes, news, ['news'], 'N', 3);
    await expectEcho(
      nodes.map((n) => spread.get(n.node)![0]!),
      'ECHO-UP',
    );
  });
});

describe('a node SIGKILLed', () => {
  const PREFIX = 'killed';
  const { nodes, clients } = useNodeGroup({
    redis: startRedis,
    count: 3,
    cluster: { prefix: PREFIX, leaseMs: LEASE_MS },
    clients: { initial: 30, perNode: 3 },
  });

  it('the others serve on, emit nodeDown for it after about leaseMs, stop listing it, and count sends to its ids as undeliverable', async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const spread = byNode(clients);
    const cClients = spread.get(c.node)!;
    const bClient = spread.get(b.node)![0]!;
    const survivors = [a, b];
    const news: Subscription[] = survivors.map((n) => ({ client: spread.get(n.node)![0]!, topic: 'news', via: n }));
    await subscribeAll(survivors, news);
    await untilRouted(a, cClients[0]!, 'ALIVE');

    const killedAt = Date.now();
    await c.kill();
    await eventually(
      () => cClients.every((client) => client.closed),
      5000,
      () => 'the killed node’s clients see their connections end',
    );

    // Before its lease lapses: published to a channel nobody listens on any more, counted undeliverable.
    await sleep(100);
    const early = await a.routing();
    expect(await a.send(cClients[0]!.id, 'EARLY\n')).toEqual({ accepted: 1, refused: 0, threw: {} });
    await eventually(
      async () => (await a.routing()).undeliverable - early.undeliverable === 1,
      5000,
      () => 'a send to the dead node’s id, before nodeDown, counted undeliverable',
    );

    await eventually(
      () => survivors.every((n) => n.events.some((e) => e.event === 'nodeDown' && e.node === c.node && e.at >= killedAt)),
      6000,
      () => 'nodeDown on both survivors',
    );
    for (const node of survivors) {
      // (Only those after the kill: a node's lease can lapse while it starts, see the lease test in cluster-routing.test.ts.)
      const event = node.events.find((e) => e.event === 'nodeDown' && e.node === c.node && e.at >= killedAt)!;
      const after = event.event === 'nodeDown' ? event.at - killedAt : -1;
      // The lease lives up to leaseMs past its last renewal, and a node is down once unseen for leaseMs.
      expect(after, `nodeDown on ${node.node}, ms after the kill`).toBeGreaterThanOrEqual(0.8 * LEASE_MS);
      expect(after).toBeLessThan(5 * LEASE_MS);
    }
    const alive = [a.node, b.node].sort((x, y) => x - y);
    for (const node of survivors) expect(await node.nodes()).toEqual(alive);

    // Once down: refused at once (false), counted, never thrown.
    const before = await a.routing();
    expect(await a.send(cClients[0]!.id, 'GONE\n')).toEqual({ accepted: 0, refused: 1, threw: {} });
    expect(await a.close(cClients[1]!.id)).toEqual({ accepted: 0, refused: 1, threw: {} });
    expect(await a.subscribe([[cClients[0]!.id, 'news']])).toEqual([false]);
    const many = [...cClients.map((client) => client.id), bClient.id];
    expect(await a.sendMany(many, 'MANY-AFTER\n')).toEqual({ accepted: 0, refused: 1, threw: {} });
    const counted = await a.routing();
    expect(counted.undeliverable - before.undeliverable).toBe(3 + cClients.length);
    expect(counted.dropped).toBe(before.dropped);
    // The live part of that sendMany still went out.
    await eventually(
      () => bClient.linesOf('MANY-AFTER').length === 1,
      5000,
      () => 'the live node’s share of a sendMany that named dead ids',
    );

    // The survivors serve on: echo, routing between them, topics.
    await expectEcho([spread.get(a.node)![1]!, spread.get(b.node)![1]!], 'ECHO');
    await sendAcrossAndVerify(
      survivors,
      clients.filter((client) => client.node !== c.node),
      'SURVIVE',
    );
    await publishAndVerify(survivors, news, ['news'], 'N', 3);
    for (const node of survivors) {
      expect(node.events.filter((e) => e.event === 'nodeDown' && e.at >= killedAt).map((e) => e.event === 'nodeDown' && e.node)).toEqual([c.node]);
      expect(node.running).toBe(true);
    }
  });
});

describe('routeBufferBytes while Redis is away', () => {
  const PREFIX = 'buffer';
  const BUFFER = 4096;
  const group = useNodeGroup({
    redis: startRedis,
    count: 2,
    cluster: { prefix: PREFIX, leaseMs: LEASE_MS, routeBufferBytes: BUFFER },
    clients: { initial: 10, perNode: 2 },
  });
  const { nodes, clients } = group;

  it('a burst larger than the buffer is dropped and counted, memory stays flat, and no more than the buffer’s worth arrives late', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const target = byNode(clients).get(b.node)![0]!;
    await untilRouted(a, target, 'BEFORE');

    const killedAt = Date.now();
    await group.redis.kill();
    await untilRouteErrors(nodes, killedAt);
    await sleep(100);
    const before = await a.stats();

    // 100 short lines, one message each: the first few fit the buffer, the rest are dropped.
    const LATE = 100;
    expect(await a.sendLines([target.id], 'LATE', LATE, 1)).toEqual({ accepted: LATE, refused: 0, threw: {} });
    const afterLate = await a.stats();
    const droppedLate = afterLate.routing.dropped - before.routing.dropped;
    // How many could be held: a message carries its line and some framing (here, at most 64 bytes of it).
    const sizes = Array.from({ length: LATE }, (_, i) => numberedLine('LATE', i).length);
    const heldCount = (overhead: number): number => {
      let held = 0;
      let count = 0;
      for (const size of sizes) {
        if (held + size + overhead <= BUFFER) {
          held += size + overhead;
          count++;
        }
      }
      return count;
    };
    expect(droppedLate).toBeGreaterThan(0);
    expect(droppedLate).toBeGreaterThanOrEqual(LATE - heldCount(0));
    expect(droppedLate).toBeLessThanOrEqual(LATE - heldCount(64));

    // 32 MiB more, in 128 KiB sends: none can be held, all are dropped, and the process does not grow.
    const BULK = 256;
    expect(await a.sendRepeated(target.id, 128 * 1024, BULK, 4)).toEqual({ accepted: BULK, refused: 0, threw: {} });
    const afterBulk = await a.stats();
    expect(afterBulk.routing.dropped - afterLate.routing.dropped).toBe(BULK);
    const held = (s: typeof before): number => s.memory.heapUsed + s.memory.external;
    expect(held(afterBulk) - held(before), 'heap + external bytes after a 32 MiB burst with Redis away').toBeLessThan(8 * 1024 * 1024);

    await group.redis.restart();
    await eventually(
      async () => (await nodeChannelSubscribers(group.redisPorts, PREFIX, b.node)) === 1,
      10_000,
      () => 'node channel subscribed again',
    );
    // Everything is accounted for, once: what was held went out (delivered, or undeliverable
    // if published before b listened again), the rest was dropped.
    const sent = LATE + BULK;
    const was = before.routing;
    let now = afterBulk.routing;
    const accounted = (): number => delta(now, was, 'routedOut') + delta(now, was, 'undeliverable') + delta(now, was, 'dropped');
    await eventually(
      async () => {
        now = await a.routing();
        return accounted() >= sent;
      },
      10_000,
      () => `counters since Redis went away: ${JSON.stringify(now)} vs ${JSON.stringify(was)}`,
    );
    await sleep(100);
    now = await a.routing();
    expect(accounted()).toBe(sent);
    expect(delta(now, was, 'dropped')).toBe(droppedLate + BULK);
    await eventually(
      () => target.linesOf('LATE').length >= delta(now, was, 'routedOut'),
      5000,
      () => `${target.linesOf('LATE').length} late lines arrived; ${delta(now, was, 'routedOut')} were delivered`,
    );
    await untilRouted(a, target, 'AFTER');
    const late = target.linesOf('LATE');
    const expected = Array.from({ length: LATE }, (_, i) => numberedLine('LATE', i).slice(0, -1));
    // The late ones came in order, each once, and no more than the buffer held.
    expect(late.every((line, i) => i === 0 || expected.indexOf(line) > expected.indexOf(late[i - 1]!))).toBe(true);
    expect(late.every((line) => expected.includes(line))).toBe(true);
    expect(late.length).toBe(delta(now, was, 'routedOut'));
    expect(late.length).toBeLessThanOrEqual(LATE - droppedLate);
    expect(late.reduce((sum, line) => sum + line.length + 1, 0)).toBeLessThanOrEqual(BUFFER);
    expect(target.lines.some((line) => line.startsWith('BB'))).toBe(false);
    expect((await a.routing()).redisReconnects).toBeGreaterThanOrEqual(1);
  });
});

describe('connections to Redis dropped with commands in flight, Redis itself up', () => {
  const PREFIX = 'inflight';
  const group = useNodeGroup({ redis: startRedis, count: 2, cluster: { prefix: PREFIX, leaseMs: LEASE_MS }, clients: { initial: 10, perNode: 2 } });
  const { nodes, clients } = group;

  // A Redis that closes a client's connection (CLIENT KILL, its `timeout`, a proxy or
  // failover in between) while it stays reachable: the node reconnects at once. What was
  // in flight on the old connection (a publish, the lease's renewal) must settle
  // (lost, and counted), not hang: else the publish is never accounted for and its bytes
  // stay counted against routeBufferBytes, and the lease is never renewed again.
  it('a routed send in flight is counted as dropped, the leases stay renewed, and nobody is declared down', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const target = byNode(clients).get(b.node)![0]!;
    await untilRouted(a, target, 'BEFORE');
    const was = await a.routing();

    // Hold every write (SPUBLISH, the lease's EVAL) in Redis, so they are in flight when the connections go.
    const pausedAt = Date.now();
    await redisCli(group.redis.port, 'CLIENT', 'PAUSE', '2000', 'WRITE');
    expect(await a.send(target.id, 'STUCK\n')).toEqual({ accepted: 1, refused: 0, threw: {} });
    // Long enough for each node's lease renewal (every leaseMs / 3) to be held up too.
    await sleep(LEASE_MS / 2);
    const killed = Number(await redisCli(group.redis.port, 'CLIENT', 'KILL', 'TYPE', 'normal'));
    expect(killed).toBeGreaterThanOrEqual(2);
    await redisCli(group.redis.port, 'CLIENT', 'UNPAUSE');

    // Soft checks from here: each failure is reported, and the ones after it still run.
    let now = was;
    const accounted = (): number => delta(now, was, 'routedOut') + delta(now, was, 'undeliverable') + delta(now, was, 'dropped');
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      now = await a.routing();
      if (accounted() >= 1) break;
      await sleep(50);
    }
    expect.soft(accounted(), `the send in flight, accounted for (routedOut + undeliverable + dropped): ${JSON.stringify(now)}`).toBe(1);
    expect.soft(delta(now, was, 'dropped'), 'the send lost in flight, as dropped').toBe(1);
    expect(target.linesOf('STUCK')).toEqual([]);

    // Three leases later both nodes still hold theirs, renewed all along.
    await sleep(3 * LEASE_MS);
    for (const node of nodes) {
      const ttl = Number(await redisCli(group.redis.port, 'PTTL', `{${PREFIX}}:lease:${node.node}`));
      expect.soft(ttl, `node ${node.node}'s lease key PTTL (-2: gone, the lease no longer renewed)`).toBeGreaterThan(0);
      expect.soft(node.events.filter((e) => e.event === 'nodeDown' && e.at >= pausedAt)).toEqual([]);
    }
    await untilNodesAgree(
      nodes,
      nodes.map((n) => n.node),
      1000,
    );
    await untilRouted(a, target, 'AFTER', 5000);
  });
});
