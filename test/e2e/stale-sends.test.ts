import { afterEach, describe, expect, it } from 'vitest';
import { FlamingoError, type Server, listen } from '../../src/main/index.ts';
import { encodeId } from '../../src/shared/id.ts';
import { Received, closeAll, connect, connectMany, converse, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

describe('stale and invalid ids', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('ten thousand sends to a closed id reach no other connection and leave the server healthy', async () => {
    // One worker and more than REUSE_DELAY churned connections, so the dead id's slot is reused.
    const s = (server = await listen({ port: 0, workers: 1 }));
    const recorder = new EventRecorder(s, { echo: true });
    const victim = await connect(s.port);
    await waitFor(() => recorder.opened.size === 1, 5000, 'open');
    const deadId = [...recorder.opened][0]!;
    victim.destroy();
    await waitFor(() => recorder.closed.has(deadId), 5000, 'close');

    // Churn connections until a live one sits in the dead id's slot with a
    // newer generation (slots are reused after a delay; bounded rounds).
    const sameSlot = (id: number): boolean => Math.floor(id / 2 ** 18) === Math.floor(deadId / 2 ** 18);
    const others: Awaited<ReturnType<typeof connectMany>> = [];
    for (let round = 0; round < 12; round++) {
      const batch = await connectMany(s.port, 250);
      await waitFor(() => recorder.opened.size - recorder.closed.size === others.length + batch.length, 10_000, 'opens');
      const live = [...recorder.opened].filter((id) => !recorder.closed.has(id));
      if (live.some(sameSlot)) {
        others.push(...batch);
        break;
      }
      const closes = recorder.closed.size;
      await closeAll(batch);
      await waitFor(() => recorder.closed.size === closes + batch.length, 10_000, 'churn closes');
    }
    const received = others.map((socket) => new Received(socket));
    const liveIds = [...recorder.opened].filter((id) => !recorder.closed.has(id));
    expect(liveIds.some(sameSlot)).toBe(true);

    for (let i = 0; i < 10_000; i++) expect(s.send(deadId, 'not for you')).toBe(true);
    await waitFor(() => s.stats().staleSends === 10_000, 10_000, 'stale sends counted');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received.every((r) => r.length === 0)).toBe(true);
    // Healthy: every connection still echoes.
    await Promise.all(others.map((socket, i) => converse(socket, i, 10)));
    expect(recorder.violations).toEqual([]);
    for (const socket of others) socket.destroy();
  });

  it('garbage ids are refused with ERR_FLAMINGO_INVALID_ID and send nothing', async () => {
    const s = (server = await listen({ port: 0, workers: 2 }));
    const garbage: unknown[] = [0, -1, 1.5, NaN, Infinity, '42', null, undefined, {}, 2 ** 53, 2 ** 18 /* generation 0 */];
    for (const id of garbage) {
      expect(() => s.send(id as number, 'x')).toThrowError(FlamingoError);
      try {
        s.send(id as number, 'x');
      } catch (error) {
        expect((error as FlamingoError).code).toBe('ERR_FLAMINGO_INVALID_ID');
      }
    }
    // A well-formed id naming a worker this server does not have, or another node.
    expect(() => s.send(encodeId(0, 5, 1, 1), 'x')).toThrowError(/not a connection id of this server/);
    expect(() => s.close(encodeId(3, 0, 1, 1))).toThrowError(FlamingoError);
    // sendMany validates every id before sending any.
    const recorder = new EventRecorder(s);
    const socket = await connect(s.port);
    const received = new Received(socket);
    await waitFor(() => recorder.opened.size === 1, 5000, 'open');
    const good = [...recorder.opened][0]!;
    expect(() => s.sendMany([good, -5], 'x')).toThrowError(FlamingoError);
    expect(() => s.send(good, 42 as unknown as string)).toThrowError(/Uint8Array, Buffer or string/);
    s.send(good, 'ok');
    await received.until(2);
    expect(received.bytes().toString()).toBe('ok');
    socket.destroy();
  });
});
