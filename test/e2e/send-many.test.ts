import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { Received, connectMany, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

describe('sendMany', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('delivers one payload to 1,000 connections on 2 workers, each exactly once and in order with sends', async () => {
    const s = (server = await listen({ port: 0, workers: 2 }));
    const recorder = new EventRecorder(s);
    const sockets = await connectMany(s.port, 1000);
    const received = sockets.map((socket) => new Received(socket));
    await waitFor(() => recorder.opened.size === 1000, 5000, 'opens');
    const ids = [...recorder.opened];
    for (const id of ids) s.send(id, 'a:');
    s.sendMany(ids, Buffer.from('broadcast;'));
    s.sendMany(ids, 'second;');
    for (const id of ids) s.send(id, ':z');
    const expected = 'a:broadcast;second;:z';
    await Promise.all(received.map((r) => r.until(expected.length)));
    for (const r of received) expect(r.bytes().toString()).toBe(expected);
    expect(s.stats().workers.every((w) => w.sends > 0)).toBe(true);
    for (const socket of sockets) socket.destroy();
  });

  it('splits a broadcast to more ids than one record holds', async () => {
    // A small command ring: 8 KiB holds at most ~500 ids per record.
    const s = (server = await listen({ port: 0, workers: 1, commandRingBytes: 8192 }));
    const recorder = new EventRecorder(s);
    const sockets = await connectMany(s.port, 1500);
    const received = sockets.map((socket) => new Received(socket));
    await waitFor(() => recorder.opened.size === 1500, 5000, 'opens');
    const payload = Buffer.alloc(300, 0x61);
    const accepted = s.sendMany([...recorder.opened], payload);
    if (!accepted) await new Promise<void>((resolve) => s.once('drain', () => resolve()));
    await Promise.all(received.map((r) => r.until(300)));
    for (const r of received) expect(r.bytes().equals(payload)).toBe(true);
    for (const socket of sockets) socket.destroy();
  });
});
