// The SPSC ring and its doorbell: real producer and consumer threads going
// round small rings many times with seeded random records, every byte
// verified; a lost-wake-up stress for the park protocol; and the edge cases
// of RingWriter, RingReader and createRingStorage in a single thread.
//
// The seeds are fixed so a failure reproduces; RING_SEED=<n> runs other ones.

import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Doorbell, createDoorbellStorage } from '../../src/shared/doorbell.ts';
import { parkEnd, parkPrepare } from '../../src/shared/ring-consumer.ts';
import { RECORD_HEADER_BYTES, RecordKind, recordBytes } from '../../src/shared/records.ts';
import {
  MAX_RING_BYTES,
  MIN_RING_BYTES,
  RING_HEADER_BYTES,
  RingReader,
  RingWriter,
  createRingStorage,
  maxRecordPayload,
  ringCanariesIntact,
} from '../../src/shared/ring.ts';
import { RecordSequence, type RingDirection } from '../helpers/ring-sequence.ts';
import { type ConsumerData, type ConsumerResult, PROGRESS_WORDS, type ProducerData, type ProducerResult } from '../helpers/ring-threads.ts';

const BASE_SEED = process.env.RING_SEED === undefined ? 0x2013_f1a3 : Number(process.env.RING_SEED);
/** Longest single wait on either side; a real lost wake-up shows up as one that runs out. */
const WAIT_MS = 2000;
/** A thread that has not reported by then has hung. */
const THREAD_DEADLINE_MS = 20_000;

// Word indices of TAIL and HEAD in the ring's control block (see the layout
// comment at the top of src/shared/ring.ts). Only the white-box tests that
// start a ring at a chosen position touch them.
const TAIL_WORD = 0;
const HEAD_WORD = 16;

const threads = new Set<Worker>();

afterEach(async () => {
  await Promise.all([...threads].map((thread) => thread.terminate()));
  threads.clear();
});

interface Thread<T> {
  worker: Worker;
  result: Promise<T>;
}

function startThread<T>(script: URL, workerData: ProducerData | ConsumerData, name: string): Thread<T> {
  const worker = new Worker(script, { workerData });
  threads.add(worker);
  const result = new Promise<T>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`${name} thread did not report in ${THREAD_DEADLINE_MS} ms`)), THREAD_DEADLINE_MS);
    worker.once('message', (message: T) => {
      clearTimeout(deadline);
      resolve(message);
    });
    worker.once('error', (error) => {
      clearTimeout(deadline);
      reject(error);
    });
    worker.once('exit', (code) => {
      clearTimeout(deadline);
      reject(new Error(`${name} thread exited with code ${code} before reporting`));
    });
  });
  // A result nobody awaits (the producer's, after a failed consumer) must
  // not turn the terminate in afterEach into an unhandled rejection.
  result.catch(() => {});
  return { worker, result };
}

/** A ring whose TAIL and HEAD both start at `position` (empty, anywhere in the 32-bit cycle). */
function ringStorageAt(capacity: number, position: number): SharedArrayBuffer {
  const storage = createRingStorage(capacity);
  const control = new Int32Array(storage, 0, RING_HEADER_BYTES / 4);
  control[TAIL_WORD] = position | 0;
  control[HEAD_WORD] = position | 0;
  return storage;
}

interface PairOptions {
  capacity: number;
  seed: number;
  direction: RingDirection;
  count: number;
  timeLimitMs: number;
  pacing: ProducerData['pacing'];
  park: ConsumerData['park'];
}

interface PairOutcome {
  producer: ProducerResult | null;
  consumer: ConsumerResult;
  ring: SharedArrayBuffer;
  doorbellRings: number;
}

/** Runs one producer thread against one consumer thread over a fresh ring. */
async function runPair(options: PairOptions): Promise<PairOutcome> {
  const ring = createRingStorage(options.capacity);
  const doorbell = createDoorbellStorage();
  const progress = new SharedArrayBuffer(PROGRESS_WORDS * 4);
  const shared = { ring, doorbell, progress, seed: options.seed, direction: options.direction };
  const consumer = startThread<ConsumerResult>(
    new URL('../helpers/ring-consumer.ts', import.meta.url),
    {
      ...shared,
      park: options.park,
      idleSpinNs: options.pacing === 'stress' ? 3000 : 0,
      waitMs: WAIT_MS,
      hardLimitMs: options.timeLimitMs + 4 * WAIT_MS,
    },
    'consumer',
  );
  const producer = startThread<ProducerResult>(
    new URL('../helpers/ring-producer.ts', import.meta.url),
    { ...shared, count: options.count, timeLimitMs: options.timeLimitMs, pacing: options.pacing, waitMs: WAIT_MS },
    'producer',
  );
  const consumed = await consumer.result;
  // A consumer that stopped early leaves the producer waiting for space;
  // its own report adds nothing then, and afterEach terminates it.
  const produced = consumed.mismatch === null && consumed.ended ? await producer.result : null;
  // end() rang the doorbell once more after the last record.
  return { producer: produced, consumer: consumed, ring, doorbellRings: new Doorbell(doorbell).read() - 1 };
}

