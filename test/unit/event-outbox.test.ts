// The I/O worker's event outbox as a part: a real event ring in one thread,
// a consumer that drains it on demand, the stash, the over-limit and resume
// hooks, and the counters it keeps.

import { describe, expect, it } from 'vitest';
import { Doorbell, createDoorbellStorage } from '../../src/shared/doorbell.ts';
import { CloseFlag, RecordKind } from '../../src/shared/records.ts';
import { createRingStorage } from '../../src/shared/ring.ts';
import { RingConsumer } from '../../src/shared/ring-consumer.ts';
import { StatField, createStatsStorage } from '../../src/shared/stats.ts';
import { protocolCloseCode } from '../../src/main/decode.ts';
import { EventOutbox } from '../../src/worker/event-outbox.ts';

function setup(stashLimit: number) {
  const bell = new Doorbell(createDoorbellStorage());
  const ring = createRingStorage(4096);
  const stats = new Float64Array(createStatsStorage());
  const hooks = { published: 0, resumed: 0, overLimit: 0 };
  const outbox = new EventOutbox(ring, bell, stats, stashLimit, {
    afterPublish: () => hooks.published++,
    onResume: () => hooks.resumed++,
    onOverLimit: () => hooks.overLimit++,
  });
  const records: Array<{ kind: number; id: number; flags: number; aux: number; length: number; protocolCode: number | undefined }> = [];
  const consumer = new RingConsumer(bell, [ring], {
    handle: (r) =>
      records.push({
        kind: r.kind,
        id: r.id,
        flags: r.flags,
        aux: r.aux,
        length: r.length,
        protocolCode: r.kind === RecordKind.CLOSE ? protocolCloseCode(r) : undefined,
      }),
  });
  return { outbox, stats, hooks, records, consumer };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('EventOutbox', () => {
  it('writes open, data and close in order, published once per turn', async () => {
    const { outbox, hooks, records, consumer } = setup(1 << 20);
    outbox.open(7, 4, '127.0.0.1', 5000, 9000);
    expect(outbox.data(7, new Uint8Array(10))).toBe(true);
    outbox.close(7, 0, CloseFlag.AWAITS_RELEASE);
    consumer.drain();
    expect(records).toEqual([]); // not yet published
    await tick();
    expect(hooks.published).toBe(1);
    consumer.drain();
    expect(records.map((r) => r.kind)).toEqual([RecordKind.OPEN, RecordKind.DATA, RecordKind.CLOSE]);
    expect(records[2]).toMatchObject({ id: 7, flags: CloseFlag.AWAITS_RELEASE, aux: 0 });
  });

  it('a full ring stashes in order, says so (data returns false), crosses its limit once, and resumes once drained', async () => {
    const { outbox, stats, hooks, records, consumer } = setup(1000);
    let stashed = 0;
    for (let id = 1; id <= 40; id++) if (!outbox.data(id, new Uint8Array(200))) stashed++;
    outbox.close(40, 1, 0);
    expect(stashed).toBeGreaterThan(5);
    expect(outbox.stalled).toBe(true);
    expect(hooks.overLimit).toBe(1);
    expect(stats[StatField.STASH_HIGH_WATER]).toBe(stashed * 200);
    const flushed = outbox.whenFlushed();
    for (let turn = 0; turn < 100 && outbox.stalled; turn++) {
      consumer.drain();
      await tick();
    }
    await flushed;
    consumer.drain();
    expect(hooks.resumed).toBe(1);
    expect(records.map((r) => r.id)).toEqual([...Array.from({ length: 40 }, (_, i) => i + 1), 40]);
    expect(records.at(-1)).toMatchObject({ kind: RecordKind.CLOSE, aux: 1 });
    expect(stats[StatField.EVENT_RING_HIGH_WATER]).toBeGreaterThan(0);
  });

  it("a close carries its protocol's close code (0 to 65535) as a 2-byte payload, in the ring and through the stash; none, no payload", async () => {
    const { outbox, records, consumer } = setup(1 << 20);
    outbox.close(1, 0, 0, 1000);
    outbox.close(2, 1, 0);
    outbox.close(3, 1, 0, 0);
    outbox.close(4, 1, 0, 0xffff);
    // Fill the ring so the next closes wait in the stash.
    for (let id = 100; outbox.data(id, new Uint8Array(512)); id++);
    outbox.close(5, 0, CloseFlag.AWAITS_RELEASE, 4321);
    outbox.close(6, 0, 0);
    expect(outbox.stalled).toBe(true);
    const flushed = outbox.whenFlushed();
    for (let turn = 0; turn < 100 && outbox.stalled; turn++) {
      consumer.drain();
      await tick();
    }
    await flushed;
    consumer.drain();
    const closes = records.filter((r) => r.kind === RecordKind.CLOSE).map((r) => [r.id, r.length, r.protocolCode]);
    expect(closes).toEqual([
      [1, 2, 1000],
      [2, 0, undefined],
      [3, 2, 0],
      [4, 2, 0xffff],
      [5, 2, 4321],
      [6, 0, undefined],
    ]);
  });
});
