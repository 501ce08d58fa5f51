import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { Received, closeAll, connect, connectMany, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

describe('exactly one close per open', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  async function start(): Promise<{ server: Server; recorder: EventRecorder }> {
    server = await listen({ port: 0, workers: 2 });
    return { server, recorder: new EventRecorder(server, { echo: true }) };
  }

  it('a client that closes gets one close with reason peer', async () => {
    const { recorder } = await start();
    const sockets = await connectMany(server!.port, 200);
    await waitFor(() => recorder.opened.size === 200, 5000, 'opens');
    await closeAll(sockets);
    await waitFor(() => recorder.closed.size === 200, 5000, 'closes');
    expect(recorder.reasons()).toEqual({ peer: 200 });
    expect(recorder.violations).toEqual([]);
  });

  it('closing an id from the server flushes what was sent, then reports local once', async () => {
    const { server, recorder } = await start();
    const sockets = await connectMany(server.port, 200);
    const received = sockets.map((s) => new Received(s));
    await waitFor(() => recorder.opened.size === 200, 5000, 'opens');
    const farewell = Buffer.alloc(100_000, 7);
    for (const id of recorder.opened) {
      server.send(id, farewell);
      server.close(id);
      // A second close and a send after the close are counted, not delivered.
      server.close(id);
      server.send(id, 'late');
    }
    await Promise.all(received.map((r) => r.untilEnd()));
    for (const r of received) expect(r.bytes().equals(farewell)).toBe(true);
    await waitFor(() => recorder.closed.size === 200, 5000, 'closes');
    expect(recorder.reasons()).toEqual({ local: 200 });
    expect(server.stats().staleSends).toBe(400);
    expect(recorder.violations).toEqual([]);
  });

  it('an abrupt client reset gets one close with reason error', async () => {
    const { recorder } = await start();
    const sockets = await connectMany(server!.port, 100);
    await waitFor(() => recorder.opened.size === 100, 5000, 'opens');
    for (const socket of sockets) socket.resetAndDestroy();
    await waitFor(() => recorder.closed.size === 100, 5000, 'closes');
    expect(recorder.reasons()).toEqual({ error: 100 });
    expect(recorder.violations).toEqual([]);
  });

  it('shutdown with connections open closes each once with reason shutdown', async () => {
    const { server: s, recorder } = await start();
    const sockets = await connectMany(s.port, 300);
    const received = sockets.map((socket) => new Received(socket));
    await waitFor(() => recorder.opened.size === 300, 5000, 'opens');
    await s.shutdown();
    server = undefined;
    expect(recorder.closed.size).toBe(300);
    expect(recorder.reasons()).toEqual({ shutdown: 300 });
    expect(recorder.violations).toEqual([]);
    await Promise.all(received.map((r) => r.untilEnd()));
  });

  it('a mix of every reason on one server still gives exactly one close per open', async () => {
    const { server: mixed, recorder } = await start();
    const sockets = await connectMany(mixed.port, 300);
    await waitFor(() => recorder.opened.size === 300, 5000, 'opens');
    // The client does not know which socket has which id, so close a third
    // by id on the server, end a third from the client, reset a third, and
    // let shutdown close whatever is left.
    for (const id of [...recorder.opened].slice(0, 100)) mixed.close(id);
    for (const socket of sockets.slice(0, 100)) socket.end();
    for (const socket of sockets.slice(100, 200)) socket.resetAndDestroy();
    await waitFor(() => recorder.closed.size >= 150, 5000, 'some closes');
    await mixed.shutdown();
    server = undefined;
    expect(recorder.closed.size).toBe(300);
    expect(recorder.stillOpen()).toEqual([]);
    expect(recorder.violations).toEqual([]);
    const reasons = recorder.reasons();
    expect(reasons.local ?? 0).toBeGreaterThan(0);
    for (const reason of Object.keys(reasons)) expect(['peer', 'error', 'local', 'shutdown']).toContain(reason);
    for (const socket of sockets) socket.destroy();
  });

  it('connect and close without the server reading anything still pairs open and close', async () => {
    const { recorder } = await start();
    for (let i = 0; i < 50; i++) {
      const socket = await connect(server!.port);
      socket.destroy();
    }
    await waitFor(() => recorder.closed.size === 50 && recorder.opened.size === 50, 5000, '50 pairs');
    expect(recorder.violations).toEqual([]);
  });
});