/** The checks every threaded run must pass. */
function expectCompleteAndIntact(outcome: PairOutcome, options: PairOptions, minimumRecords: number): void {
  const { consumer, producer } = outcome;
  const run = `seed ${options.seed}`;
  expect(consumer.mismatch, `${run}: first difference`).toBeNull();
  // A failure says which it was: a genuine lost wake-up, or a producer
  // thread that stored TAIL and then did not run for the whole park.
  expect(
    consumer.lostWakeups,
    `${run}: parks timed out with data published (lost wake-ups; in ${consumer.producerMidPublish} of them the producer had not finished that publish, so its thread was not running)`,
  ).toBe(0);
  expect(consumer.wakeTimeouts, `${run}: parks that timed out (a lost wake-up)`).toBe(0);
  if (producer !== null) {
    expect(producer.stalls, `${run}: catch-up waits that timed out (a lost wake-up)`).toBe(0);
    expect(producer.spaceTimeouts, `${run}: space waits that timed out (a lost wake-up)`).toBe(0);
  }
  expect(consumer.hardLimitHit, `${run}: consumer hit its hard time limit`).toBe(false);
  expect(consumer.ended, `${run}: consumer saw the end of the stream`).toBe(true);
  expect(producer, `${run}: producer reported`).not.toBeNull();
  expect(producer!.gaveUp, `${run}: producer gave up on a stalled consumer`).toBe(false);
  expect(consumer.received, `${run}: records received`).toBe(producer!.produced);
  // Bounded by count and time: either every record went, or the clock ran out.
  if (producer!.produced < options.count) expect(producer!.elapsedMs, `${run}: producer stopped early`).toBeGreaterThanOrEqual(options.timeLimitMs);
  expect(producer!.produced, `${run}: records produced`).toBeGreaterThanOrEqual(minimumRecords);
  expect(ringCanariesIntact(outcome.ring), `${run}: canaries intact`).toBe(true);
}

/** One line of figures per threaded run, printed before the checks so a failure shows them too. */
function summary(label: string, outcome: PairOutcome, options: PairOptions): string {
  const { consumer, producer } = outcome;
  const race =
    options.pacing === 'stress'
      ? `${producer?.syncPoints ?? '?'} catch-up points (${producer?.aimedRaces ?? '?'} aimed at ` +
        `${producer?.raceDelayNs ?? '?'} ns), ${producer?.stalls ?? '?'} stalls, `
      : '';
  return (
    `${label}: ${consumer.received} records, ${(consumer.payloadBytes / 2 ** 20).toFixed(1)} MiB, ` +
    `${Math.round(consumer.payloadBytes / options.capacity)} laps, ${consumer.padWraps} pad wraps, ` +
    `${producer?.spaceWaits ?? '?'} space waits, ${consumer.parks} parks, ${outcome.doorbellRings} doorbell rings, ` +
    `${consumer.emptyWakes} empty wakes, ${race}${consumer.lostWakeups} lost wake-ups, ` +
    `${Math.round(consumer.elapsedMs)} ms (seed ${options.seed})`
  );
}

