// Ring vs postMessage: how many records per second a worker thread can hand
// the main thread through an event ring (RingWriter -> RingReader), against
// one MessagePort.postMessage per record, by payload size.
//
// Each tinybench iteration is one batch end to end: the main thread tells a
// producer thread (bench/helpers/ring-producer.ts) to start a batch of N
// records, and the iteration ends when the main thread has taken the last
// of them. Throughput is N / batch time (the table leads with the median
// batch, the mean is beside it). Both sides do the real work: the producer
// copies every payload in full (ring: bytes.set into the ring; postMessage:
// the structured clone), the consumer checks each record's first byte (its
// index mod 256, so a lost or reordered record fails the run) and sums its
// last byte (checked per batch). The ring consumer reads the payload in
// place; postMessage hands it a fresh copy.
//
// Transports, per size:
//   ring-park    RingReader drained until empty, then a park with
//                parkPrepare + Doorbell.waitAsync: a wake-up every time the
//                consumer catches up
//   ring-busy    RingReader spun on for the whole batch: the ring alone,
//                no wake-ups (a bound, not a way to run a main thread)
//   dispatcher   the library's own consumer (src/main/dispatcher.ts):
//                setImmediate turns while records flow, a park only after an
//                empty turn, a view per record; own producer and ring
//   postMessage  one message per record on a MessageChannel, received with
//                port.on('message')
//
// Usage: npm run bench. Prints a markdown table, writes
// bench/results/ring.json. Environment overrides, for exploring:
//   FLAMINGO_BENCH_RING_BYTES  ring capacity (default 4 MiB, the
//                              library's eventRingBytes default)
//   FLAMINGO_BENCH_TIME_MS     tinybench time budget per task (default 1000)

import { OpenTracker } from '../src/main/open-tracker.ts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { Bench } from 'tinybench';
import { Dispatcher, type EventSink } from '../src/main/dispatcher.ts';
import { parkEnd, parkPrepare } from '../src/shared/ring-consumer.ts';
import { RingReader, ringCanariesIntact } from '../src/shared/ring.ts';
import { CallbackBatch } from './helpers/callback-batch.ts';
import { checkSum, outOfOrder } from './helpers/payload-check.ts';
import { Transport } from './helpers/producer-control.ts';
import { ProducerThread } from './helpers/producer-thread.ts';
import { type Measured, type WakeCounts, formatSize, markdownTable, measure, newWakeCounts, withRatios } from './helpers/report.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Payload sizes and the records per batch for each (the same batch for every transport). */
const CASES = [
  { payloadBytes: 16, count: 100_000 },
  { payloadBytes: 64, count: 100_000 },
  { payloadBytes: 1 * KiB, count: 32_768 },
  // postMessage queues what the consumer has not taken yet: 64 MiB at most.
  { payloadBytes: 16 * KiB, count: 4_096 },
] as const;

const TRANSPORTS = ['ring-park', 'ring-busy', 'dispatcher', 'postMessage'] as const;
type TransportName = (typeof TRANSPORTS)[number];

const RING_BYTES = Number(process.env.FLAMINGO_BENCH_RING_BYTES ?? 4 * MiB);
const TIME_MS = Number(process.env.FLAMINGO_BENCH_TIME_MS ?? 1000);
// The raw consumer frees ring space every RELEASE_EVERY records, as the Dispatcher does.
const RELEASE_EVERY = 512;
// Bounds: one batch, a producer's idle life, the whole run.
const BATCH_TIMEOUT_MS = 10_000;
const PRODUCER_IDLE_EXIT_MS = 30_000;
const WATCHDOG_MS = 170_000;
const PRODUCER_EXIT_GRACE_MS = 2_000;
// A busy consumer looks at its clock once per this many empty polls.
const SPINS_PER_CLOCK_CHECK = 1024;

const producerOptions = { ringBytes: RING_BYTES, batchTimeoutMs: BATCH_TIMEOUT_MS, idleExitMs: PRODUCER_IDLE_EXIT_MS };
/** Feeds ring-park, ring-busy and postMessage; only this file's RingReader consumes its ring. */
const producer = new ProducerThread({ name: 'flamingo-bench-producer', ...producerOptions });
/** Feeds the Dispatcher, which keeps its own RingReader for as long as it runs. */
const dispatchedProducer = new ProducerThread({ name: 'flamingo-bench-dispatched-producer', ...producerOptions });

const reader = new RingReader(producer.ring);
const readers = [reader];

// The raw ring consumer's batch in progress.
let received = 0;
let sum = 0;
let bellAtStart = 0;
let spaceWaitsAtStart = 0;

function beginRingBatch(count: number, payloadBytes: number): void {
  received = 0;
  sum = 0;
  bellAtStart = producer.bell.read();
  spaceWaitsAtStart = producer.spaceWaits();
  producer.startBatch(Transport.RING, count, payloadBytes);
}

