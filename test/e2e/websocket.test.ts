// The built-in WebSocket protocol against the `ws` package as a client: the
// handshake and what the open event learns from it, text and binary echo
// with every byte checked, fragments, pings answered in the worker, and the
// close codes of the closes this side starts (close(id), shutdown).

import { describe, expect, it } from 'vitest';
import { listen } from '../../src/main/index.ts';
import { prng, randomBytes, waitFor } from '../helpers/clients.ts';
import { clientClosed, echoEach, useWebSocketEcho } from '../helpers/websocket.ts';

describe("protocol: 'websocket' with the ws client", () => {
  const fixture = useWebSocketEcho();

  const client = fixture.client;

  it('the open event carries the path with its query, the captured headers and the agreed subprotocol; no extension is agreed', async () => {
    const e = await fixture.start({ subprotocols: ['v2.echo', 'v1.echo'], captureHeaders: ['Origin', 'X-User', 'cookie'] });
    // ws offers permessage-deflate by default: it must be declined.
    const ws = await client(e.port, '/chat/7?room=a%20b&x=1', ['v0.echo', 'v1.echo', 'v2.echo'], {
      headers: { Origin: 'https://app.example', 'X-User': 'ada', Cookie: 'a=1', Authorization: 'Bearer not-captured' },
    });
    expect(ws.protocol).toBe('v1.echo');
    expect(ws.extensions).toBe('');
    await waitFor(() => e.opens.size === 1, 5000, 'the open event');
    const info = e.opens.get(e.onlyId())!;
    expect(info.path).toBe('/chat/7?room=a%20b&x=1');
    expect(info.headers).toEqual({ origin: 'https://app.example', 'x-user': 'ada', cookie: 'a=1' });
    expect(info.protocol).toBe('v1.echo');
    expect(info.address).toBe('127.0.0.1');
  });

  it('by default Origin, Cookie and Authorization are captured', async () => {
    const e = await fixture.start();
    const ws = await client(e.port, '/', undefined, { headers: { Origin: 'http://o.test', Authorization: 'Basic eA==', 'X-Other': 'no' } });
    expect(ws.protocol).toBe('');
    await waitFor(() => e.opens.size === 1, 5000, 'the open event');
    const info = e.opens.get(e.onlyId())!;
    expect(info.headers).toEqual({ origin: 'http://o.test', authorization: 'Basic eA==' });
    expect(info.protocol).toBeUndefined();
  });

  it('text comes back as text and binary as binary, every byte verified, across the 7-, 16- and 64-bit length headers', async () => {
    const e = await fixture.start();
    const ws = await client(e.port);
    const random = prng(6455);
    const sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 200_000, ...Array.from({ length: 40 }, () => Math.floor(random() * 3000))];
    const messages = sizes.flatMap((size, i) => [
      randomBytes(random, size),
      // Multi-byte characters, so a text message's bytes are not its length in characters.
      `${i}:${'é€😀a'.repeat(Math.ceil(size / 10))}`,
    ]);
    const echoes = await echoEach(ws, messages);
    for (let i = 0; i < messages.length; i++) {
      const sent = messages[i]!;
      const { data, binary } = echoes[i]!;
      expect(binary).toBe(typeof sent !== 'string');
      expect(data.equals(typeof sent === 'string' ? Buffer.from(sent) : sent)).toBe(true);
    }
    expect(e.messages.map((m) => m.text)).toEqual(messages.map((m) => typeof m === 'string'));
  });

  it('a fragmented message reaches the application once, whole, with its first frame’s type', async () => {
    const e = await fixture.start();
    const ws = await client(e.port);
    const random = prng(7);
    const parts = [randomBytes(random, 10), randomBytes(random, 70_000), randomBytes(random, 0), randomBytes(random, 300)];
    const echoed = new Promise<{ data: Buffer; binary: boolean }>((resolve) => ws.once('message', (data, binary) => resolve({ data: data as Buffer, binary })));
    for (const [i, part] of parts.entries()) ws.send(part, { binary: true, fin: i === parts.length - 1 });
    const { data, binary } = await echoed;
    expect(binary).toBe(true);
    expect(data.equals(Buffer.concat(parts))).toBe(true);
    // Text in fragments that cut a character in two.
    const text = 'añ€😀'.repeat(50);
    const bytes = Buffer.from(text);
    const textEcho = new Promise<{ data: Buffer; binary: boolean }>((resolve) =>
      ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, binary: isBinary })),
    );
    for (const [from, to, fin] of [
      [0, 3, false],
      [3, 101, false],
      [101, bytes.length, true],
    ] as const) {
      ws.send(bytes.subarray(from, to), { binary: false, fin });
    }
    const echoedText = await textEcho;
    expect(echoedText.binary).toBe(false);
    expect(echoedText.data.toString()).toBe(text);
    expect(e.messages.map((m) => [m.data.length, m.text])).toEqual([
      [Buffer.concat(parts).length, false],
      [bytes.length, true],
    ]);
  });

  it('a ping is answered with a pong carrying its payload, by the worker: the application sees no data', async () => {
    const e = await fixture.start();
    const ws = await client(e.port);
    for (const payload of [Buffer.alloc(0), Buffer.from('are you there?'), randomBytes(prng(1), 125)]) {
      const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
      ws.ping(payload);
      expect((await pong).equals(payload)).toBe(true);
    }
    // A message after the pings comes back, and it is the only data event.
    expect((await echoEach(ws, ['after']))[0]!.data.toString()).toBe('after');
    expect(e.messages.map((m) => m.data.toString())).toEqual(['after']);
  });

  it('close(id) sends a close frame with 1000; the close event says local, 1000', async () => {
    const e = await fixture.start();
    const ws = await client(e.port);
    await echoEach(ws, ['hello']);
    const closed = clientClosed(ws);
    const id = e.onlyId();
    expect(e.server.close(id)).toBe(true);
    expect((await closed).code).toBe(1000);
    expect(await e.closeOf(id)).toEqual({ reason: 'local', code: 1000 });
  });

  it('shutdown sends every client a close frame with 1001 (going away), after what was sent before it', async () => {
    const e = await fixture.start();
    const sockets = await Promise.all(Array.from({ length: 6 }, () => client(e.port)));
    await waitFor(() => e.opens.size === sockets.length, 5000, 'six opens');
    const last = sockets.map((ws) => new Promise<string>((resolve) => ws.on('message', (data) => resolve(String(data)))));
    const closes = sockets.map((ws) => clientClosed(ws));
    for (const id of e.opens.keys()) e.server.send(id, 'last words');
    await e.shutdown();
    expect(await Promise.all(last)).toEqual(Array(sockets.length).fill('last words'));
    expect((await Promise.all(closes)).map((c) => c.code)).toEqual(Array(sockets.length).fill(1001));
    expect([...e.closes.values()]).toEqual(Array(sockets.length).fill({ reason: 'shutdown', code: 1001 }));
  });

  it('recvClose() items carry the close code, and leave it out where there is none', async () => {
    const server = await listen({ port: 0, workers: 1, protocol: 'websocket' });
    try {
      const first = server.recvClose();
      const ws = await client(server.port);
      ws.close(4001, 'app says bye');
      expect(await first).toMatchObject({ reason: 'peer', code: 4001 });
      const second = server.recvClose();
      // Gone without a close frame: no code.
      (await client(server.port)).terminate();
      const item = await second;
      expect(item?.reason).toBe('peer');
      expect(item).not.toHaveProperty('code');
    } finally {
      await server.shutdown();
    }
  });
});
