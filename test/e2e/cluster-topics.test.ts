// Topics across processes: 300 connections over three node processes on
// one port, each subscribed to one of 10 topics, some through another node
// (which forwards the subscription to the id's own node). Publishes from
// every process reach every subscriber exactly once; a node listens on a
// topic's Redis channel only while one of its own connections is
// subscribed; unsubscribe() and a connection's close stop delivery.

import { describe, expect, it } from 'vitest';
import {
  type ClusterNode,
  type Subscription,
  byNode,
  eventually,
  publishAndVerify,
  routingSnapshot,
  shardSubscribers,
  subscribeAll,
  untilSubscriptionsSettle,
  useNodeGroup,
} from '../helpers/cluster-nodes.ts';
import { startRedis } from '../helpers/redis.ts';

const PREFIX = 'topics';
const TOPICS = Array.from({ length: 10 }, (_, i) => `T${i}`);
/** Its subscribers all live on the first node. */
const SOLO = 'T9';

describe('cluster topics: 300 connections, 10 topics, three processes', () => {
  let subscriptions: Subscription[] = [];
  let solo: ClusterNode;
  const group = useNodeGroup(
    { redis: startRedis, count: 3, cluster: { prefix: PREFIX, leaseMs: 2000 }, clients: { initial: 300, perNode: 30, max: 400 } },
    ({ nodes, clients }) => {
      solo = nodes[0]!;
      // The first node's clients cycle over all 10 topics, the others' over the first 9:
      // SOLO's subscribers are all on the first node. Every third client is
      // subscribed through the next node, which must forward it.
      const spread = byNode(clients);
      subscriptions = nodes.flatMap((node, n) =>
        spread.get(node.node)!.map((client, i) => ({
          client,
          topic: TOPICS[i % (node === solo ? 10 : 9)]!,
          via: i % 3 === 0 ? nodes[(n + 1) % nodes.length]! : node,
        })),
      );
    },
  );
  const { nodes } = group;

  it('subscriptions made locally and through another node all land on the id’s own node, and Redis has one subscriber per serving node per topic', async () => {
    expect(subscriptions.filter((s) => s.topic === SOLO).every((s) => s.client.node === solo.node)).toBe(true);
    expect(subscriptions.filter((s) => s.topic === SOLO && s.via !== solo).length).toBeGreaterThan(0);
    await subscribeAll(nodes, subscriptions);
    await untilSubscriptionsSettle(nodes, subscriptions, group.redisPorts, PREFIX, TOPICS);
    expect(await shardSubscribers(group.redisPorts, PREFIX, SOLO)).toBe(1);
  });

  it('publishes from every process reach every subscriber exactly once, each publisher’s in order; publishesIn counts what came from the others', async () => {
    const before = await routingSnapshot(nodes);
    await publishAndVerify(nodes, subscriptions, TOPICS, 'P', 3);
    const after = await routingSnapshot(nodes);
    for (const node of nodes) {
      const served = new Set(subscriptions.filter((s) => s.client.node === node.node).map((s) => s.topic)).size;
      const b = before.get(node.node)!;
      const a = after.get(node.node)!;
      expect(a.publishes - b.publishes, `publishes on ${node.node}`).toBe(3 * TOPICS.length);
      // The two other nodes' publishes on the topics this node serves.
      expect(a.publishesIn - b.publishesIn, `publishesIn on ${node.node}`).toBe(2 * 3 * served);
      expect({ dropped: a.dropped, invalid: a.invalid, undeliverable: a.undeliverable }).toEqual({ dropped: 0, invalid: 0, undeliverable: 0 });
    }
  });

  it('a topic whose subscribers are all on one process brings the other processes no Redis traffic', async () => {
    const before = await routingSnapshot(nodes);
    const others = subscriptions.filter((s) => s.topic !== SOLO).map((s) => s.client);
    await publishAndVerify(nodes, subscriptions, [SOLO], 'S', 5, others);
    const after = await routingSnapshot(nodes);
    for (const node of nodes) {
      const moved = after.get(node.node)!.publishesIn - before.get(node.node)!.publishesIn;
      // The solo node hears the other two nodes' 5 each; the others hear nothing, not even their own back.
      expect(moved, `publishesIn on node ${node.node}${node === solo ? ' (the solo topic’s node)' : ''}`).toBe(node === solo ? 10 : 0);
      expect(after.get(node.node)!.topics).toBe(node === solo ? 10 : 9);
    }
    // Only the solo node listens on the topic's channel.
    expect(await shardSubscribers(group.redisPorts, PREFIX, SOLO)).toBe(1);
  });

  it('unsubscribe() (locally and through another node) and a connection’s close stop delivery, and the subscription counts drop', async () => {
    const unsubscribed: Subscription[] = [];
    const closed: Subscription[] = [];
    for (const [i, s] of subscriptions.entries()) {
      // Every SOLO subscriber unsubscribes, and every T0 subscriber on the second node
      // closes: those nodes must leave those channels.
      if (s.topic === SOLO) unsubscribed.push(s);
      else if (s.topic === 'T0' && s.client.node === nodes[1]!.node) closed.push(s);
      else if (i % 4 === 1) unsubscribed.push(s);
      else if (i % 4 === 2) closed.push(s);
    }
    expect(unsubscribed.some((s) => s.via.node !== s.client.node)).toBe(true);
    const results = await Promise.all(nodes.map((node) => node.unsubscribe(unsubscribed.filter((s) => s.via === node).map((s) => [s.client.id, s.topic]))));
    for (const result of results) expect(result.every(Boolean)).toBe(true);
    for (const { client } of closed) client.destroy();
    const remaining = subscriptions.filter((s) => !unsubscribed.includes(s) && !closed.includes(s));
    await untilSubscriptionsSettle(nodes, remaining, group.redisPorts, PREFIX, TOPICS);
    expect(await shardSubscribers(group.redisPorts, PREFIX, SOLO)).toBe(0);
    expect(await shardSubscribers(group.redisPorts, PREFIX, 'T0')).toBe(2);
    await eventually(
      () => closed.every((s) => s.client.closed),
      5000,
      () => 'closed clients',
    );

    await publishAndVerify(
      nodes,
      remaining,
      TOPICS,
      'Q',
      2,
      unsubscribed.map((s) => s.client),
    );

    // A second unsubscribe of the same local subscription finds nothing.
    const again = unsubscribed.find((s) => s.via.node === s.client.node)!;
    expect(await again.via.unsubscribe([[again.client.id, again.topic]])).toEqual([false]);
  });
});
