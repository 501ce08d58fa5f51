// Topics in one process, without Redis: subscribe, publish, unsubscribe,
// and a closed connection leaving its topics by itself, over real sockets
// and worker threads; and the coded errors for what cannot be.

import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { Received, connectMany, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

describe('topics in one process', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('a publish reaches each subscriber of its topic once, and nobody else', async () => {
    const s = (server = await listen({ port: 0, workers: 2 }));
    const recorder = new EventRecorder(s);
    const sockets = await connectMany(s.port, 200);
    const received = sockets.map((socket) => new Received(socket));
    await waitFor(() => recorder.opened.size === 200, 5000, 'opens');
    const ids = [...recorder.opened];
    // Connection i is in topic "t<i % 4>"; every tenth also in "all".
    for (let i = 0; i < ids.length; i++) {
      expect(await s.subscribe(ids[i]!, `t${i % 4}`)).toBe(true);
      if (i % 10 === 0) expect(await s.subscribe(ids[i]!, 'all')).toBe(true);
    }
    // Subscribing twice changes nothing.
    expect(await s.subscribe(ids[0]!, 't0')).toBe(true);
    expect(s.stats().routing).toMatchObject({ topics: 5, topicSubscriptions: 220 });
    for (let t = 0; t < 4; t++) s.publish(`t${t}`, `<${t}>`);
    s.publish('all', '<all>');
    s.publish('nobody', '<none>');
    const byPort = new Map(sockets.map((socket, i) => [socket.localPort, received[i]!]));
    const expected = new Map<number, string>();
    const infos = await Promise.all(ids.map((id) => s.connection(id)));
    ids.forEach((_, i) => {
      expected.set(infos[i]!.port, `<${i % 4}>${i % 10 === 0 ? '<all>' : ''}`);
    });
    for (const [port, text] of expected) await byPort.get(port)!.until(text.length);
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const [port, text] of expected) expect(byPort.get(port)!.bytes().toString()).toBe(text);
    expect(s.stats().routing.publishes).toBe(6);
    for (const socket of sockets) socket.destroy();
  });

  it('unsubscribe and close stop delivery, and an emptied topic is forgotten', async () => {
    const s = (server = await listen({ port: 0, workers: 1 }));
    const recorder = new EventRecorder(s);
    const [a, b] = await connectMany(s.port, 2);
    const got = [new Received(a!), new Received(b!)];
    await waitFor(() => recorder.opened.size === 2, 5000, 'opens');
    const [idA, idB] = [...recorder.opened] as [number, number];
    await s.subscribe(idA, 'news');
    await s.subscribe(idB, 'news');
    await s.subscribe(idB, 'sport');
    s.publish('news', '1');
    await got[0]!.until(1);
    await got[1]!.until(1);
    expect(await s.unsubscribe(idA, 'news')).toBe(true);
    expect(await s.unsubscribe(idA, 'news')).toBe(false);
    b!.destroy();
    await waitFor(() => recorder.closed.has(idB), 5000, 'close of b');
    expect(s.stats().routing).toMatchObject({ topics: 0, topicSubscriptions: 0 });
    s.publish('news', '2');
    s.send(idA, '3');
    await got[0]!.until(2);
    expect(got[0]!.bytes().toString()).toBe('13');
    // A closed connection cannot be subscribed.
    expect(await s.subscribe(idB, 'news')).toBe(false);
    a!.destroy();
  });

  it('refuses bad topics, ids of other nodes without cluster, and topics without the main consumer', async () => {
    const s = (server = await listen({ port: 0, workers: 1, node: 3 }));
    const recorder = new EventRecorder(s);
    const [a] = await connectMany(s.port, 1);
    await waitFor(() => recorder.opened.size === 1, 5000, 'open');
    const id = [...recorder.opened][0]!;
    expect(() => s.subscribe(id, '')).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_INVALID_TOPIC' }));
    expect(() => s.subscribe(id, 'x'.repeat(257))).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_INVALID_TOPIC' }));
    expect(() => s.publish(42 as never, 'x')).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_INVALID_TOPIC' }));
    expect(() => s.publish('t', 42 as never)).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_INVALID_PAYLOAD' }));
    expect(() => s.publish('t', Buffer.alloc(s.options.maxBufferedBytes + 1))).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_PAYLOAD_TOO_LARGE' }));
    // The same id with node 4: not this server's, and there is no Redis to route it.
    const other = id + 2 ** 45;
    expect(() => s.subscribe(other, 't')).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_INVALID_ID' }));
    expect(() => s.send(other, 'x')).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_INVALID_ID' }));
    expect(s.nodes()).toEqual([3]);
    a!.destroy();
    await s.shutdown();
    expect(() => s.publish('t', 'x')).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_SERVER_CLOSED' }));
    server = await listen({ port: 0, workers: 1, node: 3, consumer: 'external' });
    expect(() => server!.subscribe(id, 't')).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_CONSUMER' }));
  });
});
