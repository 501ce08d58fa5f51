// The WebSocket protocol's two clocks, on the worker's timing wheel: the
// heartbeat (pingIntervalMs) pings a silent connection and closes one that
// stops answering, while a live client that answers pings (ws does, by
// itself) stays; the handshake deadline (handshakeTimeoutMs) closes a
// client that never finishes its upgrade request.

import { describe, expect, it } from 'vitest';
import { Received, connect, waitFor } from '../helpers/clients.ts';
import { Op, clientFrame, echoEach, rawHandshake, serverFrames, upgradeRequest, useWebSocketEcho } from '../helpers/websocket.ts';

const INTERVAL_MS = 300;

describe('WebSocket heartbeat and handshake deadline', () => {
  const fixture = useWebSocketEcho();

  it('a client that completes the handshake and then never answers is pinged, then closed with idle-timeout', async () => {
    const e = await fixture.start({ pingIntervalMs: INTERVAL_MS });
    const started = performance.now();
    const raw = await rawHandshake(e.port);
    // Pinged after one to two silent intervals, closed one interval after that; the wheel's tick adds a little.
    await raw.received.untilEnd(6 * INTERVAL_MS + 1000);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(2 * INTERVAL_MS);
    const frames = serverFrames(raw.frames());
    expect(frames.length).toBeGreaterThanOrEqual(1);
    expect(frames.every((f) => f.opcode === Op.PING)).toBe(true);
    expect(await e.closeOf(e.onlyId())).toEqual({ reason: 'idle-timeout', code: undefined });
  });

  it('a client that answers its pings stays open, idle, for many intervals; so does one that keeps sending', async () => {
    const e = await fixture.start({ pingIntervalMs: INTERVAL_MS });
    const idle = await fixture.client(e.port);
    let pings = 0;
    idle.on('ping', () => pings++);
    // A raw client that answers nothing but sends a message every half interval: its reads prove it alive.
    const chatty = await rawHandshake(e.port);
    const timer = setInterval(() => chatty.socket.write(clientFrame(Op.TEXT, Buffer.from('still here'))), INTERVAL_MS / 2);
    try {
      await new Promise((resolve) => setTimeout(resolve, 8 * INTERVAL_MS));
    } finally {
      clearInterval(timer);
    }
    expect(pings).toBeGreaterThanOrEqual(2);
    expect(e.closes.size).toBe(0);
    expect(serverFrames(chatty.frames()).some((f) => f.opcode === Op.PING)).toBe(false);
    expect((await echoEach(idle, ['alive']))[0]!.data.toString()).toBe('alive');
    chatty.socket.destroy();
  });

  it('pingIntervalMs 0 turns the heartbeat off', async () => {
    const e = await fixture.start({ pingIntervalMs: 0 });
    const raw = await rawHandshake(e.port);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(raw.frames().length).toBe(0);
    expect(raw.received.ended).toBe(false);
    expect(e.closes.size).toBe(0);
    raw.socket.destroy();
  });

  it('a client that sends half an upgrade request is closed at handshakeTimeoutMs, and the application never hears of it', async () => {
    const e = await fixture.start({ handshakeTimeoutMs: INTERVAL_MS });
    const socket = await connect(e.port);
    const received = new Received(socket);
    const started = performance.now();
    socket.write(upgradeRequest('/slow').slice(0, 40));
    await received.untilEnd(INTERVAL_MS + 2000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(INTERVAL_MS - 20);
    expect(received.length).toBe(0);
    await waitFor(() => e.server.stats().closedBeforeOpen === 1, 5000, 'closedBeforeOpen');
    expect(e.opens.size).toBe(0);
    expect(e.closes.size).toBe(0);
  });

  it('a client that finishes its upgrade in time is not closed by the handshake deadline', async () => {
    const e = await fixture.start({ handshakeTimeoutMs: INTERVAL_MS, pingIntervalMs: 0 });
    const ws = await fixture.client(e.port);
    await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL_MS));
    expect(ws.readyState).toBe(ws.OPEN);
    expect((await echoEach(ws, ['in time']))[0]!.data.toString()).toBe('in time');
    expect(e.closes.size).toBe(0);
  });
});
