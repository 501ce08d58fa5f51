import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { connectMany, prng, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

describe("delimiter framing (the Go original's BufferTillDelim)", () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('delivers each newline-terminated message as one data event, delimiter kept, however the client splits its writes', async () => {
    const s = (server = await listen({ port: 0, workers: 2, framing: 'delimiter', delimiter: '\n' }));
    const recorder = new EventRecorder(s, { keepData: true });
    const sockets = await connectMany(s.port, 300);
    const random = prng(42);
    const sent = new Map<number, string[]>();
    await waitFor(() => recorder.opened.size === 300, 5000, 'opens');
    // Each client sends 30 lines, cut into writes at random points.
    const perSocket = sockets.map((socket, i) => {
      const lines = Array.from({ length: 30 }, (_, j) => `client ${i} line ${j} ${'x'.repeat(Math.floor(random() * 300))}\n`);
      sent.set(i, lines);
      const stream = Buffer.from(lines.join(''));
      let at = 0;
      while (at < stream.length) {
        const cut = Math.min(stream.length, at + 1 + Math.floor(random() * 200));
        socket.write(stream.subarray(at, cut));
        at = cut;
      }
      return lines;
    });
    await waitFor(() => [...recorder.data.values()].reduce((n, frames) => n + frames.length, 0) === 300 * 30, 20_000, 'all frames');
    const byFirstLine = new Map<string, string[]>();
    for (const frames of recorder.data.values()) {
      const texts = frames.map((f) => f.toString());
      byFirstLine.set(texts[0]!, texts);
    }
    for (const lines of perSocket) expect(byFirstLine.get(lines[0]!)).toEqual(lines);
    for (const socket of sockets) socket.destroy();
  });

  it('a frame over maxFrameBytes closes only that connection, with frame-too-large', async () => {
    const s = (server = await listen({ port: 0, workers: 1, framing: 'delimiter', maxFrameBytes: 1024 }));
    const recorder = new EventRecorder(s, { echo: true });
    const [bad, good] = await connectMany(s.port, 2);
    await waitFor(() => recorder.opened.size === 2, 5000, 'opens');
    bad!.on('error', () => {});
    bad!.write('y'.repeat(5000));
    await waitFor(() => recorder.closed.size === 1, 5000, 'the oversize connection to close');
    expect([...recorder.closed.values()]).toEqual(['frame-too-large']);
    const echoed = new Promise<string>((resolve) => good!.once('data', (d) => resolve(d.toString())));
    good!.write('still here\n');
    expect(await echoed).toBe('still here\n');
    good!.destroy();
  });
});
