// A send is one message: delivered whole or not at all, never cut. The
// slowConsumer policy judges the message as a whole before any of it is
// written; a message larger than maxBufferedBytes, which no socket could
// ever take, is refused at the call with a coded error.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FlamingoError, type Server, type ServerOptions, listen } from '../../src/main/index.ts';
import { Received, prng, randomBytes, waitFor } from '../helpers/clients.ts';

const MiB = 1024 * 1024;

async function serverWithOneClient(options: ServerOptions): Promise<{ s: Server; id: number; client: net.Socket }> {
  const s = await listen({ port: 0, workers: 1, ...options });
  let id = -1;
  s.on('open', (opened) => {
    id = opened;
  });
  const client = net.connect({ port: s.port, host: '127.0.0.1' });
  client.on('error', () => {});
  await waitFor(() => id >= 0, 5000, 'open');
  return { s, id, client };
}

describe('large sends', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown({ drainMs: 1000 });
    server = undefined;
  });

  it('a send of maxBufferedBytes + 1 bytes throws ERR_FLAMINGO_PAYLOAD_TOO_LARGE naming the option, and sends nothing', async () => {
    const { s, id, client } = await serverWithOneClient({});
    server = s;
    const received = new Received(client);
    for (const call of [() => s.send(id, new Uint8Array(MiB + 1)), () => s.send(id, 'x'.repeat(MiB + 1)), () => s.sendMany([id], new Uint8Array(50 * MiB))]) {
      expect(call).toThrow(FlamingoError);
      expect(call).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_PAYLOAD_TOO_LARGE', message: expect.stringContaining('maxBufferedBytes') }));
    }
    // A string whose UTF-8 form is over the limit though its length is not.
    expect(() => s.send(id, 'é'.repeat(MiB / 2 + 1))).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_PAYLOAD_TOO_LARGE' }));
    // Exactly the limit, to a client that reads, arrives whole.
    const payload = randomBytes(prng(7), MiB);
    expect(s.send(id, payload)).toBe(true);
    await received.until(MiB);
    expect(received.bytes().equals(payload)).toBe(true);
    expect(s.stats().closed['slow-consumer']).toBe(0);
    client.destroy();
  });

  for (const slowConsumer of ['close', 'drop'] as const) {
    it(`slowConsumer ${slowConsumer}: a 5 MiB send, larger than a command record, reaches a reading client whole`, async () => {
      const { s, id, client } = await serverWithOneClient({ slowConsumer, maxBufferedBytes: 8 * MiB });
      server = s;
      const received = new Received(client);
      const payload = randomBytes(prng(11), 5 * MiB);
      s.send(id, payload);
      await received.until(payload.length);
      expect(received.bytes().equals(payload)).toBe(true);
      expect(s.stats().droppedSends).toBe(0);
      expect(s.stats().sends).toBe(1);
      client.destroy();
    });
  }

  it('slowConsumer drop: to a client that stops reading, each 2.5 MiB message arrives whole or not at all, in order', async () => {
    const size = 2.5 * MiB;
    const { s, id, client } = await serverWithOneClient({ slowConsumer: 'drop', maxBufferedBytes: 3 * MiB });
    server = s;
    client.pause();
    const messages = 12;
    for (let i = 0; i < messages; i++) s.send(id, Buffer.alloc(size, 0x41 + i));
    await waitFor(() => s.stats().sends + s.stats().droppedSends === messages, 10_000, 'every message written or dropped');
    const { sends, droppedSends } = s.stats();
    expect(droppedSends).toBeGreaterThan(0);
    const received = new Received(client);
    client.resume();
    await received.until(sends * size);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const bytes = received.bytes();
    expect(bytes.length).toBe(sends * size);
    // Cut into messages: each is one fill byte throughout, and they rise.
    let previous = 0;
    for (let at = 0; at < bytes.length; at += size) {
      const fill = bytes[at]!;
      expect(bytes.subarray(at, at + size).every((b) => b === fill)).toBe(true);
      expect(fill).toBeGreaterThan(previous);
      previous = fill;
    }
    client.destroy();
  });
});
