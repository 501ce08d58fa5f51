// The connection table as a part: slots, generations in shared memory, and
// the delayed FIFO reuse that keeps a stale id stale.

import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createSlotStatesStorage } from '../../src/shared/control.ts';
import { ConnectionTable, SlotFlag } from '../../src/worker/connection-table.ts';

const socket = {} as Socket;

describe('ConnectionTable', () => {
  it('hands out fresh slots first, with generation 1, and reuses a freed slot only after 1,024 other frees', () => {
    const table = new ConnectionTable(createSlotStatesStorage(4096), 4096);
    const first = table.allocate(socket);
    expect(first).toBe(0);
    expect(table.generation(first)).toBe(1);
    table.release(first);
    // 1,024 more connections come and go: slot 0 waits behind them.
    const churned: number[] = [];
    for (let i = 0; i < 1024; i++) {
      const slot = table.allocate(socket);
      churned.push(slot);
      table.release(slot);
    }
    expect(churned).not.toContain(first);
    // Now the free queue is over its delay: the oldest free slot (0) comes back with the next generation.
    const reused = table.allocate(socket);
    expect(reused).toBe(first);
    expect(table.generation(reused)).toBe(2);
    expect(table.live(reused, 1)).toBeUndefined();
    expect(table.live(reused, 2)).toBe(socket);
  });

  it('a full table reuses freed slots at once, and refuses (-1) when none is free', () => {
    const table = new ConnectionTable(createSlotStatesStorage(2), 2);
    expect(table.allocate(socket)).toBe(0);
    expect(table.allocate(socket)).toBe(1);
    expect(table.allocate(socket)).toBe(-1);
    table.release(1);
    expect(table.allocate(socket)).toBe(1);
    expect(table.open).toBe(2);
  });

  it('a closing slot takes no more sends, but its socket stays findable until released; the first close reason wins', () => {
    const table = new ConnectionTable(createSlotStatesStorage(8), 8);
    const slot = table.allocate(socket);
    const generation = table.generation(slot);
    table.decideClose(slot, 3);
    table.decideClose(slot, 1);
    expect(table.closeCode[slot]).toBe(4);
    table.flags[slot]! |= SlotFlag.CLOSING;
    expect(table.live(slot, generation)).toBeUndefined();
    expect(table.current(slot, generation)).toBe(socket);
    // Open for queries until its close event is written, while the socket still flushes.
    expect(table.isOpen(slot)).toBe(true);
    table.flags[slot]! |= SlotFlag.REPORTED;
    expect(table.isOpen(slot)).toBe(false);
    table.release(slot);
    expect(table.current(slot, generation)).toBeUndefined();
  });
});
