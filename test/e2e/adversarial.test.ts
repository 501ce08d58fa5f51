import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { listen } from '../../src/main/index.ts';
import { connectMany, echoLengthPrefixed, prng, randomBytes, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

function misbehave(port: number, kind: number, random: () => number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.on('error', () => {});
    socket.on('close', () => resolve());
    socket.on('connect', () => {
      switch (kind) {
        case 0: // random garbage, then hang up
          socket.end(randomBytes(random, 1 + Math.floor(random() * 5000)));
          break;
        case 1: // a header announcing 2^32 - 1 bytes
          socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
          break;
        case 2: // connect and reset at once
          socket.resetAndDestroy();
          break;
        case 3: // half a header, then reset
          socket.write(Buffer.from([0]));
          setTimeout(() => socket.resetAndDestroy(), 5);
          break;
        default: // a valid frame, then garbage that announces too much
          socket.write(Buffer.from([0, 0, 0, 1, 0x41, 0x7f, 0xff, 0xff, 0xff]));
          break;
      }
      setTimeout(() => socket.destroy(), 2000);
    });
  });
}

describe('adversarial clients', () => {
  it('garbage, 2^32-byte headers and connect-reset storms leave the server healthy and every good client intact', async () => {
    const server = await listen({ port: 0, workers: 2, framing: 'length-prefix', maxFrameBytes: 64 * 1024 });
    try {
      const recorder = new EventRecorder(server, { echo: true });
      const good = await connectMany(server.port, 100);
      const conversations = Promise.all(good.map((socket, i) => echoLengthPrefixed(socket, i, 40, 2000, 777)));
      const random = prng(99);
      const storms: Promise<void>[] = [];
      for (let wave = 0; wave < 10; wave++) {
        for (let i = 0; i < 100; i++) storms.push(misbehave(server.port, Math.floor(random() * 5), random));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await Promise.all([conversations, Promise.all(storms)]);
      await waitFor(() => recorder.closed.size === recorder.opened.size - 100, 10_000, 'every misbehaving connection to close');
      expect(recorder.violations).toEqual([]);
      const reasons = recorder.reasons();
      expect(reasons['frame-too-large'] ?? 0).toBeGreaterThan(0);
      for (const reason of Object.keys(reasons)) expect(['peer', 'error', 'frame-too-large']).toContain(reason);
      // Still healthy: a fresh client converses after the storm.
      const [fresh] = await connectMany(server.port, 1);
      await echoLengthPrefixed(fresh!, 1234, 10, 2000, 777);
      for (const socket of [...good, fresh!]) socket.destroy();
    } finally {
      await server.shutdown();
    }
  });
});
