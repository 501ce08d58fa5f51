// Read pauses as a part: which sockets stop reading while the event ring is
// full, and which read again once it has drained; on real sockets, that a
// paused socket really stops reading (nothing more is taken from the kernel
// into the worker) and that everything arrives, in order, once resumed.

import { type Server, type Socket, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, prng, randomBytes } from '../helpers/clients.ts';
import { StatField, createStatsStorage, statsView } from '../../src/shared/stats.ts';
import { ConnectionTable, SlotFlag } from '../../src/worker/connection-table.ts';
import { ReadPauses } from '../../src/worker/read-pauses.ts';
import { createSlotStatesStorage } from '../../src/shared/control.ts';

class FakeSocket {
  pauses = 0;
  resumes = 0;
  pause(): void {
    this.pauses++;
  }
  resume(): void {
    this.resumes++;
  }
}

function setup(slots: number): { table: ConnectionTable; sockets: FakeSocket[]; stats: Float64Array; pauses: ReadPauses } {
  const table = new ConnectionTable(createSlotStatesStorage(slots), slots);
  const sockets = Array.from({ length: slots }, () => new FakeSocket());
  for (const socket of sockets) table.allocate(socket as unknown as Socket);
  const stats = statsView(createStatsStorage());
  return { table, sockets, stats, pauses: new ReadPauses(table, stats) };
}

describe('ReadPauses', () => {
  it('pauses a socket once however often its frames wait, and counts each pause', () => {
    const { table, sockets, stats, pauses } = setup(3);
    pauses.pause(1);
    pauses.pause(1);
    expect(sockets.map((s) => s.pauses)).toEqual([0, 1, 0]);
    expect(table.flags[1]! & SlotFlag.PAUSED_BY_RING).not.toBe(0);
    expect(stats[StatField.PAUSED_READS]).toBe(1);
  });

  it('pauseAll() stops every open socket, and resumeAll() lets each read again once', () => {
    const { table, sockets, stats, pauses } = setup(4);
    pauses.pause(2);
    table.release(3);
    pauses.pauseAll();
    expect(sockets.map((s) => s.pauses)).toEqual([1, 1, 1, 0]);
    expect(stats[StatField.PAUSED_READS]).toBe(3);
    pauses.resumeAll();
    pauses.resumeAll();
    expect(sockets.map((s) => s.resumes)).toEqual([1, 1, 1, 0]);
    for (let slot = 0; slot < 3; slot++) expect(table.flags[slot]! & SlotFlag.PAUSED_BY_RING).toBe(0);
  });

  it('does not resume a slot whose connection closed while paused', () => {
    const { table, sockets, pauses } = setup(2);
    pauses.pause(0);
    table.release(0);
    pauses.resumeAll();
    expect(sockets[0]!.resumes).toBe(0);
  });
});

describe('ReadPauses on real sockets', () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    sockets.length = 0;
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = undefined;
  });

  /** `count` connections; each accepted socket sits in a table slot and reads like a worker's (a 'data' listener). */
  async function accepted(count: number): Promise<{ table: ConnectionTable; pauses: ReadPauses; clients: Socket[]; received: Buffer[][] }> {
    const table = new ConnectionTable(createSlotStatesStorage(count), count);
    const pauses = new ReadPauses(table, statsView(createStatsStorage()));
    const received: Buffer[][] = [];
    const s = (server = createServer({ allowHalfOpen: true }, (socket) => {
      sockets.push(socket);
      const slot = table.allocate(socket);
      received[slot] = [];
      socket.on('data', (chunk: Buffer) => received[slot]!.push(chunk));
    }));
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = (s.address() as { port: number }).port;
    const clients: Socket[] = [];
    for (let i = 0; i < count; i++) {
      const client = await connect(port);
      sockets.push(client);
      clients.push(client);
      // One byte through first, so the accepted socket is in its slot and reading.
      client.write('>');
      await waitUntil(() => received[i]?.length === 1, 5000, `connection ${i} to deliver its first byte`);
    }
    return { table, pauses, clients, received };
  }

  it('a socket paused by pause() or pauseAll() takes nothing more from the kernel, and resumeAll() delivers every byte in order', async () => {
    const { table, pauses, clients, received } = await accepted(3);
    pauses.pause(0);
    pauses.pauseAll();
    const payloads = clients.map((_, i) => randomBytes(prng(i + 1), 512 * 1024));
    for (const [i, client] of clients.entries()) client.write(payloads[i]!);
    // Long enough for the kernel to hand a reading socket several 64 KiB reads.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let slot = 0; slot < 3; slot++) {
      const socket = table.sockets[slot]!;
      expect(socket.readableLength, `bytes slot ${slot} read into its stream while paused`).toBe(0);
      expect(received[slot]!.length, `data events of slot ${slot} while paused`).toBe(1);
    }
    pauses.resumeAll();
    for (let slot = 0; slot < 3; slot++) {
      const expected = Buffer.concat([Buffer.from('>'), payloads[slot]!]);
      await waitUntil(() => Buffer.concat(received[slot]!).length >= expected.length, 10_000, `slot ${slot} to receive everything`);
      expect(Buffer.concat(received[slot]!).equals(expected)).toBe(true);
    }
  });
});

function waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + timeoutMs;
    const check = (): void => {
      if (done()) resolve();
      else if (performance.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(check, 5);
    };
    check();
  });
}
