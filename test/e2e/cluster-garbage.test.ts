// Whatever anyone publishes on Flamingo's channels is untrusted input:
// random bytes, records for ids of other nodes, records cut short, lengths
// that claim more than the message holds. A node counts and ignores what is
// wrong, keeps serving, and nothing reaches a connection a record does not
// name.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { type Server, listen } from '../../src/main/index.ts';
import { NodeBatch, Op, TopicBatch } from '../../src/main/cluster/wire.ts';
import { Received, connectMany, prng, randomBytes, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';

describe('garbage on Flamingo channels', () => {
  let redis: RedisServer;
  let server: Server;
  let publisher: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    server = await listen({ port: 0, workers: 2, node: 4, framing: 'delimiter', cluster: { redis: redis.url, prefix: 'junk', leaseMs: 1000 } });
    publisher = new Redis(redis.url);
  });

  afterAll(async () => {
    publisher?.disconnect();
    await server?.shutdown();
    await redis?.stop();
  });

  it('is counted and ignored; the node serves on and only a well-formed record for its own live id is delivered', async () => {
    const recorder = new EventRecorder(server, { echo: true });
    const sockets = await connectMany(server.port, 20);
    const received = sockets.map((socket) => new Received(socket));
    await waitFor(() => recorder.opened.size === 20, 5000, 'opens');
    const ids = [...recorder.opened];
    for (const id of ids) await server.subscribe(id, 'news');
    const channel = 'junk:node:4';
    const topic = 'junk:topic:news';
    const before = server.stats().routing.invalid;
    let expectedInvalid = 0;

    // Random bytes, with and without a valid header.
    const random = prng(7);
    for (let i = 0; i < 200; i++) {
      const junk = randomBytes(random, 1 + Math.floor(random() * 300));
      if (i % 2 === 0 && junk.length >= 8) junk.set([0x46, 0x4c, 0x4d, 1, 1 + (i % 4 === 0 ? 1 : 0), 99, 0, 0]);
      await publisher.spublish(i % 3 === 0 ? topic : channel, junk);
    }
    // Records for another node's ids, and for ids of this node that do not exist.
    const misaddressed = new NodeBatch(9);
    misaddressed.send(ids[0]! + 2 ** 45, Buffer.from('to node 5\n'));
    misaddressed.send(ids[0]! - 4 * 2 ** 45, Buffer.from('to node 0\n'));
    misaddressed.sendMany([ids[1]! + 2 ** 45, 0.5, -1], 3, Buffer.from('many\n'));
    misaddressed.close(ids[2]! + 2 ** 45);
    misaddressed.topic(Op.SUB, ids[3]! + 2 ** 45, Buffer.from('news'));
    // Worker 40: this node has two.
    misaddressed.send(4 * 2 ** 45 + 40 * 2 ** 39 + 2 ** 18 + 1, Buffer.from('no such worker\n'));
    await publisher.spublish(channel, misaddressed.take());
    expectedInvalid += 7;
    // A well-formed record for a live id, then one cut in the middle of a second record.
    const truncated = new NodeBatch(9);
    truncated.send(ids[5]!, Buffer.from('named\n'));
    truncated.send(ids[6]!, Buffer.from('cut short, never delivered\n'));
    const whole = truncated.take();
    await publisher.spublish(channel, whole.subarray(0, whole.length - 5));
    expectedInvalid += 1;
    // A topic batch whose second payload claims more than the message holds.
    const topicBatch = new TopicBatch(9);
    topicBatch.add(Buffer.from('headline\n'));
    const headline = topicBatch.take();
    const lying = Buffer.concat([headline, Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3])]);
    await publisher.spublish(topic, lying);
    expectedInvalid += 1;

    // Everything above is accounted for: 200 random messages are invalid but
    // for the ones that happen to parse, so only a lower bound holds for them.
    await waitFor(() => server.stats().routing.invalid - before >= expectedInvalid + 100, 5000, 'invalid counted');
    // The node still echoes every connection.
    for (const socket of sockets) socket.write('ping\n');
    await waitFor(() => received.every((r) => r.bytes().toString().includes('ping\n')), 5000, 'echoes');
    const named = (await server.connection(ids[5]!))!.port;
    await received[sockets.findIndex((socket) => socket.localPort === named)]!.until('ping\nnamed\n'.length);
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const [i, r] of received.entries()) {
      // Only what a valid record named reached anyone: 'named' for ids[5]; the headline (the valid payload before the lie) for every subscriber.
      const lines = r
        .bytes()
        .toString()
        .split('\n')
        .filter((line) => line !== '');
      const expected = sockets[i]!.localPort === named ? ['headline', 'named', 'ping'] : ['headline', 'ping'];
      expect(lines.sort()).toEqual(expected);
    }
    // Nobody outside the topic's node was subscribed by the forged SUB.
    expect(server.stats().routing.topicSubscriptions).toBe(20);
    for (const socket of sockets) socket.destroy();
  });
});
