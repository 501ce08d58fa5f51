// Consumer thread for the ring tests: drains a ring with RingReader,
// regenerating the producer's seeded sequence to verify every header field,
// every payload byte and where each record sits in the ring, and parks on
// the doorbell whenever the ring runs dry, either blocking (waitSync) or
// asynchronously (waitAsync). Posts a ConsumerResult when the producer has
// ended the stream and everything is drained, at the first mismatch, or at
// the hard time limit.

import { parentPort, workerData } from 'node:worker_threads';
import { Doorbell } from '../../src/shared/doorbell.ts';
import { parkEnd, parkPrepare } from '../../src/shared/ring-consumer.ts';
import { RECORD_HEADER_BYTES } from '../../src/shared/records.ts';
import { RingReader, maxRecordPayload } from '../../src/shared/ring.ts';
import { RecordSequence } from './ring-sequence.ts';
import { type ConsumerData, type ConsumerResult, PROGRESS_PUBLISHED, PROGRESS_RECEIVED } from './ring-threads.ts';

const data = workerData as ConsumerData;
const doorbell = new Doorbell(data.doorbell);
const reader = new RingReader(data.ring);
const readers = [reader];
const progress = new Int32Array(data.progress);
const capacity = reader.capacity;
const maxPayload = maxRecordPayload(capacity);
const sequence = new RecordSequence(data.seed, data.direction, maxPayload);
const started = performance.now();
// Where the next record starts unless the producer had to pad and wrap.
let position = 0;

const result: ConsumerResult = {
  received: 0,
  payloadBytes: 0,
  padWraps: 0,
  exactWraps: 0,
  maxPayloadRecords: 0,
  parks: 0,
  wakeTimeouts: 0,
  lostWakeups: 0,
  producerMidPublish: 0,
  emptyWakes: 0,
  mismatch: null,
  ended: false,
  hardLimitHit: false,
  elapsedMs: 0,
};

/**
 * Verifies the record under the reader's cursor, moving past it before
 * reading its payload: its space is freed only at release(), so the bytes
 * must hold until then. Sets result.mismatch on the first difference.
 */
function verifyAndAdvance(): boolean {
  sequence.next();
  const where = `record ${sequence.index}`;
  const header = sequence.checkHeader(reader.kind, reader.flags, reader.aux, reader.id, reader.length);
  if (header !== null) {
    result.mismatch = `${where}: ${header}`;
    return false;
  }
  const start = reader.offset - RECORD_HEADER_BYTES;
  const size = sequence.recordBytes;
  if (start !== position) {
    // Only a record that would cross the end may move, and only to offset 0.
    if (start !== 0 || capacity - position >= size) {
      result.mismatch = `${where}: starts at ${start}, expected ${position} (${size} bytes)`;
      return false;
    }
    result.padWraps++;
  }
  if (start + size > capacity) {
    result.mismatch = `${where}: crosses the end of the ring (${start} + ${size} > ${capacity})`;
    return false;
  }
  if (start + size === capacity) result.exactWraps++;
  reader.advance();
  const bad = sequence.check(reader.bytes, reader.offset);
  if (bad >= 0) {
    result.mismatch = `${where}: payload byte ${bad} of ${sequence.length} is ${reader.bytes[reader.offset + bad]}`;
    return false;
  }
  position = (start + size) & (capacity - 1);
  if (sequence.length === maxPayload) result.maxPayloadRecords++;
  result.payloadBytes += sequence.length;
  return true;
}

/** Drains up to `limit` records; false on a mismatch. */
function drain(limit: number): boolean {
  for (let n = 0; n < limit && reader.peek(); n++) {
    if (!verifyAndAdvance()) return false;
    result.received++;
    // Free space in small batches, as a real consumer would.
    if ((result.received & 7) === 0) reader.release();
    Atomics.store(progress, PROGRESS_RECEIVED, result.received);
  }
  reader.release();
  return true;
}

function spinIdle(): void {
  if (data.idleSpinNs <= 0) return;
  const until = performance.now() + data.idleSpinNs / 1e6;
  while (performance.now() < until);
}

function overHardLimit(): boolean {
  if (performance.now() - started <= data.hardLimitMs) return false;
  result.hardLimitHit = true;
  return true;
}

/**
 * After a park: counts a timeout, and a timeout while data was published
 * as a lost wake-up (nothing in these tests pauses for anywhere near waitMs).
 */
function afterWake(woke: boolean): void {
  parkEnd(readers);
  if (!woke) {
    result.wakeTimeouts++;
    if (reader.hasData()) {
      result.lostWakeups++;
      if (Atomics.load(progress, PROGRESS_PUBLISHED) <= result.received) result.producerMidPublish++;
    }
  } else if (!reader.hasData() && !doorbell.ended) {
    result.emptyWakes++;
  }
}

/** After parkPrepare said the ring is empty: true when the stream is over. */
function streamOver(): boolean {
  if (!doorbell.ended) return false;
  parkEnd(readers);
  // ENDED is stored after the last TAIL store, so this sees every record.
  if (reader.hasData()) return false;
  result.ended = true;
  return true;
}

function consumeSync(): void {
  for (;;) {
    if (!drain(1024)) return;
    if (overHardLimit()) return;
    spinIdle();
    const value = parkPrepare(doorbell, readers);
    if (value < 0) continue;
    if (streamOver()) return;
    result.parks++;
    doorbell.waitSync(value, data.waitMs);
    afterWake(doorbell.read() !== value);
  }
}

/**
 * Waits for the doorbell to leave `value`, or data.waitMs; true when it
 * rang. Doorbell.waitAsync has no timeout (timed waitAsync keeps a timer
 * alive in Node until it expires), so the timeout is a cleared setTimeout.
 */
async function parkAsync(value: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timed-out'>((resolve) => {
    timer = setTimeout(resolve, data.waitMs, 'timed-out');
  });
  const outcome = await Promise.race([doorbell.waitAsync(value), timeout]);
  clearTimeout(timer);
  return outcome !== 'timed-out';
}

async function consumeAsync(): Promise<void> {
  // waitAsync alone does not keep a thread's event loop alive.
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    for (;;) {
      if (!drain(256)) return;
      if (overHardLimit()) return;
      if (reader.hasData()) {
        // Still busy: let the event loop breathe, park only when dry.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      spinIdle();
      const value = parkPrepare(doorbell, readers);
      if (value < 0) continue;
      if (streamOver()) return;
      result.parks++;
      afterWake(await parkAsync(value));
    }
  } finally {
    clearInterval(keepAlive);
  }
}

if (data.park === 'sync') consumeSync();
else await consumeAsync();
result.elapsedMs = performance.now() - started;
parentPort!.postMessage(result);
