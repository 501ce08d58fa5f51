// Read pauses as a part: which sockets stop reading while the event ring is
// full, and which read again once it has drained.

import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { StatField, createStatsStorage, statsView } from '../../src/shared/stats.ts';
import { ConnectionTable, SlotFlag } from '../../src/worker/connection-table.ts';
import { ReadPauses } from '../../src/worker/read-pauses.ts';

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
  const table = new ConnectionTable(new SharedArrayBuffer(4 * slots), slots);
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
