// Routing ids between processes through Redis: three node processes share
// one port (node 'auto' each), real clients spread over them by the kernel,
// and each process sends, sendMany()s and closes ids that live in the
// others. Every line is checked, in order, byte for byte; the routing
// counters must move by exactly the commands that crossed.

import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { type Server, listen } from '../../src/main/index.ts';
import {
  type ClusterNode,
  byNode,
  LINES,
  eventually,
  routingSnapshot,
  sendAcrossAndVerify,
  sleep,
  spawnNodes,
  stopAll,
  useNodeGroup,
} from '../helpers/cluster-nodes.ts';
import { redisCli, startRedis } from '../helpers/redis.ts';

describe('cluster routing: three processes on one port', () => {
  const group = useNodeGroup({ redis: startRedis, count: 3, cluster: { prefix: 'routing', leaseMs: 2000 }, clients: { initial: 60, perNode: 3 } });
  const { nodes, clients } = group;

  it('each process leased its own node number, and every client learned its id from the node it landed on', async () => {
    expect(new Set(group.numbers).size).toBe(3);
    for (const node of nodes) expect(await node.nodes()).toEqual([...group.numbers].sort((a, b) => a - b));
    const spread = byNode(clients);
    for (const n of group.numbers) expect(spread.get(n)?.length ?? 0).toBeGreaterThanOrEqual(3);
    // Each process echoes its own clients: local traffic never touches Redis.
    for (const client of clients.slice(0, 6)) client.socket.write(`ECHO ${client.id}\n`);
    await eventually(
      () => clients.slice(0, 6).every((c) => c.linesOf('ECHO').length === 1),
      5000,
      () => 'echoes',
    );
    for (const client of clients.slice(0, 6)) expect(client.linesOf('ECHO')).toEqual([`ECHO ${client.id}`]);
  });

  it('every process sends 200 numbered lines to every client of the other two: each arrives whole and in order, and the counters match', async () => {
    const before = await routingSnapshot(nodes);
    await sendAcrossAndVerify(nodes, clients, 'R');
    const spread = byNode(clients);
    const expectedOut = (node: number): number => LINES * clients.filter((c) => c.node !== node).length;
    // Received on node n: LINES from each of the two others, to each of its clients.
    const expectedIn = (node: number): number => 2 * LINES * spread.get(node)!.length;
    let after = before;
    await eventually(
      async () => {
        after = await routingSnapshot(nodes);
        return group.numbers.every((n) => after.get(n)!.routedOut - before.get(n)!.routedOut === expectedOut(n));
      },
      5000,
      () => `routedOut deltas ${group.numbers.map((n) => `${n}: ${after.get(n)!.routedOut - before.get(n)!.routedOut}/${expectedOut(n)}`).join(', ')}`,
    );
    for (const n of group.numbers) {
      const a = after.get(n)!;
      const b = before.get(n)!;
      expect(a.routedIn - b.routedIn, `routedIn on node ${n}`).toBe(expectedIn(n));
      expect(a.routedOutBytes).toBeGreaterThan(b.routedOutBytes);
      expect(a.routedInBytes).toBeGreaterThan(b.routedInBytes);
      expect({ undeliverable: a.undeliverable, dropped: a.dropped, invalid: a.invalid }, `node ${n}`).toEqual({ undeliverable: 0, dropped: 0, invalid: 0 });
      expect(a.lease).toBe('held');
    }
  });

  it('sendMany from one process over ids of all three nodes: each listed client gets exactly one copy, the others none', async () => {
    const spread = byNode(clients);
    // Leave out one client per node, to see that only the listed ids get it.
    const left = new Set(group.numbers.map((n) => spread.get(n)![0]!.id));
    const listed = clients.filter((c) => !left.has(c.id));
    for (const sender of nodes) {
      const before = await routingSnapshot(nodes);
      const line = `MANY from ${sender.node}`;
      expect(
        await sender.sendMany(
          listed.map((c) => c.id),
          `${line}\n`,
        ),
      ).toEqual({ accepted: 1, refused: 0, threw: {} });
      await eventually(
        () => listed.every((c) => c.linesOf(line).length >= 1),
        5000,
        () => `${listed.filter((c) => c.linesOf(line).length === 0).length} listed clients without the sendMany copy`,
      );
      // Time for a duplicate to show up, if there were one.
      await sleep(200);
      for (const client of listed) expect(client.linesOf(line), `client on node ${client.node}`).toEqual([line]);
      for (const client of clients.filter((c) => left.has(c.id))) expect(client.linesOf(line)).toEqual([]);
      // One entry per other node out, one entry in on each of them.
      let after = before;
      await eventually(
        async () => {
          after = await routingSnapshot(nodes);
          return after.get(sender.node)!.routedOut - before.get(sender.node)!.routedOut === 2;
        },
        5000,
        () => `routedOut on the sender moved by ${after.get(sender.node)!.routedOut - before.get(sender.node)!.routedOut}, not 2`,
      );
      for (const n of group.numbers.filter((n) => n !== sender.node)) expect(after.get(n)!.routedIn - before.get(n)!.routedIn, `routedIn on ${n}`).toBe(1);
    }
  });

  it('close(id) of another node’s id closes that client, after what was sent before it, and no other', async () => {
    const [sender, ...others] = nodes;
    const spread = byNode(clients);
    const victims = others.map((n) => spread.get(n.node)!.at(-1)!);
    const bystanders = group.numbers.map((n) => spread.get(n)![0]!);
    const before = await sender!.routing();
    for (const victim of victims) {
      expect(await sender!.send(victim.id, 'LAST WORDS\n')).toEqual({ accepted: 1, refused: 0, threw: {} });
      expect(await sender!.close(victim.id)).toEqual({ accepted: 1, refused: 0, threw: {} });
    }
    await eventually(
      () => victims.every((v) => v.closed),
      5000,
      () => `victims closed: ${victims.map((v) => v.closed).join(', ')}`,
    );
    for (const victim of victims) expect(victim.lines.at(-1)).toBe('LAST WORDS');
    await eventually(
      async () => (await sender!.routing()).routedOut - before.routedOut === 2 * victims.length,
      5000,
      () => 'routedOut for two sends and two closes',
    );
    // Everyone else is still connected and served.
    for (const client of bystanders) client.socket.write(`STILL ${client.id}\n`);
    await eventually(
      () => bystanders.every((c) => c.linesOf('STILL').length === 1),
      5000,
      () => 'bystander echoes',
    );
    expect(new Set(clients.filter((c) => c.closed).map((c) => c.id))).toEqual(new Set(victims.map((v) => v.id)));
  });
});

