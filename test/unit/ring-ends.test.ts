// The two ends of a ring, as parts: RingProducer and RingConsumer against a
// real ring in one thread (the cross-thread stress lives in ring.test.ts).

import { describe, expect, it } from 'vitest';
import { Doorbell, createDoorbellStorage } from '../../src/shared/doorbell.ts';
import { RecordKind } from '../../src/shared/records.ts';
import { createRingStorage } from '../../src/shared/ring.ts';
import { RingConsumer } from '../../src/shared/ring-consumer.ts';
import { RingProducer } from '../../src/shared/ring-producer.ts';

const RING = 4096;

function payload(n: number, length: number): Uint8Array {
  return new Uint8Array(length).fill(n & 0xff);
}

describe('RingProducer and RingConsumer', () => {
  it('a full ring queues records in order and they all arrive, in order, once the consumer drains', async () => {
    const bell = new Doorbell(createDoorbellStorage());
    const storage = createRingStorage(RING);
    let flushed = 0;
    const producer = new RingProducer(storage, bell, { onFlushed: () => flushed++ });
    const seen: number[] = [];
    const consumer = new RingConsumer(bell, [storage], {
      handle: (reader) => {
        expect(reader.payload().every((b) => b === (reader.id & 0xff))).toBe(true);
        seen.push(reader.id);
      },
    });
    let queued = 0;
    for (let id = 1; id <= 200; id++) if (!producer.put(RecordKind.DATA, 0, 0, id, payload(id, 100))) queued++;
    expect(queued).toBeGreaterThan(0);
    expect(producer.stalled).toBe(true);
    expect(producer.queuedBytes).toBe(queued * 100);
    // A record reserved while others are queued must queue behind them.
    expect(producer.reserve(RecordKind.DATA, 0, 0, 999, 8)).toBe(-1);
    const done = producer.whenFlushed();
    for (let turn = 0; turn < 100 && producer.stalled; turn++) {
      consumer.drain();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await done;
    consumer.drain();
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(flushed).toBe(1);
    expect(producer.queued).toBe(0);
  });

  it('drain(budget) takes at most the budget from each ring; poll() drains only when something waits', () => {
    const bell = new Doorbell(createDoorbellStorage());
    const rings = [createRingStorage(RING), createRingStorage(RING)];
    const producers = rings.map((storage) => new RingProducer(storage, bell, { blocking: true }));
    const seen: string[] = [];
    const consumer = new RingConsumer(bell, rings, { handle: (reader, ring) => seen.push(`${ring}:${reader.id}`) });
    consumer.poll();
    expect(seen).toEqual([]);
    for (let id = 1; id <= 5; id++) for (const producer of producers) producer.put(RecordKind.SEND, 0, 0, id, payload(id, 8));
    for (const producer of producers) producer.publish();
    expect(consumer.drain(2)).toBe(4);
    expect(seen).toEqual(['0:1', '0:2', '1:1', '1:2']);
    consumer.poll();
    expect(seen.length).toBe(10);
  });

  it('a handler that throws loses no record and stops nothing: the error goes to onError', () => {
    const bell = new Doorbell(createDoorbellStorage());
    const storage = createRingStorage(RING);
    const producer = new RingProducer(storage, bell, { blocking: true });
    const errors: unknown[] = [];
    const seen: number[] = [];
    const consumer = new RingConsumer(bell, [storage], {
      handle: (reader) => {
        seen.push(reader.id);
        if (reader.id % 2 === 0) throw new Error(`record ${reader.id}`);
      },
      onError: (error) => errors.push(error),
    });
    for (let id = 1; id <= 6; id++) producer.put(RecordKind.SEND, 0, 0, id, payload(id, 8));
    producer.publish();
    expect(consumer.drain()).toBe(6);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(errors.map((e) => (e as Error).message)).toEqual(['record 2', 'record 4', 'record 6']);
  });

  it('an async consumer parks when dry and wakes for a record published later, also on a ring added while it sleeps', async () => {
    const bell = new Doorbell(createDoorbellStorage());
    const first = createRingStorage(RING);
    const seen: number[] = [];
    const consumer = new RingConsumer(bell, [first], { handle: (reader) => seen.push(reader.id) });
    const keepAlive = setInterval(() => {}, 1000);
    try {
      consumer.start();
      await new Promise((resolve) => setTimeout(resolve, 20));
      new RingProducer(first, bell).put(RecordKind.SEND, 0, 0, 1, payload(1, 8));
      for (let i = 0; i < 200 && seen.length < 1; i++) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(seen).toEqual([1]);
      // Parked again; a new producer's ring joins, and its first record wakes the consumer.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const second = createRingStorage(RING);
      const late = new RingProducer(second, bell, { blocking: true });
      late.put(RecordKind.SEND, 0, 0, 2, payload(2, 8));
      late.publish();
      consumer.add(second);
      for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(seen).toEqual([1, 2]);
    } finally {
      consumer.stop();
      clearInterval(keepAlive);
    }
  });

  it('takeSync hands out one record at a time round-robin, keeps it readable until the next call, and ends with the doorbell', () => {
    const bell = new Doorbell(createDoorbellStorage());
    const rings = [createRingStorage(RING), createRingStorage(RING)];
    const producers = rings.map((storage) => new RingProducer(storage, bell, { blocking: true }));
    producers[0]!.put(RecordKind.DATA, 0, 0, 10, payload(10, 16));
    producers[0]!.put(RecordKind.DATA, 0, 0, 11, payload(11, 16));
    producers[1]!.put(RecordKind.DATA, 0, 0, 20, payload(20, 16));
    for (const producer of producers) producer.publish();
    const consumer = new RingConsumer(bell, rings);
    const order: number[] = [];
    for (let reader = consumer.takeSync(0); reader !== undefined; reader = consumer.takeSync(0)) {
      order.push(reader.id);
      expect(reader.payload().every((b) => b === reader.id)).toBe(true);
    }
    expect(order).toEqual([10, 20, 11]);
    // Empty and not ended: a timed wait returns undefined after its timeout.
    const started = performance.now();
    expect(consumer.takeSync(30)).toBeUndefined();
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    bell.end();
    expect(consumer.takeSync(60_000)).toBeUndefined();
  });
});
