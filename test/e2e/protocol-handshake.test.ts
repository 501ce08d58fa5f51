// A protocol with a handshake, loaded from a module by every I/O worker
// (test/fixtures/protocols/handshake.ts): the application hears of a
// connection only once its handshake is done, with what the handshake learnt;
// the handshake deadline and the heartbeat run on the worker's timing wheel;
// control traffic never reaches the application.

import { afterEach, describe, expect, it } from 'vitest';
import { type OpenInfo, type Server, listen } from '../../src/main/index.ts';
import { waitFor } from '../helpers/clients.ts';
import { LineClient } from '../helpers/line-client.ts';
import { EventRecorder } from '../helpers/recorder.ts';

const HANDSHAKE = new URL('../fixtures/protocols/handshake.ts', import.meta.url);

describe('a protocol with a handshake', () => {
  let server: Server | undefined;
  const clients: LineClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.shutdown();
    server = undefined;
  });

  async function client(port: number): Promise<LineClient> {
    const c = await LineClient.open(port);
    clients.push(c);
    return c;
  }

  it('opens a connection for the application only after its handshake, with the request path and headers in the open event', async () => {
    const s = (server = await listen({ port: 0, workers: 2, protocol: { module: HANDSHAKE } }));
    const opens = new Map<number, OpenInfo>();
    const data: string[] = [];
    s.on('open', (id, info) => opens.set(id, info));
    s.on('data', (_id, bytes) => data.push(Buffer.from(bytes).toString()));
    const c = await client(s.port);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Accepted, but not the application's yet: no open, not listed, not counted as open.
    expect(opens.size).toBe(0);
    expect(s.stats().connections).toBe(0);
    const listed = await Promise.all([s.ids(0), s.ids(1)]);
    expect(listed.flatMap((page) => page.ids)).toEqual([]);

    c.send('HELLO /chat?room=7 origin=https://example.test cookie=a', 'first message');
    await c.until('WELCOME');
    await waitFor(() => data.length === 1, 5000, 'the first message');
    expect(data).toEqual(['first message']);
    const [[id, info]] = [...opens];
    expect(info.path).toBe('/chat?room=7');
    expect(info.headers).toEqual({ origin: 'https://example.test', cookie: 'a' });
    expect(info.address).toBe('127.0.0.1');
    expect(info.port).toBe(c.socket.localPort);
    expect(s.stats().connections).toBe(1);
    expect((await s.connection(id!))?.id).toBe(id);
  });

  it('pull loops get the request in recvOpen', async () => {
    const s = (server = await listen({ port: 0, workers: 1, protocol: { module: HANDSHAKE } }));
    const opened = s.recvOpen();
    const c = await client(s.port);
    c.send('HELLO /pulled user=ann');
    const event = await opened;
    expect(event).toMatchObject({ path: '/pulled', headers: { user: 'ann' } });
  });

  it('a refused handshake, a client that leaves mid-handshake and one that never finishes are counted in closedBeforeOpen, with no event at all', async () => {
    const s = (server = await listen({ port: 0, workers: 1, protocol: { module: HANDSHAKE, options: { handshakeTimeoutMs: 300 } } }));
    const recorder = new EventRecorder(s);
    const refused = await client(s.port);
    refused.send('GET / HTTP/1.1');
    await refused.until('DENIED');
    await refused.untilEnd();
    const leaver = await client(s.port);
    leaver.socket.end('HEL');
    await leaver.untilEnd();
    const silent = await client(s.port);
    const started = performance.now();
    await silent.untilEnd(5000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    const good = await client(s.port);
    good.send('HELLO /ok');
    await good.until('WELCOME');
    await waitFor(() => s.stats().closedBeforeOpen === 3, 5000, 'three connections closed before open');
    await waitFor(() => recorder.opened.size === 1, 5000, 'the good open');
    expect(recorder.closed.size).toBe(0);
    expect(recorder.violations).toEqual([]);
    // The handshake timer did not fire for the good connection once it had opened.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(good.ended).toBe(false);
    expect(s.stats().closing).toBe(0);
  });

  it('the worker answers its own heartbeat: a client that answers PONG stays, a silent one is closed with idle-timeout', async () => {
    const s = (server = await listen({ port: 0, workers: 1, protocol: { module: HANDSHAKE, options: { heartbeatMs: 200 } } }));
    const recorder = new EventRecorder(s, { keepData: true });
    const lively = await client(s.port);
    const silent = await client(s.port);
    lively.send('HELLO /lively');
    silent.send('HELLO /silent');
    const answering = setInterval(() => {
      const pings = lively.lines.filter((line) => line === 'PING').length;
      for (let i = answeredPings; i < pings; i++) lively.send('PONG');
      answeredPings = pings;
    }, 20);
    let answeredPings = 0;
    try {
      await waitFor(() => recorder.closed.size === 1, 5000, 'the silent client to be closed');
      expect([...recorder.closed.values()]).toEqual(['idle-timeout']);
      expect(silent.lines.filter((line) => line === 'PING').length).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(lively.ended).toBe(false);
      expect(lively.lines.filter((line) => line === 'PING').length).toBeGreaterThanOrEqual(3);
      // Pings and pongs are the worker's business: the application saw no data.
      expect(recorder.data.size).toBe(0);
    } finally {
      clearInterval(answering);
    }
  });

  it('closes with the reason it gives, after writing its final bytes', async () => {
    const s = (server = await listen({ port: 0, workers: 1, protocol: { module: HANDSHAKE } }));
    const recorder = new EventRecorder(s);
    const c = await client(s.port);
    c.send('HELLO /bye', 'BYE', 'never delivered');
    await c.until('GOODBYE');
    await c.untilEnd();
    await waitFor(() => recorder.closed.size === 1, 5000, 'the close');
    expect([...recorder.closed.values()]).toEqual(['peer']);
    expect(s.stats().framesIn).toBe(0);
  });
});
