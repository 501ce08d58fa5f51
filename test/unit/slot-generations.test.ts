import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createSlotStatesStorage } from '../../src/shared/control.ts';
import { ConnectionTable } from '../../src/worker/connection-table.ts';

const socket = {} as Socket;

describe('slot generations', () => {
  it("a replacement worker's table goes on from the generations the dead one gave out, so no id repeats", () => {
    const storage = createSlotStatesStorage(4);
    const dead = new ConnectionTable(storage, 4);
    const given = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const slot = dead.allocate(socket);
      given.add(`${slot}:${dead.generation(slot)}`);
    }
    dead.release(1);
    const reused = dead.allocate(socket);
    given.add(`${reused}:${dead.generation(reused)}`);

    const replacement = new ConnectionTable(storage, 4);
    for (let i = 0; i < 4; i++) {
      const slot = replacement.allocate(socket);
      const key = `${slot}:${replacement.generation(slot)}`;
      expect(given.has(key), key).toBe(false);
    }
  });

  it('a released slot keeps its generation, so its old id stays stale until the slot is given out again', () => {
    const table = new ConnectionTable(createSlotStatesStorage(2), 2);
    const slot = table.allocate(socket);
    const generation = table.generation(slot);
    table.release(slot);
    expect(table.generation(slot)).toBe(generation);
    expect(table.live(slot, generation)).toBeUndefined();
  });

  it("a run's generation base applies to every slot it has not used yet, and a replacement still goes on past what was given out", () => {
    const base = 70_000;
    const storage = createSlotStatesStorage(3, base);
    const first = new ConnectionTable(storage, 3);
    const a = first.allocate(socket);
    expect(first.generation(a)).toBe(base + 1);
    const replacement = new ConnectionTable(storage, 3);
    const again = replacement.allocate(socket);
    const fresh = replacement.allocate(socket);
    expect(replacement.generation(again)).toBe(base + 2);
    expect(replacement.generation(fresh)).toBe(base + 1);
  });
});
