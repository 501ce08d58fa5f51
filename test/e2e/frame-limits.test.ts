import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { closeAll, connect, connectMany, echoLengthPrefixed, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

describe('maxFrameBytes', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  async function echoServer(options: Parameters<typeof listen>[0]): Promise<{ s: Server; recorder: EventRecorder }> {
    const s = (server = await listen({ port: 0, workers: 2, ...options }));
    return { s, recorder: new EventRecorder(s, { echo: true }) };
  }

  it('a length header over the limit closes only that connection with frame-too-large while 100 others keep echoing', async () => {
    const { s, recorder } = await echoServer({ framing: 'length-prefix', maxFrameBytes: 4096 });
    const others = await connectMany(s.port, 100);
    const echoing = Promise.all(others.map((socket, i) => echoLengthPrefixed(socket, i, 30, 3000)));
    const bad = await connect(s.port);
    bad.on('error', () => {});
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffffffff);
    bad.write(header);
    await waitFor(() => [...recorder.closed.values()].includes('frame-too-large'), 5000, 'the oversize connection to close');
    await echoing;
    expect([...recorder.closed.values()]).toEqual(['frame-too-large']);
    await closeAll(others);
  });

  it('a delimiter frame growing past the limit over many reads is refused; a frame of exactly the limit passes', async () => {
    const { s, recorder } = await echoServer({ framing: 'delimiter', maxFrameBytes: 1000 });
    const exact = await connect(s.port);
    const exactEcho = new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      exact.on('data', (d: Buffer) => {
        chunks.push(d);
        if (Buffer.concat(chunks).length === 1000) resolve(Buffer.concat(chunks));
      });
    });
    exact.write(`${'e'.repeat(999)}\n`);
    expect((await exactEcho).toString()).toBe(`${'e'.repeat(999)}\n`);
    const grower = await connect(s.port);
    grower.on('error', () => {});
    for (let i = 0; i < 20; i++) {
      grower.write('g'.repeat(60));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitFor(() => recorder.closed.size === 1, 5000, 'the growing connection to close');
    expect([...recorder.closed.values()]).toEqual(['frame-too-large']);
    exact.destroy();
  });

  it('a length header that cannot be valid (shorter than itself) closes with error', async () => {
    const { s, recorder } = await echoServer({ framing: 'length-prefix', lengthBytes: 2, lengthIncludesHeader: true });
    const bad = await connect(s.port);
    bad.on('error', () => {});
    bad.write(Buffer.from([0, 1]));
    await waitFor(() => recorder.closed.size === 1, 5000, 'close');
    expect([...recorder.closed.values()]).toEqual(['error']);
  });
});