describe('SPSC ring between real threads', () => {
  beforeAll(() => {
    // The helper threads are .ts files run as they are, by Node's type stripping.
    if (!process.features.typescript) {
      throw new Error(`worker threads cannot run .ts files on Node ${process.version}; run the tests through npm (Node 24 from node_modules/.bin)`);
    }
  });

  const streams = [
    {
      name: 'event records (OPEN, DATA, CLOSE) go round an 8 KiB ring from a producer thread to a consumer thread that parks with waitSync, every byte verified',
      options: { capacity: 8192, seed: BASE_SEED, direction: 'event', park: 'sync' },
    },
    {
      name: 'command records (SEND, SEND_MANY, CLOSE_CONN) go round a 4 KiB ring from a producer thread to a consumer thread that parks with waitAsync, every byte verified',
      options: { capacity: 4096, seed: (BASE_SEED + 1) >>> 0, direction: 'command', park: 'async' },
    },
  ] as const;

  for (const { name, options: partial } of streams) {
    it(name, async () => {
      const options: PairOptions = { ...partial, count: 200_000, timeLimitMs: 3000, pacing: 'stream' };
      const outcome = await runPair(options);
      console.log(summary(`${partial.direction} ring`, outcome, options));
      expectCompleteAndIntact(outcome, options, 20_000);
      const { consumer, producer } = outcome;
      // Many laps, through both the pad-and-wrap and the exact-fit wrap, with
      // the largest payload the ring allows, and each side waited for the other.
      expect(consumer.payloadBytes / options.capacity).toBeGreaterThan(500);
      expect(consumer.padWraps).toBeGreaterThan(100);
      expect(consumer.exactWraps).toBeGreaterThan(0);
      expect(consumer.maxPayloadRecords).toBeGreaterThan(100);
      expect(producer!.spaceWaits).toBeGreaterThan(0);
      expect(consumer.parks).toBeGreaterThan(0);
    });
  }

  for (const park of ['sync', 'async'] as const) {
    it(`no wake-up is lost when single records arrive at random intervals and the consumer parks (${park}) each time it runs dry`, async () => {
      const options: PairOptions = {
        capacity: 8192,
        seed: (BASE_SEED + (park === 'sync' ? 2 : 3)) >>> 0,
        direction: 'event',
        count: 1_000_000,
        timeLimitMs: 2500,
        pacing: 'stress',
        park,
      };
      const outcome = await runPair(options);
      console.log(summary(`lost-wakeup stress (${park})`, outcome, options));
      // No park ran out its 2 s with a record waiting, and at every catch-up
      // point the consumer took the record published into its park without
      // a second publish to nudge it.
      expectCompleteAndIntact(outcome, options, 5_000);
      expect(outcome.producer!.syncPoints).toBeGreaterThan(200);
      expect(outcome.consumer.parks).toBeGreaterThan(200);
    });
  }
});