// Several processes of one application on one port, started together (the
// demo's --processes N, a supervisor starting its children) must all start.
// Each sharing server checks, as it starts, that no exclusive server holds
// the port by briefly binding the marker name an exclusive server would hold
// (src/main/port-claim.ts, refuseIfHeldExclusively); two sharers checking at
// the same moment then refuse each other. Servers in one process show it
// every time; processes, now and then (the cluster tests start their nodes
// one after another for that reason).
describe('sharePort: servers started at the same moment on one port', () => {
  it('all start, none refused as if the port were held exclusively', async () => {
    const started: Server[] = [];
    const refusals: string[] = [];
    try {
      const first = await listen({ host: '127.0.0.1', port: 0, sharePort: true, workers: 1 });
      started.push(first);
      for (let round = 0; round < 3; round++) {
        const results = await Promise.allSettled(Array.from({ length: 3 }, () => listen({ host: '127.0.0.1', port: first.port, sharePort: true, workers: 1 })));
        for (const result of results) {
          if (result.status === 'fulfilled') started.push(result.value);
          else refusals.push(String(result.reason));
        }
      }
    } finally {
      await Promise.all(started.map((server) => server.shutdown()));
    }
    expect(refusals.length, `listen() calls refused, the first with: ${refusals[0]}`).toBe(0);
    expect(started).toHaveLength(10);
  });
});

// A node's number is leased before its I/O workers start, and the lease is
// renewed only once the server has started (src/main/server.ts: NodeLease.take
// in Server.listen, the renewals from Router.start at the end of #start). A
// start that takes longer than leaseMs (many workers, a busy machine) lets
// the lease lapse meanwhile: the number is free for another process to take
// with node 'auto', and the other nodes may see this one go down and come
// back up. Redis reports each key that expires (keyspace notifications).
describe('a node’s lease while it starts', () => {
  it('never lapses, however long the workers take to start', async () => {
    const redis = await startRedis();
    const subscriber = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const nodes: ClusterNode[] = [];
    try {
      await redisCli(redis.port, 'CONFIG', 'SET', 'notify-keyspace-events', 'Ex');
      await subscriber.connect();
      const expired: string[] = [];
      subscriber.on('message', (_channel: string, key: string) => expired.push(key));
      await subscriber.subscribe('__keyevent@0__:expired');
      // Eight workers on this machine take well over a second to start.
      const [node] = await spawnNodes(1, { redis: redis.url, prefix: 'starting', leaseMs: 1000, workers: 8 }, nodes);
      await sleep(1000);
      expect(expired, `lease keys that expired while node ${node!.node} was alive`).toEqual([]);
      expect(Number(await redisCli(redis.port, 'PTTL', `{starting}:lease:${node!.node}`))).toBeGreaterThan(0);
    } finally {
      subscriber.disconnect();
      await stopAll(nodes);
      await redis.stop();
    }
  });
});
