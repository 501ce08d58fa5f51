// The pub/sub example as three processes on one port (--processes 3),
// routed through a real redis-server: 1,000 subscribers spread by the
// kernel over the processes, channel and pattern subscribers both, and a
// publisher on every process; every subscriber gets every message exactly
// once, each publisher's in order, whichever process it and the publisher
// are on. PUBLISH counts the receivers on the publisher's own process.
// SIGTERM to the supervisor stops all three.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/clients.ts';
import { type Client, checkRuns, closeClients, connectClient, connectClients } from '../helpers/pubsub-clients.ts';
import { PubSubExample } from '../helpers/pubsub-example.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';

const PROCESSES = 3;
const SUBSCRIBERS = 1000;
const MESSAGES = 40;

let redis: RedisServer;
let group: PubSubExample | undefined;
const clients: Client[] = [];

beforeAll(async () => {
  redis = await startRedis();
  group = await PubSubExample.startGroup(PROCESSES, redis.url, `pubsub-${process.pid}`);
});

afterAll(async () => {
  await closeClients(clients);
  if (group !== undefined && group.child.exitCode === null) await group.stop();
  await redis?.stop();
});

/** A client on each process: connects more (bounded) until every node has one. */
async function onEveryNode(port: number, nodes: number[]): Promise<Client[]> {
  const found = new Map<number, Client>();
  for (let i = 0; i < 60 && found.size < nodes.length; i++) {
    const client = await connectClient(i % 2 === 0 ? 'ioredis' : 'node-redis', port, 3);
    clients.push(client);
    if (!found.has(client.node)) found.set(client.node, client);
  }
  expect([...found.keys()].sort()).toEqual([...nodes].sort());
  return nodes.map((node) => found.get(node)!);
}

describe('the pub/sub example on three processes through Redis', () => {
  it(`${SUBSCRIBERS} subscribers on every process get each publisher's messages exactly once, in order, and PUBLISH counts its own process's receivers`, async () => {
    const port = group!.port;
    const nodes = group!.children().map((c) => c.node);
    expect(new Set(nodes).size).toBe(PROCESSES);

    const subscribers = await connectClients(port, SUBSCRIBERS);
    clients.push(...subscribers);
    for (const node of nodes) expect(subscribers.filter((s) => s.node === node).length, `subscribers on node ${node}`).toBeGreaterThan(100);
    const onChannel = subscribers.filter((_, i) => i % 2 === 0);
    const onPattern = subscribers.filter((_, i) => i % 2 === 1);
    await Promise.all([...onChannel.map((s) => s.subscribe('ticker')), ...onPattern.map((s) => s.psubscribe('tick*'))]);

    const publishers = await onEveryNode(port, nodes);
    const names = publishers.map((p) => `n${p.node}`);
    const counts = await Promise.all(
      publishers.map((p, i) => Promise.all(Array.from({ length: MESSAGES }, (_, n) => p.publish('ticker', `${names[i]}:${n}`)))),
    );
    // What PUBLISH counts: the channel's subscribers and the matching patterns on the publisher's process only.
    publishers.forEach((p, i) => {
      const local = subscribers.filter((s) => s.node === p.node).length;
      expect(new Set(counts[i]), `PUBLISH replies on node ${p.node}`).toEqual(new Set([local]));
    });

    const received = (s: Client): string[] => (onChannel.includes(s) ? s.messages : s.pmessages);
    const total = publishers.length * MESSAGES;
    await waitFor(
      () => subscribers.every((s) => received(s).length >= total),
      30_000,
      `every subscriber's ${total} messages (short: ${subscribers.filter((s) => received(s).length < total).length})`,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const s of onChannel) {
      expect(s.pmessages).toEqual([]);
      expect(
        checkRuns(
          s.messages.map((m) => m.replace(/^ticker /, '')),
          names,
          MESSAGES,
        ),
        `${s.label} on node ${s.node}`,
      ).toBeUndefined();
    }
    for (const s of onPattern) {
      expect(s.messages).toEqual([]);
      expect(
        checkRuns(
          s.pmessages.map((m) => m.replace(/^tick\* ticker /, '')),
          names,
          MESSAGES,
        ),
        `${s.label} on node ${s.node}`,
      ).toBeUndefined();
    }
    expect(clients.flatMap((c) => c.errors)).toEqual([]);
  });

  it('a subscriber that unsubscribes gets nothing more, from any process; SIGTERM stops every process', async () => {
    const port = group!.port;
    const nodes = group!.children().map((c) => c.node);
    const publishers = await onEveryNode(port, nodes);
    const subscribers = await onEveryNode(port, nodes);
    await Promise.all(subscribers.map((s) => s.subscribe('late')));
    for (const p of publishers) expect(await p.publish('late', `before-${p.node}`)).toBe(1);
    await waitFor(() => subscribers.every((s) => s.messages.length === nodes.length), 10_000, 'one message from each process');
    await Promise.all(subscribers.map((s) => s.unsubscribe('late')));
    for (const p of publishers) expect(await p.publish('late', `after-${p.node}`)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const s of subscribers) expect(s.messages.sort()).toEqual(publishers.map((p) => `late before-${p.node}`).sort());

    await closeClients(clients);
    const exit = await group!.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(group!.output).toMatch(/^all children stopped$/m);
  });
});
