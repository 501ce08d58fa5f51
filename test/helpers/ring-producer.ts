// Producer thread for the ring tests: writes the seeded record sequence into
// a ring with RingWriter, blocking for space with armSpaceWait and
// waitForSpaceSync (this thread does nothing else, so blocking is fine),
// then ends the stream on the doorbell and posts a ProducerResult.

import { parentPort, workerData } from 'node:worker_threads';
import { Doorbell } from '../../src/shared/doorbell.ts';
import { RingWriter } from '../../src/shared/ring.ts';
import { RecordSequence, mulberry32 } from './ring-sequence.ts';
import { PROGRESS_PUBLISHED, PROGRESS_RECEIVED, type ProducerData, type ProducerResult, calibratedSpin } from './ring-threads.ts';

const data = workerData as ProducerData;
const doorbell = new Doorbell(data.doorbell);
const writer = new RingWriter(data.ring, doorbell);
const progress = new Int32Array(data.progress);
const sequence = new RecordSequence(data.seed, data.direction, writer.maxPayload);
// Pacing has its own stream so the record sequence stays the consumer's.
const pace = mulberry32(data.seed ^ 0x5bd1e995);
const sleepWord = new Int32Array(new SharedArrayBuffer(4));
const started = performance.now();

const result: ProducerResult = {
  produced: 0,
  publishes: 0,
  spaceWaits: 0,
  spaceTimeouts: 0,
  syncPoints: 0,
  stalls: 0,
  aimedRaces: 0,
  raceDelayNs: 0,
  gaveUp: false,
  elapsedMs: 0,
};

function elapsed(): number {
  return performance.now() - started;
}

const spinNs = calibratedSpin();

function sleepMs(ms: number): void {
  Atomics.wait(sleepWord, 0, 0, ms);
}

function publish(): void {
  if (!writer.pending) return;
  writer.publish();
  // After the publish's wake check: see PROGRESS_PUBLISHED.
  Atomics.store(progress, PROGRESS_PUBLISHED, result.produced);
  result.publishes++;
}

/** Writes the next record of the sequence, waiting for space as long as it takes. False if it gave up. */
function writeNext(): boolean {
  sequence.next();
  for (;;) {
    const offset = writer.write(sequence.kind, sequence.flags, sequence.aux, sequence.id, sequence.length);
    if (offset >= 0) {
      sequence.fill(writer.bytes, offset);
      result.produced++;
      return true;
    }
    // The consumer must see what is written before it can free space.
    publish();
    const bell = writer.armSpaceWait(sequence.length);
    if (bell < 0) continue;
    result.spaceWaits++;
    const waitStarted = performance.now();
    writer.waitForSpaceSync(bell, data.waitMs);
    if (performance.now() - waitStarted >= data.waitMs) {
      result.spaceTimeouts++;
      if (elapsed() > data.timeLimitMs) {
        result.gaveUp = true;
        return false;
      }
    }
  }
}

/** Waits until the consumer has verified `target` records; false after waitMs. */
function waitForConsumer(target: number): boolean {
  const waitStarted = performance.now();
  for (;;) {
    if (Atomics.load(progress, PROGRESS_RECEIVED) >= target) return true;
    const waited = performance.now() - waitStarted;
    if (waited >= data.waitMs) return false;
    // Spin through the consumer's wake-up (tens of microseconds) so the
    // catch-up is seen within nanoseconds; doze only if it takes longer.
    if (waited > 2) sleepMs(0.05);
  }
}

/** Waits for the consumer to verify `target` records, counting a stall if it takes waitMs; false when giving up. */
function catchUp(target: number): boolean {
  if (waitForConsumer(target)) return true;
  result.stalls++;
  if (elapsed() <= data.timeLimitMs) return true;
  result.gaveUp = true;
  return false;
}

// The delay, after the consumer has verified the last published record, at
// which a publish meets it raising its sleeping flag: where a lost wake-up
// would happen. Tracked by whether each aimed publish rang the doorbell (it
// came after the flag) or not (before it), stepping towards the boundary.
let raceDelayNs = 1000;
const RACE_STEP_NS = 10;
const RACE_JITTER_NS = 200;
const RACE_MAX_NS = 50_000;

/** A delay around the tracked boundary. */
function aimedDelayNs(): number {
  return Math.max(0, raceDelayNs - RACE_JITTER_NS / 2 + (pace() % RACE_JITTER_NS));
}

/**
 * A catch-up point: publishes a few records, writes one more without
 * publishing it, waits for the consumer to verify the published ones (it
 * then heads for its park), publishes the last one somewhere in the middle
 * of that park, and checks that the consumer takes it with no further
 * publish to nudge it. False when giving up.
 */
function racePublish(): boolean {
  result.syncPoints++;
  // Enough records that the consumer is still verifying them when this
  // thread is back from ringing the doorbell (a system call) and has
  // written the racing record; then the catch-up below is seen as it
  // happens and the delay counts from there.
  const burst = 4 + (pace() % 17);
  for (let i = 0; i < burst; i++) if (!writeNext()) return false;
  publish();
  // Written before the wait, so the racing publish is a single store away.
  if (!writeNext()) return false;
  const fresh = Atomics.load(progress, PROGRESS_RECEIVED) < result.produced - 1;
  if (!catchUp(result.produced - 1)) return false;
  const aimed = fresh && pace() % 100 < 70;
  spinNs(aimed ? aimedDelayNs() : pace() % 300_000);
  const rings = doorbell.read();
  publish();
  if (aimed) {
    result.aimedRaces++;
    // Rang: the publish came after the consumer's flag; aim earlier.
    const step = doorbell.read() !== rings ? -RACE_STEP_NS : RACE_STEP_NS;
    raceDelayNs = Math.min(RACE_MAX_NS, Math.max(0, raceDelayNs + step));
  }
  return catchUp(result.produced);
}

function stream(): void {
  while (result.produced < data.count && elapsed() < data.timeLimitMs) {
    const batch = pace() % 4 === 0 ? 1 : 1 + (pace() % 16);
    for (let i = 0; i < batch && result.produced < data.count; i++) {
      if (!writeNext()) return;
    }
    publish();
  }
}

function stress(): void {
  while (result.produced < data.count && elapsed() < data.timeLimitMs) {
    const action = pace() % 1000;
    if (action < 40) {
      // A burst: back-to-back records, published one by one or all at once.
      const burst = 2 + (pace() % 31);
      const each = (pace() & 1) === 0;
      for (let i = 0; i < burst && result.produced < data.count; i++) {
        if (!writeNext()) return;
        if (each) publish();
      }
      publish();
    } else if (action < 50) {
      // A gap long enough for the consumer to be fast asleep.
      sleepMs(0.2 + (pace() % 2800) / 1000);
      if (!writeNext()) return;
      publish();
    } else if (action < 550) {
      if (!racePublish()) return;
    } else {
      spinNs(pace() % 30_000);
      if (!writeNext()) return;
      publish();
    }
  }
}

if (data.pacing === 'stream') stream();
else stress();
publish();
// Ends the stream after the last TAIL store, so a consumer that sees the
// end and then finds no data has seen every record.
doorbell.end();
result.raceDelayNs = raceDelayNs;
result.elapsedMs = elapsed();
parentPort!.postMessage(result);