function endRingBatch(counts: WakeCounts, parks: number): void {
  counts.batches++;
  counts.parks += parks;
  counts.bellRings += (producer.bell.read() - bellAtStart) | 0;
  counts.spaceWaits += (producer.spaceWaits() - spaceWaitsAtStart) | 0;
}

/** Takes every published record up to `count`, freeing their space as it goes. */
function drainRing(count: number): void {
  const bytes = reader.bytes;
  while (received < count && reader.peek()) {
    const offset = reader.offset;
    const first = bytes[offset]!;
    if (first !== (received & 0xff)) throw outOfOrder(received, first);
    sum += bytes[offset + reader.length - 1]!;
    reader.advance();
    if (++received % RELEASE_EVERY === 0) reader.release();
  }
  reader.release();
}

function ringParkBatch(count: number, payloadBytes: number, counts: WakeCounts): Promise<void> {
  let parks = 0;
  let timedOut = false;
  beginRingBatch(count, payloadBytes);
  return new Promise<void>((resolve, reject) => {
    // One timer bounds the batch and keeps the event loop alive while the
    // consumer is parked (a pending waitAsync does not). Each park waits
    // without a timeout: Node keeps every finite waitAsync timeout as a
    // platform timer until it expires, notified or not, and thousands of
    // parks a second made later batches stall for seconds.
    const timer = setTimeout(() => {
      timedOut = true;
      producer.bell.ring();
    }, BATCH_TIMEOUT_MS);
    const turn = (): void => {
      try {
        // Each pass drains something or parks (parkPrepare returns -1 only
        // when the ring has data); the batch timer bounds it regardless.
        for (;;) {
          drainRing(count);
          if (received === count) {
            clearTimeout(timer);
            endRingBatch(counts, parks);
            checkSum('ring-park', sum, count, payloadBytes);
            resolve();
            return;
          }
          producer.check();
          if (timedOut) throw new Error(`ring-park ${formatSize(payloadBytes)}: batch timed out at ${received}/${count}`);
          // parkPrepare reads the bell, raises the sleeping flag, then
          // re-checks the ring; a producer that publishes after that
          // re-check sees the flag and bumps the bell, so the wait below
          // returns at once or is notified (see doorbell.ts).
          const value = parkPrepare(producer.bell, readers);
          if (value < 0) continue;
          parks++;
          void producer.bell.waitAsync(value).then(() => {
            parkEnd(readers);
            turn();
          });
          return;
        }
      } catch (error) {
        clearTimeout(timer);
        reject(error);
      }
    };
    turn();
  });
}

function ringBusyBatch(count: number, payloadBytes: number, counts: WakeCounts): void {
  const deadline = performance.now() + BATCH_TIMEOUT_MS;
  beginRingBatch(count, payloadBytes);
  let emptyPolls = 0;
  while (received < count) {
    const before = received;
    drainRing(count);
    if (received === before && ++emptyPolls % SPINS_PER_CLOCK_CHECK === 0) {
      producer.check();
      if (performance.now() > deadline) throw new Error(`ring-busy ${formatSize(payloadBytes)}: batch timed out at ${received}/${count}`);
    }
  }
  endRingBatch(counts, 0);
  checkSum('ring-busy', sum, count, payloadBytes);
}

const posted = new CallbackBatch(BATCH_TIMEOUT_MS);
producer.port.on('message', (payload: Uint8Array) => {
  try {
    posted.take(payload);
  } catch {
    // take() has failed the batch already.
  }
});

function postMessageBatch(count: number, payloadBytes: number, counts: WakeCounts): Promise<void> {
  counts.batches++;
  return posted.run('postMessage', producer, count, payloadBytes, () => producer.startBatch(Transport.POST_MESSAGE, count, payloadBytes));
}

const dispatched = new CallbackBatch(BATCH_TIMEOUT_MS);
const sink: EventSink = {
  open: () => dispatched.fail(new Error('dispatcher: unexpected OPEN record')),
  data: (_id, view) => dispatched.take(view),
  close: () => dispatched.fail(new Error('dispatcher: unexpected CLOSE record')),
  isSaturated: () => false,
  failed: (error) => dispatched.fail(error),
};
const dispatcher = new Dispatcher([dispatchedProducer.ring], dispatchedProducer.bell, sink, new OpenTracker(1, 1));

producer.onFailure = (error) => posted.fail(error);
dispatchedProducer.onFailure = (error) => dispatched.fail(error);

