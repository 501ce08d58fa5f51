// Every way a WebSocket connection ends carries its close code to both
// ends: the client's close frame, and the application's close event
// (`close(id, reason, code)`). Broken clients are written by hand on a raw
// socket after a real handshake (no library sends an unmasked frame); a
// bad handshake gets its HTTP status and never reaches the application.

import { describe, expect, it } from 'vitest';
import { Received, connect, waitFor } from '../helpers/clients.ts';
import { Op, clientClosed, clientFrame, closeCodeOf, echoEach, rawHandshake, serverFrames, upgradeRequest, useWebSocketEcho } from '../helpers/websocket.ts';

describe('WebSocket close codes', () => {
  const fixture = useWebSocketEcho();

  const client = fixture.client;

  it('a client closing with 1000 gets 1000 echoed; the close event says peer, 1000', async () => {
    const e = await fixture.start();
    const ws = await client(e.port);
    await echoEach(ws, ['before closing']);
    const closed = clientClosed(ws);
    ws.close(1000, 'done');
    expect((await closed).code).toBe(1000);
    expect(await e.closeOf(e.onlyId())).toEqual({ reason: 'peer', code: 1000 });
  });

  it("an application's own code (4000-4999) reaches the close event; a close frame without a code reads 1005", async () => {
    const e = await fixture.start();
    const ws = await client(e.port);
    ws.close(4321);
    await waitFor(() => e.closes.size === 1, 5000, 'the close event');
    expect([...e.closes.values()]).toEqual([{ reason: 'peer', code: 4321 }]);
    const raw = await rawHandshake(e.port);
    raw.socket.write(clientFrame(Op.CLOSE, Buffer.alloc(0)));
    await raw.received.untilEnd(5000);
    expect(serverFrames(raw.frames()).map((f) => [f.opcode, f.payload.length])).toEqual([[Op.CLOSE, 0]]);
    await waitFor(() => e.closes.size === 2, 5000, 'the second close event');
    expect([...e.closes.values()][1]).toEqual({ reason: 'peer', code: 1005 });
  });

  it('an unmasked frame closes with 1002 (protocol error): close frame, then the socket ends; the close event says error, 1002', async () => {
    const e = await fixture.start();
    const raw = await rawHandshake(e.port, '/raw');
    raw.socket.write(clientFrame(Op.TEXT, Buffer.from('masked, fine')));
    await waitFor(() => e.messages.length === 1, 5000, 'the masked message');
    raw.socket.write(clientFrame(Op.TEXT, Buffer.from('not masked'), { masked: false }));
    await raw.received.untilEnd(5000);
    const frames = serverFrames(raw.frames());
    expect(frames.map((f) => f.opcode)).toEqual([Op.TEXT, Op.CLOSE]);
    expect(frames[0]!.payload.toString()).toBe('masked, fine');
    expect(closeCodeOf(frames[1]!)).toBe(1002);
    expect(await e.closeOf(e.onlyId())).toEqual({ reason: 'error', code: 1002 });
    expect(e.messages.map((m) => m.data.toString())).toEqual(['masked, fine']);
  });

  it('text that is not UTF-8 closes with 1007, whole or cut between fragments', async () => {
    const e = await fixture.start();
    const ws = await client(e.port);
    const closed = clientClosed(ws);
    // ws sends text frames as given, without checking them.
    ws.send(Buffer.from([0x61, 0xc3, 0x28]), { binary: false });
    expect((await closed).code).toBe(1007);
    expect(await e.closeOf(e.onlyId())).toEqual({ reason: 'error', code: 1007 });

    const second = await client(e.port);
    const closedToo = clientClosed(second);
    second.send(Buffer.from('ok €'.slice(0, 3)), { binary: false, fin: false });
    // A lead byte of a 3-byte character, then a byte that cannot continue it.
    second.send(Buffer.from([0xe2]), { binary: false, fin: false });
    second.send(Buffer.from([0x41]), { binary: false, fin: true });
    expect((await closedToo).code).toBe(1007);
    await waitFor(() => e.closes.size === 2, 5000, 'the second close event');
    expect([...e.closes.values()][1]).toEqual({ reason: 'error', code: 1007 });
    expect(e.messages).toEqual([]);
  });

  it('a message over maxFrameBytes closes with 1009, whole or growing over it fragment by fragment; one at the limit passes', async () => {
    const e = await fixture.start({ maxFrameBytes: 1024 });
    const ws = await client(e.port);
    const [atLimit] = await echoEach(ws, [Buffer.alloc(1024, 7)]);
    expect(atLimit!.data.equals(Buffer.alloc(1024, 7))).toBe(true);
    const closed = clientClosed(ws);
    ws.send(Buffer.alloc(1025));
    expect((await closed).code).toBe(1009);
    expect(await e.closeOf(e.onlyId())).toEqual({ reason: 'frame-too-large', code: 1009 });

    const second = await client(e.port);
    const closedToo = clientClosed(second);
    for (let i = 0; i < 3; i++) second.send(Buffer.alloc(400, i), { binary: true, fin: false });
    expect((await closedToo).code).toBe(1009);
    await waitFor(() => e.closes.size === 2, 5000, 'the second close event');
    expect([...e.closes.values()][1]).toEqual({ reason: 'frame-too-large', code: 1009 });
  });

  it('a connection that ends without a close frame has no code', async () => {
    const e = await fixture.start();
    const ws = await client(e.port);
    await echoEach(ws, ['x']);
    ws.terminate();
    expect(await e.closeOf(e.onlyId())).toEqual({ reason: 'peer', code: undefined });
  });

  describe('a bad handshake gets its HTTP status and a close, and never reaches the application', () => {
    const cases: Array<{ name: string; request: string; status: number; also?: string }> = [
      {
        name: 'a wrong version: 426, naming version 13',
        request: upgradeRequest('/', { 'Sec-WebSocket-Version': '8' }),
        status: 426,
        also: 'Sec-WebSocket-Version: 13\r\n',
      },
      { name: 'no version: 426', request: upgradeRequest('/', { 'Sec-WebSocket-Version': null }), status: 426 },
      { name: 'no key: 400', request: upgradeRequest('/', { 'Sec-WebSocket-Key': null }), status: 400 },
      { name: 'a malformed key: 400', request: upgradeRequest('/', { 'Sec-WebSocket-Key': 'short' }), status: 400 },
      { name: 'no Upgrade header: 400', request: upgradeRequest('/', { Upgrade: null }), status: 400 },
      { name: 'POST: 400', request: upgradeRequest('/').replace(/^GET/, 'POST'), status: 400 },
      { name: 'plain HTTP/1.0: 400', request: 'GET / HTTP/1.0\r\n\r\n', status: 400 },
      { name: 'a head over 8 KiB: 431', request: upgradeRequest('/', { 'X-Pad': 'p'.repeat(9000) }), status: 431 },
    ];
    for (const { name, request, status, also } of cases) {
      it(name, async () => {
        const e = await fixture.start();
        const socket = await connect(e.port);
        const received = new Received(socket);
        socket.write(request);
        await received.untilEnd(5000);
        const response = received.bytes().toString('latin1');
        expect(response.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
        expect(response).toContain('Connection: close\r\n');
        if (also !== undefined) expect(response).toContain(also);
        expect(e.opens.size).toBe(0);
        expect(e.closes.size).toBe(0);
        await waitFor(() => e.server.stats().closedBeforeOpen >= 1, 5000, 'closedBeforeOpen');
      });
    }
  });

  it('a subprotocol the server does not speak is not agreed: the 101 names none', async () => {
    const e = await fixture.start({ subprotocols: ['v1'] });
    const socket = await connect(e.port);
    const received = new Received(socket);
    socket.write(upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'v9, other' }));
    await waitFor(() => received.bytes().includes('\r\n\r\n'), 5000, 'the 101');
    const head = received.bytes().toString('latin1');
    expect(head.startsWith('HTTP/1.1 101 ')).toBe(true);
    expect(head.toLowerCase()).not.toContain('sec-websocket-protocol');
    await waitFor(() => e.opens.size === 1, 5000, 'the open');
    expect(e.opens.get(e.onlyId())!.protocol).toBeUndefined();
    socket.destroy();
  });
});
