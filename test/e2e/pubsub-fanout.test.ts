// Fan-out through the pub/sub example in one process: 1,000 subscribers
// (ioredis and node-redis, RESP3 and RESP2, half on a channel and half on a
// pattern) and four publishers publishing at once; every subscriber gets
// every message exactly once, each publisher's in order.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/clients.ts';
import { type Client, checkRuns, closeClients, connectClients } from '../helpers/pubsub-clients.ts';
import { PubSubExample } from '../helpers/pubsub-example.ts';

const SUBSCRIBERS = 1000;
const PUBLISHERS = 4;
const MESSAGES = 50;

let example: PubSubExample;
const clients: Client[] = [];

beforeAll(async () => {
  example = await PubSubExample.start();
});

afterAll(async () => {
  await closeClients(clients);
  expect(await example?.stop()).toEqual({ code: 0, signal: null });
});

describe('fan-out in one process', () => {
  it(`${SUBSCRIBERS} subscribers get every message of ${PUBLISHERS} concurrent publishers exactly once, in order per publisher`, async () => {
    const subscribers = await connectClients(example.port, SUBSCRIBERS);
    clients.push(...subscribers);
    const onChannel = subscribers.filter((_, i) => i % 2 === 0);
    const onPattern = subscribers.filter((_, i) => i % 2 === 1);
    await Promise.all([...onChannel.map((s) => s.subscribe('scores')), ...onPattern.map((s) => s.psubscribe('sc?re*'))]);
    const publishers = await connectClients(example.port, PUBLISHERS);
    clients.push(...publishers);
    const names = publishers.map((_, i) => `p${i}`);
    // Every publisher sends its run without waiting for replies; the replies count this node's receivers.
    const counts = await Promise.all(
      publishers.map((p, i) => Promise.all(Array.from({ length: MESSAGES }, (_, n) => p.publish('scores', `${names[i]}:${n}`)))),
    );
    expect(new Set(counts.flat())).toEqual(new Set([SUBSCRIBERS]));
    const received = (s: Client): string[] => (onChannel.includes(s) ? s.messages : s.pmessages);
    await waitFor(
      () => subscribers.every((s) => received(s).length >= PUBLISHERS * MESSAGES),
      30_000,
      `every subscriber's ${PUBLISHERS * MESSAGES} messages (short: ${subscribers.filter((s) => received(s).length < PUBLISHERS * MESSAGES).length})`,
    );
    // Time for a duplicate to show up.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const s of onChannel) {
      expect(s.pmessages).toEqual([]);
      expect(
        checkRuns(
          s.messages.map((m) => m.replace(/^scores /, '')),
          names,
          MESSAGES,
        ),
        s.label,
      ).toBeUndefined();
    }
    for (const s of onPattern) {
      expect(s.messages).toEqual([]);
      expect(
        checkRuns(
          s.pmessages.map((m) => m.replace(/^sc\?re\* scores /, '')),
          names,
          MESSAGES,
        ),
        s.label,
      ).toBeUndefined();
    }
    expect(clients.flatMap((c) => c.errors)).toEqual([]);
  });
});