async function dispatcherBatch(count: number, payloadBytes: number, counts: WakeCounts): Promise<void> {
  const bell = dispatchedProducer.bell.read();
  const spaceWaits = dispatchedProducer.spaceWaits();
  await dispatched.run('dispatcher', dispatchedProducer, count, payloadBytes, () => dispatchedProducer.startBatch(Transport.RING, count, payloadBytes));
  counts.batches++;
  counts.bellRings += (dispatchedProducer.bell.read() - bell) | 0;
  counts.spaceWaits += (dispatchedProducer.spaceWaits() - spaceWaits) | 0;
}

function taskName(transport: TransportName, payloadBytes: number): string {
  return `${transport} ${formatSize(payloadBytes)}`;
}

function tinybenchVersion(): string {
  try {
    const manifest = readFileSync(new URL('../node_modules/tinybench/package.json', import.meta.url), 'utf8');
    return (JSON.parse(manifest) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const environment = {
    node: process.version,
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    tinybench: tinybenchVersion(),
    ringBytes: RING_BYTES,
    timeBudgetMs: TIME_MS,
    date: new Date().toISOString(),
  };
  console.log('# Flamingo ring bench: worker -> main thread, ring vs postMessage');
  console.log(
    `node ${environment.node}, ${environment.cores} cores (${environment.cpu}), tinybench ${environment.tinybench}, ` +
      `ring ${formatSize(RING_BYTES)}, ${TIME_MS} ms per task`,
  );

  // Thread start-up (and its type stripping) belongs in no batch.
  await Promise.all([producer.ready, dispatchedProducer.ready]);
  dispatcher.start();

  const bench = new Bench({
    name: 'ring vs postMessage',
    time: TIME_MS,
    iterations: 5,
    warmupTime: 250,
    warmupIterations: 3,
    throws: true,
  });
  const wakes = new Map<string, WakeCounts>();
  for (const { payloadBytes, count } of CASES) {
    const countsOf = (transport: TransportName): WakeCounts => {
      const counts = newWakeCounts();
      if (transport === 'dispatcher') counts.parks = NaN;
      wakes.set(taskName(transport, payloadBytes), counts);
      return counts;
    };
    const park = countsOf('ring-park');
    const busy = countsOf('ring-busy');
    const viaDispatcher = countsOf('dispatcher');
    const post = countsOf('postMessage');
    bench.add(taskName('ring-park', payloadBytes), () => ringParkBatch(count, payloadBytes, park), { async: true });
    bench.add(taskName('ring-busy', payloadBytes), () => ringBusyBatch(count, payloadBytes, busy), { async: false });
    bench.add(taskName('dispatcher', payloadBytes), () => dispatcherBatch(count, payloadBytes, viaDispatcher), { async: true });
    bench.add(taskName('postMessage', payloadBytes), () => postMessageBatch(count, payloadBytes, post), { async: true });
  }
  bench.addEventListener('cycle', (event) => {
    if (event.task !== undefined) process.stdout.write(`  done: ${event.task.name}\n`);
  });

  const started = performance.now();
  await bench.run();
  const elapsedSeconds = (performance.now() - started) / 1000;

  const measured: Measured[] = [];
  for (const { payloadBytes, count } of CASES) {
    for (const transport of TRANSPORTS) {
      const name = taskName(transport, payloadBytes);
      const counts = transport === 'postMessage' ? undefined : wakes.get(name);
      measured.push(measure(bench.getTask(name)!, transport, payloadBytes, count, counts));
    }
  }
  const rows = withRatios(measured);
  if (!ringCanariesIntact(producer.ring) || !ringCanariesIntact(dispatchedProducer.ring)) {
    throw new Error('a ring canary was overwritten');
  }

  console.log();
  console.log(markdownTable(rows));
  console.log(
    `\nbatch: records per tinybench iteration; msg/s: batch / batch time; B/s: payload bytes only; ` +
      `parks etc.: per batch, warm-up included. ${elapsedSeconds.toFixed(1)} s.`,
  );

  const resultsDir = new URL('./results/', import.meta.url);
  mkdirSync(resultsDir, { recursive: true });
  const file = new URL('ring.json', resultsDir);
  writeFileSync(file, `${JSON.stringify({ environment, elapsedSeconds, results: rows }, null, 2)}\n`);
  console.log(`wrote ${file.pathname}`);
}

const watchdog = setTimeout(() => {
  console.error(`ring bench: still running after ${WATCHDOG_MS} ms, giving up`);
  void Promise.allSettled([producer.terminate(), dispatchedProducer.terminate()]).finally(() => process.exit(2));
}, WATCHDOG_MS);
watchdog.unref();

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  dispatcher.stop();
  // Wakes a parked Dispatcher so it sees stop() now rather than never.
  dispatchedProducer.bell.ring();
  await Promise.all([producer.stop(PRODUCER_EXIT_GRACE_MS), dispatchedProducer.stop(PRODUCER_EXIT_GRACE_MS)]);
  clearTimeout(watchdog);
}
