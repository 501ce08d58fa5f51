// A client that sends a request and then shuts its write side (nc -N,
// scripts, HTTP/1.0-style clients) still reads: the reply must reach it.
// The worker reports the close ('peer') at once, keeps the write side open
// until the consumer has handed that close out and what it sent before is
// written, then ends the socket; closeTimeoutMs bounds the wait.

import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, type ServerOptions, encodeLengthPrefixed, listen } from '../../src/main/index.ts';
import { waitFor } from '../helpers/clients.ts';

/** Writes `request`, half-closes, and collects everything until the server's FIN (or a reset). */
function requestThenHalfClose(port: number, request: Uint8Array, timeoutMs = 10_000): Promise<{ reply: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let ended = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no FIN within ${timeoutMs} ms; got ${Buffer.concat(chunks).length} bytes`));
    }, timeoutMs);
    socket.on('connect', () => socket.end(request));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      ended = true;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks), ended });
    });
  });
}

const FRAMINGS: Array<{ name: string; options: ServerOptions; request: Uint8Array }> = [
  { name: 'raw', options: { framing: 'raw' }, request: Buffer.from('hello') },
  { name: 'delimiter', options: { framing: 'delimiter' }, request: Buffer.from('hello\n') },
  {
    name: 'length-prefix',
    options: { framing: 'length-prefix' },
    request: encodeLengthPrefixed({ lengthBytes: 4, littleEndian: false, lengthIncludesHeader: false }, Buffer.from('hello')),
  },
];

describe('half-closed clients get their replies', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown({ drainMs: 1000 });
    server = undefined;
  });

  for (const { name, options, request } of FRAMINGS) {
    it(`${name} framing: 200 clients each send a request and half-close; each gets its echo, then FIN, and one close with peer`, async () => {
      const s = (server = await listen({ port: 0, workers: 2, ...options }));
      const closes: string[] = [];
      s.on('data', (id, data) => s.send(id, data));
      s.on('close', (_id, reason) => closes.push(reason));
      const results = await Promise.all(Array.from({ length: 200 }, () => requestThenHalfClose(s.port, request)));
      for (const { reply, ended } of results) {
        expect(reply.equals(Buffer.from(request))).toBe(true);
        expect(ended).toBe(true);
      }
      await waitFor(() => closes.length === 200, 5000, 'closes');
      expect(new Set(closes)).toEqual(new Set(['peer']));
      expect(s.stats().staleSends).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(closes.length).toBe(200);
    });
  }

  it('a reply sent after an await in the data listener still arrives, because it was sent before the close was handed out', async () => {
    const s = (server = await listen({ port: 0, workers: 1, framing: 'delimiter' }));
    const pending: Array<() => void> = [];
    // The reply goes out from a later turn: the close event is queued behind it.
    s.on('data', (id, data) => {
      const copy = Buffer.from(data);
      pending.push(() => s.send(id, Buffer.concat([Buffer.from('re: '), copy])));
      queueMicrotask(() => pending.shift()?.());
    });
    const { reply } = await requestThenHalfClose(s.port, Buffer.from('ping\n'));
    expect(reply.toString()).toBe('re: ping\n');
  });

  it('pull loops: a recvData loop answers half-closed clients', async () => {
    const s = (server = await listen({ port: 0, workers: 2, framing: 'delimiter' }));
    const loop = async (): Promise<void> => {
      for (let event = await s.recvData(); event !== null; event = await s.recvData()) s.send(event.id, event.data);
    };
    const closes: string[] = [];
    const closeLoop = async (): Promise<void> => {
      for (let event = await s.recvClose(); event !== null; event = await s.recvClose()) closes.push(event.reason);
    };
    const loops = [loop(), loop(), closeLoop()];
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => requestThenHalfClose(s.port, Buffer.from(`request ${i}\n`))));
    results.forEach(({ reply, ended }, i) => {
      expect(reply.toString()).toBe(`request ${i}\n`);
      expect(ended).toBe(true);
    });
    await waitFor(() => closes.length === 100, 5000, 'closes');
    await s.shutdown();
    await Promise.all(loops);
    server = undefined;
  });

  it('a pull server that never pulls closes still answers and ends half-closed clients', async () => {
    const s = (server = await listen({ port: 0, workers: 1, framing: 'delimiter', closeTimeoutMs: 60_000 }));
    const loop = async (): Promise<void> => {
      for (let event = await s.recvData(); event !== null; event = await s.recvData()) s.send(event.id, event.data);
    };
    const running = loop();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => requestThenHalfClose(s.port, Buffer.from(`q${i}\n`))));
    results.forEach(({ reply, ended }, i) => {
      expect(reply.toString()).toBe(`q${i}\n`);
      expect(ended).toBe(true);
    });
    await s.shutdown();
    await running;
    server = undefined;
  });

  it('a blocking pipeline thread answers half-closed clients', async () => {
    const s = (server = await listen({ port: 0, workers: 2, framing: 'delimiter', consumer: 'external' }));
    const handle = await s.pipelineHandle({ consume: true });
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const thread = new Worker(new URL('../helpers/blocking-echo.ts', import.meta.url), { workerData: { handle, mode: 'next', stop } });
    thread.on('error', () => {});
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => requestThenHalfClose(s.port, Buffer.from(`line ${i}\n`))));
      results.forEach(({ reply, ended }, i) => {
        expect(reply.toString()).toBe(`line ${i}\n`);
        expect(ended).toBe(true);
      });
    } finally {
      await s.shutdown();
      server = undefined;
      Atomics.store(stop, 0, 1);
      await thread.terminate();
    }
  });

  it('a half-closed client whose close the server answers with nothing gets its FIN at once, long before closeTimeoutMs', async () => {
    const s = (server = await listen({ port: 0, workers: 1, closeTimeoutMs: 60_000 }));
    const closes: string[] = [];
    s.on('close', (_id, reason) => closes.push(reason));
    const { reply, ended } = await requestThenHalfClose(s.port, Buffer.from('anyone?'), 10_000);
    expect(reply.length).toBe(0);
    expect(ended).toBe(true);
    expect(closes).toEqual(['peer']);
    expect(s.stats().connections).toBe(0);
  });

  it('a half-closed client that never reads is cut off after closeTimeoutMs, its unsent bytes counted, with one close (peer)', async () => {
    const s = (server = await listen({ port: 0, workers: 1, closeTimeoutMs: 500, maxBufferedBytes: 64 * 1024 * 1024 }));
    const closes: string[] = [];
    const big = Buffer.alloc(32 * 1024 * 1024, 0x62);
    s.on('data', (id) => s.send(id, big));
    s.on('close', (_id, reason) => closes.push(reason));
    let id = -1;
    s.on('open', (opened) => {
      id = opened;
    });
    const socket = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => {});
    socket.pause();
    socket.on('connect', () => socket.end('x'));
    await waitFor(() => closes.length === 1, 5000, 'the close event');
    expect(closes).toEqual(['peer']);
    // The id is closed for queries at once, though its socket is still flushing.
    expect(await s.connection(id)).toBeNull();
    expect(s.stats()).toMatchObject({ connections: 0, closing: 1 });
    // The server destroys the socket once closeTimeoutMs has passed since the FIN.
    await waitFor(() => s.stats().abandonedBytes > 0, 10_000, 'the socket to be cut off');
    await waitFor(() => s.stats().closing === 0, 5000, 'the socket to be gone');
    expect(s.stats().abandonedBytes).toBeLessThanOrEqual(big.length);
    // The client, reading at last, finds the connection reset before the whole payload.
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    const gone = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.resume();
    await gone;
    expect(received).toBeLessThan(big.length);
    expect(closes).toEqual(['peer']);
    socket.destroy();
  });
});
