// A protocol's own close codes (a WebSocket close code, for the built-in
// one) reach the application with the close event: as the listener's third
// argument, as `code` on pulled items and on a pipeline's close events. A
// protocol's closing() says goodbye when the application or a shutdown
// closes a connection, and its code comes with that close. A code out of
// range or a farewell that is not bytes is a protocol error, and the
// connection closes all the same. (test/fixtures/protocols/close-codes.ts)

import { afterEach, describe, expect, it } from 'vitest';
import { type CloseReason, type Server, listen, openPipeline } from '../../src/main/index.ts';
import { LOCAL_CODE, SHUTDOWN_CODE } from '../fixtures/protocols/close-codes.ts';
import { waitFor } from '../helpers/clients.ts';
import { LineClient } from '../helpers/line-client.ts';

const MODULE = new URL('../fixtures/protocols/close-codes.ts', import.meta.url);

describe("a protocol's close codes", () => {
  let server: Server | undefined;
  const clients: LineClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.shutdown({ drainMs: 1000 });
    server = undefined;
  });

  async function client(port: number): Promise<LineClient> {
    const c = await LineClient.open(port);
    clients.push(c);
    return c;
  }

  function recordCloses(s: Server): Array<[CloseReason, number | undefined]> {
    const closes: Array<[CloseReason, number | undefined]> = [];
    s.on('close', (_id, reason, code) => closes.push([reason, code]));
    return closes;
  }

  it("the code given to host.close() is the close listener's third argument; without one it is undefined", async () => {
    const s = (server = await listen({ port: 0, workers: 1, protocol: { module: MODULE } }));
    const closes = recordCloses(s);
    const quitting = await client(s.port);
    quitting.send('hello', 'QUIT 4242');
    await quitting.until('BYE 4242');
    await quitting.untilEnd();
    (await client(s.port)).destroy();
    await waitFor(() => closes.length === 2, 5000, 'two close events');
    expect(closes).toEqual([
      ['peer', 4242],
      ['peer', undefined],
    ]);
  });

  it("closing() writes its farewell last when the application closes, and its code comes with 'local'", async () => {
    const s = (server = await listen({ port: 0, workers: 1, protocol: { module: MODULE } }));
    const closes = recordCloses(s);
    s.on('data', (id) => {
      s.send(id, 'answer\n');
      s.close(id);
    });
    const c = await client(s.port);
    c.send('close me');
    await c.untilEnd();
    expect(c.lines).toEqual(['answer', 'local']);
    await waitFor(() => closes.length === 1, 5000, 'the close event');
    expect(closes).toEqual([['local', LOCAL_CODE]]);
  });

  it("at shutdown every open connection gets the farewell, and the code comes with 'shutdown'", async () => {
    const s = await listen({ port: 0, workers: 2, protocol: { module: MODULE } });
    const closes = recordCloses(s);
    let opens = 0;
    s.on('open', () => opens++);
    const all = await Promise.all([client(s.port), client(s.port), client(s.port)]);
    await waitFor(() => opens === 3, 5000, 'three opens');
    await s.shutdown({ drainMs: 1000 });
    for (const c of all) {
      await c.untilEnd();
      expect(c.lines).toEqual(['shutdown']);
    }
    expect(closes).toEqual(Array(3).fill(['shutdown', SHUTDOWN_CODE]));
  });

  it('recvClose() items and a blocking pipeline’s close events carry the code', async () => {
    const s = (server = await listen({ port: 0, workers: 1, protocol: { module: MODULE } }));
    const pulled = s.recvClose();
    const c = await client(s.port);
    c.send('QUIT 3001');
    expect(await pulled).toMatchObject({ reason: 'peer', code: 3001 });

    const external = await listen({ port: 0, workers: 1, protocol: { module: MODULE }, consumer: 'external' });
    try {
      const pipe = openPipeline(await external.pipelineHandle({ consume: true }));
      const d = await client(external.port);
      d.send('QUIT 3002');
      await d.untilEnd();
      const events = [pipe.next(2000), pipe.next(2000)];
      expect(events[1]).toEqual({ type: 'close', id: events[0]?.id, reason: 'peer', code: 3002 });
      const e = await client(external.port);
      e.send('x');
      e.destroy();
      const rest = [pipe.next(2000), pipe.next(2000), pipe.next(2000)];
      expect(rest.map((event) => event?.type)).toEqual(['open', 'data', 'close']);
      expect(rest[2]).not.toHaveProperty('code');
      const f = await client(external.port);
      f.send('QUIT 3003');
      expect(pipe.next(2000)?.type).toBe('open');
      expect(pipe.recvClose(2000)).toMatchObject({ reason: 'peer', code: 3003 });
    } finally {
      await external.shutdown({ drainMs: 1000 });
    }
  });

  it('a code out of range and a farewell that is not bytes are protocol errors; the connections close all the same', async () => {
    const s = (server = await listen({ port: 0, workers: 1, protocol: { module: MODULE, options: { broken: true } } }));
    const closes = recordCloses(s);
    const quitting = await client(s.port);
    quitting.send('QUIT 70000');
    await quitting.untilEnd();
    expect(quitting.lines).toEqual([]);
    s.on('data', (id) => s.close(id));
    const closed = await client(s.port);
    closed.send('close me');
    await closed.untilEnd();
    expect(closed.lines).toEqual([]);
    await waitFor(() => closes.length === 2, 5000, 'two close events');
    expect(closes).toEqual([
      ['error', undefined],
      ['local', undefined],
    ]);
    expect(s.stats().protocolErrors).toBe(2);
  });
});