describe('ring edge cases', () => {
  function pair(storage: SharedArrayBuffer): { writer: RingWriter; reader: RingReader; bell: Doorbell } {
    const bell = new Doorbell(createDoorbellStorage());
    return { writer: new RingWriter(storage, bell), reader: new RingReader(storage), bell };
  }

  it('write returns -1 when the ring is full, and succeeds again once the consumer frees space', () => {
    const { writer, reader } = pair(createRingStorage(4096));
    const payload = 48; // 64-byte records: 64 of them fill 4096 bytes exactly
    let written = 0;
    while (writer.write(RecordKind.DATA, 0, 0, written, payload) >= 0) written++;
    expect(written).toBe(4096 / recordBytes(payload));
    expect(writer.write(RecordKind.DATA, 0, 0, 999, 0)).toBe(-1);
    writer.publish();
    expect(writer.used()).toBe(4096);

    expect(reader.peek()).toBe(true);
    expect(reader.id).toBe(0);
    reader.advance();
    reader.release();
    // The freed record at the front is where the next one goes.
    expect(writer.write(RecordKind.DATA, 0, 0, written, payload)).toBe(RECORD_HEADER_BYTES);
    expect(writer.write(RecordKind.DATA, 0, 0, 999, 0)).toBe(-1);
    writer.publish();
    for (let id = 1; id <= written; id++) {
      expect(reader.peek()).toBe(true);
      expect(reader.id).toBe(id);
      reader.advance();
    }
    expect(reader.peek()).toBe(false);
  });

  it('a record that would cross the end needs room for its pad as well as itself', () => {
    const { writer, reader } = pair(createRingStorage(4096));
    for (let i = 0; i < 62; i++) expect(writer.write(RecordKind.DATA, 0, 0, i, 48)).toBeGreaterThanOrEqual(0);
    writer.publish();
    for (let i = 0; i < 3; i++) {
      expect(reader.peek()).toBe(true);
      reader.advance();
    }
    reader.release();
    // Tail at 3968 (128 bytes to the end), head at 192: 320 bytes free. A
    // 200-byte record fits in 320 but not in the 128 + 200 a wrap takes.
    expect(writer.hasRoomFor(184)).toBe(false);
    expect(writer.write(RecordKind.SEND, 0, 0, 1000, 184)).toBe(-1);
    expect(reader.peek()).toBe(true);
    reader.advance();
    reader.release();
    expect(writer.hasRoomFor(184)).toBe(true);
    expect(writer.write(RecordKind.SEND, 0, 0, 1000, 184)).toBe(RECORD_HEADER_BYTES);
    writer.publish();
    for (let i = 4; i < 62; i++) {
      expect(reader.peek()).toBe(true);
      expect(reader.id).toBe(i);
      reader.advance();
    }
    // The pad is skipped, never handed out.
    expect(reader.peek()).toBe(true);
    expect([reader.kind, reader.id, reader.offset, reader.length]).toEqual([RecordKind.SEND, 1000, RECORD_HEADER_BYTES, 184]);
  });

  it('maxPayload is half the ring less a header, and a payload of maxPayload + 1 throws RangeError', () => {
    for (const capacity of [4096, 8192, 65536]) {
      const { writer } = pair(createRingStorage(capacity));
      expect(writer.maxPayload).toBe(capacity / 2 - RECORD_HEADER_BYTES);
      expect(maxRecordPayload(capacity)).toBe(writer.maxPayload);
      expect(() => writer.write(RecordKind.DATA, 0, 0, 1, writer.maxPayload + 1)).toThrow(RangeError);
      expect(writer.pending).toBe(false);
      expect(writer.write(RecordKind.DATA, 0, 0, 1, writer.maxPayload)).toBe(RECORD_HEADER_BYTES);
    }
  });

  it('a maxPayload record fits in a drained ring wherever its positions stand', () => {
    const capacity = 4096;
    for (let position = 0; position < capacity; position += 8) {
      const { writer, reader } = pair(ringStorageAt(capacity, position));
      const offset = writer.write(RecordKind.DATA, 1, 2, position, writer.maxPayload);
      expect(offset, `position ${position}`).toBeGreaterThanOrEqual(0);
      writer.publish();
      expect(reader.peek()).toBe(true);
      expect([reader.id, reader.offset, reader.length]).toEqual([position, offset, writer.maxPayload]);
    }
  });

  it('peek on an empty ring returns false, fresh or drained', () => {
    const { writer, reader } = pair(createRingStorage(4096));
    expect(reader.peek()).toBe(false);
    expect(reader.hasData()).toBe(false);
    writer.write(RecordKind.DATA, 0, 0, 7, 10);
    // Written but not published is still empty to the consumer.
    expect(reader.peek()).toBe(false);
    writer.publish();
    expect(reader.hasData()).toBe(true);
    expect(reader.peek()).toBe(true);
    reader.advance();
    reader.release();
    expect(reader.peek()).toBe(false);
    expect(reader.hasData()).toBe(false);
    expect(reader.used()).toBe(0);
  });

  it('createRingStorage rejects capacities that are not a power of two from 4096 to 2^30', () => {
    for (const capacity of [0, -4096, 1, 2048, 4095, 4097, 6144, 12288, 4096.5, Number.NaN, Infinity, 2 ** 31]) {
      expect(() => createRingStorage(capacity), String(capacity)).toThrow(RangeError);
    }
    expect(MIN_RING_BYTES).toBe(4096);
    expect(MAX_RING_BYTES).toBe(2 ** 30);
    for (const capacity of [4096, 8192, 2 ** 16]) {
      const storage = createRingStorage(capacity);
      expect(storage.byteLength).toBeGreaterThan(capacity);
      expect(ringCanariesIntact(storage)).toBe(true);
      expect(new RingReader(storage).capacity).toBe(capacity);
    }
  });

  it('positions keep working when the free-running counters pass 2^31 and 2^32', () => {
    for (const start of [2 ** 31 - 3000, -3000, 2 ** 31 - 8]) {
      const capacity = 4096;
      const storage = ringStorageAt(capacity, start);
      const { writer, reader } = pair(storage);
      const produced = new RecordSequence(start, 'command', writer.maxPayload);
      const expected = new RecordSequence(start, 'command', writer.maxPayload);
      let bytes = 0;
      while (bytes < 16 * capacity) {
        produced.next();
        let offset = writer.write(produced.kind, produced.flags, produced.aux, produced.id, produced.length);
        if (offset < 0) {
          // Full: the consumer drains everything, verifying as it goes.
          writer.publish();
          while (reader.peek()) {
            expected.next();
            expect(expected.checkHeader(reader.kind, reader.flags, reader.aux, reader.id, reader.length)).toBeNull();
            expect(expected.check(reader.bytes, reader.offset)).toBe(-1);
            expect(reader.used()).toBeGreaterThan(0);
            expect(reader.used()).toBeLessThanOrEqual(capacity);
            reader.advance();
          }
          reader.release();
          offset = writer.write(produced.kind, produced.flags, produced.aux, produced.id, produced.length);
        }
        expect(offset).toBeGreaterThanOrEqual(0);
        produced.fill(writer.bytes, offset);
        bytes += recordBytes(produced.length);
      }
      writer.publish();
      while (reader.peek()) {
        expected.next();
        expect(expected.checkHeader(reader.kind, reader.flags, reader.aux, reader.id, reader.length)).toBeNull();
        expect(expected.check(reader.bytes, reader.offset)).toBe(-1);
        reader.advance();
      }
      expect(expected.index).toBe(produced.index);
      expect(ringCanariesIntact(storage)).toBe(true);
    }
  });

  it('publish rings the doorbell only for a consumer that is going to sleep', () => {
    const { writer, reader, bell } = pair(createRingStorage(4096));
    writer.write(RecordKind.DATA, 0, 0, 1, 8);
    writer.publish();
    expect(bell.read()).toBe(0);
    // Data is there: parkPrepare refuses to park and leaves no flag behind.
    expect(parkPrepare(bell, [reader])).toBe(-1);
    writer.write(RecordKind.DATA, 0, 0, 2, 8);
    writer.publish();
    expect(bell.read()).toBe(0);
    while (reader.peek()) reader.advance();
    reader.release();
    // Empty: the consumer parks, and the next publish rings once.
    const value = parkPrepare(bell, [reader]);
    expect(value).toBe(0);
    writer.write(RecordKind.DATA, 0, 0, 3, 8);
    writer.publish();
    expect(bell.read()).toBe(1);
    writer.write(RecordKind.DATA, 0, 0, 4, 8);
    writer.publish();
    expect(bell.read()).toBe(1);
    parkEnd([reader]);
  });

  it('a producer waiting for space is woken once the consumer has freed half the ring, not before', async () => {
    const { writer, reader } = pair(createRingStorage(4096));
    while (writer.write(RecordKind.SEND, 0, 0, 0, 48) >= 0);
    writer.publish();
    const value = writer.armSpaceWait(48);
    expect(value).toBeGreaterThanOrEqual(0);
    const woken = writer.waitForSpace(value);
    const noWake = (ms: number) => new Promise((resolve) => setTimeout(() => resolve('no wake'), ms));
    // A quarter freed: room for the record, but not yet worth a wake-up.
    for (let i = 0; i < 16; i++) {
      reader.peek();
      reader.advance();
    }
    reader.release();
    expect(await Promise.race([woken, noWake(50)])).toBe('no wake');
    for (let i = 0; i < 16; i++) {
      reader.peek();
      reader.advance();
    }
    reader.release();
    expect(await Promise.race([woken, noWake(1000)])).toBe('ok');
    // The wait is disarmed: with room, armSpaceWait says so at once.
    expect(writer.armSpaceWait(48)).toBe(-1);
  });

  it('the payload check and the canary check catch a single corrupted byte', () => {
    const storage = createRingStorage(4096);
    const { writer, reader } = pair(storage);
    const sequence = new RecordSequence(7, 'event', writer.maxPayload);
    do sequence.next();
    while (sequence.length < 64);
    const offset = writer.write(sequence.kind, sequence.flags, sequence.aux, sequence.id, sequence.length);
    sequence.fill(writer.bytes, offset);
    writer.publish();
    expect(reader.peek()).toBe(true);
    expect(sequence.check(reader.bytes, reader.offset)).toBe(-1);
    writer.bytes[offset + 37] ^= 0x10;
    expect(sequence.check(reader.bytes, reader.offset)).toBe(37);
    expect(sequence.checkHeader(reader.kind, reader.flags, reader.aux, reader.id + 1, reader.length)).toMatch(/^id /);

    const raw = new Uint8Array(storage);
    raw[RING_HEADER_BYTES + 4096 + 5] ^= 1;
    expect(ringCanariesIntact(storage)).toBe(false);
    raw[RING_HEADER_BYTES + 4096 + 5] ^= 1;
    expect(ringCanariesIntact(storage)).toBe(true);
    raw[RING_HEADER_BYTES - 1] ^= 1;
    expect(ringCanariesIntact(storage)).toBe(false);
  });
});
