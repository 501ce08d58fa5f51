// The routing layer over a Redis Cluster (cluster.redis given as an array
// of seed URLs): three shards, so the node channels and topic channels
// spread over them and each is served by the shard owning its slot. The
// same checks as against one Redis: numbered runs between three processes
// arrive whole and in order, and publishes on 10 topics reach each
// subscriber exactly once.

import { describe, expect, it } from 'vitest';
import {
  type Subscription,
  byNode,
  publishAndVerify,
  routingSnapshot,
  sendAcrossAndVerify,
  shardSubscribers,
  subscribeAll,
  untilSubscriptionsSettle,
  useNodeGroup,
} from '../helpers/cluster-nodes.ts';
import { startRedisCluster } from '../helpers/redis.ts';

const PREFIX = 'sharded';
const TOPICS = Array.from({ length: 10 }, (_, i) => `topic-${i}`);

describe('cluster routing over a 3-shard Redis Cluster', () => {
  const group = useNodeGroup({
    redis: () => startRedisCluster(3),
    count: 3,
    cluster: { prefix: PREFIX, leaseMs: 2000 },
    clients: { initial: 90, perNode: 20, max: 200 },
  });
  const { nodes, clients } = group;

  it('every process sends 200 numbered lines to every client of the other two: whole and in order', async () => {
    const before = await routingSnapshot(nodes);
    await sendAcrossAndVerify(nodes, clients, 'C');
    const after = await routingSnapshot(nodes);
    for (const node of nodes) {
      const a = after.get(node.node)!;
      const b = before.get(node.node)!;
      expect(a.routedIn - b.routedIn, `routedIn on ${node.node}`).toBe(2 * 200 * clients.filter((c) => c.node === node.node).length);
      expect({ undeliverable: a.undeliverable, dropped: a.dropped, invalid: a.invalid }).toEqual({ undeliverable: 0, dropped: 0, invalid: 0 });
    }
  });

  it('publishes on 10 topics from every process reach each subscriber exactly once', async () => {
    const spread = byNode(clients);
    // Each client on one topic; every other one subscribed through the next node, which forwards it.
    const subscriptions: Subscription[] = nodes.flatMap((node, n) =>
      spread.get(node.node)!.map((client, i) => ({ client, topic: TOPICS[i % TOPICS.length]!, via: i % 2 === 0 ? nodes[(n + 1) % nodes.length]! : node })),
    );
    await subscribeAll(nodes, subscriptions);
    await untilSubscriptionsSettle(nodes, subscriptions, group.redisPorts, PREFIX, TOPICS);
    // The topic channels live on more than one shard (else this would test one Redis).
    const perShard = await Promise.all(
      group.redisPorts.map(async (port) => (await Promise.all(TOPICS.map((t) => shardSubscribers([port], PREFIX, t)))).reduce((x, y) => x + y)),
    );
    expect(perShard.filter((count) => count > 0).length, `topic subscribers per shard: ${perShard.join(', ')}`).toBeGreaterThan(1);
    await publishAndVerify(nodes, subscriptions, TOPICS, 'P', 3);
    for (const stats of (await routingSnapshot(nodes)).values()) expect(stats.dropped + stats.invalid).toBe(0);
  });
});
