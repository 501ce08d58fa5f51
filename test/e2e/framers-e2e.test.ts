import { describe, expect, it } from 'vitest';
import { type ServerOptions, encodeLengthPrefixed, listen } from '../../src/main/index.ts';
import { Received, closeAll, connectMany, prng, randomBytes, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

interface Case {
  name: string;
  options: ServerOptions;
  /** Puts one message on the wire. */
  encode: (message: Buffer) => Buffer;
  /** A message the framing can carry. */
  message: (random: () => number) => Buffer;
}

const printable = (random: () => number): Buffer => {
  const bytes = randomBytes(random, 1 + Math.floor(random() * 300));
  for (let i = 0; i < bytes.length; i++) bytes[i] = 0x20 + (bytes[i]! % 90); // no CR or LF
  return bytes;
};

const cases: Case[] = [
  { name: 'raw', options: { framing: 'raw' }, encode: (m) => m, message: (r) => randomBytes(r, 1 + Math.floor(r() * 300)) },
  {
    name: 'delimiter "\\r\\n", stripped',
    options: { framing: 'delimiter', delimiter: '\r\n', keepDelimiter: false },
    encode: (m) => Buffer.concat([m, Buffer.from('\r\n')]),
    message: printable,
  },
  {
    name: 'length-prefix, 4-byte big-endian header kept (the default)',
    options: { framing: 'length-prefix' },
    encode: (m) => encodeLengthPrefixed({ lengthBytes: 4, littleEndian: false, lengthIncludesHeader: false }, m),
    message: (r) => randomBytes(r, Math.floor(r() * 300)),
  },
  {
    name: 'length-prefix, 2-byte little-endian counting the header, header stripped',
    options: { framing: 'length-prefix', lengthBytes: 2, littleEndian: true, lengthIncludesHeader: true, keepHeader: false },
    encode: (m) => encodeLengthPrefixed({ lengthBytes: 2, littleEndian: true, lengthIncludesHeader: true }, m),
    message: (r) => randomBytes(r, Math.floor(r() * 300)),
  },
];

describe('every framer over real sockets', () => {
  for (const c of cases) {
    it(`${c.name}: 1,000 connections get each frame as one event and their stream echoed intact`, async () => {
      const server = await listen({ port: 0, workers: 2, ...c.options });
      try {
        const recorder = new EventRecorder(server);
        const frames = new Map<number, number>();
        // Echo each frame in the wire format it came in: as is when the frame
        // keeps its header or delimiter, re-framed when the framer stripped it.
        const stripped = c.options.keepDelimiter === false || c.options.keepHeader === false;
        server.on('data', (id, data) => {
          frames.set(id, (frames.get(id) ?? 0) + 1);
          server.send(id, stripped ? server.frame(data) : data);
        });
        const sockets = await connectMany(server.port, 1000);
        const random = prng(c.name.length);
        const streams = sockets.map((socket) => {
          const wire = Buffer.concat(Array.from({ length: 20 }, () => c.encode(c.message(random))));
          // Cut the stream into writes at random points, so frames and headers split.
          let at = 0;
          while (at < wire.length) {
            const cut = Math.min(wire.length, at + 1 + Math.floor(random() * 400));
            socket.write(wire.subarray(at, cut));
            at = cut;
          }
          return wire;
        });
        const received = sockets.map((socket) => new Received(socket));
        await Promise.all(received.map((r, i) => r.until(streams[i]!.length, 30_000)));
        received.forEach((r, i) => {
          expect(r.bytes().equals(streams[i]!)).toBe(true);
        });
        if (c.options.framing !== 'raw') {
          expect([...frames.values()].every((n) => n === 20)).toBe(true);
          expect(server.stats().framesIn).toBe(20_000);
        }
        await closeAll(sockets);
        await waitFor(() => recorder.closed.size === 1000, 10_000, 'closes');
        expect(recorder.violations).toEqual([]);
      } finally {
        await server.shutdown();
      }
    });
  }
});
