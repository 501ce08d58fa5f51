// An incomplete last frame when a connection closes cannot be delivered
// (it would be a cut frame); it is discarded and counted.

import { afterEach, describe, expect, it } from 'vitest';
import { type Server, type ServerOptions, listen } from '../../src/main/index.ts';
import { connectMany, waitFor } from '../helpers/clients.ts';

describe('truncated frames', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  const cases: Array<[string, ServerOptions, string]> = [
    ['delimiter', { framing: 'delimiter' }, 'whole\npart'],
    ['length-prefix (a cut payload)', { framing: 'length-prefix', lengthBytes: 1 }, '\u0003abc\u0005ab'],
    ['length-prefix (a cut header)', { framing: 'length-prefix', lengthBytes: 4 }, '\u0000\u0000\u0000\u0001x\u0000\u0000'],
  ];
  for (const [name, options, wire] of cases) {
    it(`${name}: a client that closes mid-frame has its whole frames delivered and the cut one counted in truncatedFrames`, async () => {
      const s = (server = await listen({ port: 0, workers: 1, ...options }));
      const frames: number[] = [];
      const closes: string[] = [];
      s.on('data', (_id, data) => frames.push(data.length));
      s.on('close', (_id, reason) => closes.push(reason));
      const [socket] = await connectMany(s.port, 1);
      socket!.end(Buffer.from(wire, 'latin1'));
      await waitFor(() => closes.length === 1, 5000, 'close');
      expect(frames.length).toBe(1);
      expect(closes).toEqual(['peer']);
      expect(s.stats().truncatedFrames).toBe(1);
      expect(s.stats().workers[0]!.truncatedFrames).toBe(1);
    });
  }

  it('a client that closes between frames truncates nothing', async () => {
    const s = (server = await listen({ port: 0, workers: 1, framing: 'delimiter' }));
    const closes: string[] = [];
    s.on('close', (_id, reason) => closes.push(reason));
    const [socket] = await connectMany(s.port, 1);
    socket!.end('one\ntwo\n');
    await waitFor(() => closes.length === 1, 5000, 'close');
    expect(s.stats().truncatedFrames).toBe(0);
  });
});
