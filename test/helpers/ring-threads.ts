// What the ring test and its producer and consumer threads agree on: the
// workerData each thread gets, the result each posts back, and the shared
// progress words.

import type { RingDirection } from './ring-sequence.ts';

// Progress words (Int32, in their own SharedArrayBuffer).
/** Records the consumer has verified so far; the consumer stores, the stress producer reads. */
export const PROGRESS_RECEIVED = 0;
/**
 * Records the producer has published and finished its wake check for (the
 * producer stores it after each publish returns). A park that times out
 * with data while this is behind the data was waiting on a producer that
 * had stored TAIL but not yet looked at the sleeping flag: the producer
 * thread was not running, which is not a lost wake-up; a park that times
 * out with data this covers is one.
 */
export const PROGRESS_PUBLISHED = 1;
export const PROGRESS_WORDS = 16;

export interface ProducerData {
  ring: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  progress: SharedArrayBuffer;
  seed: number;
  direction: RingDirection;
  /** Stop after this many records ... */
  count: number;
  /** ... or after this long, whichever comes first. */
  timeLimitMs: number;
  /**
   * 'stream': batches of 1 to 16 records per publish, as fast as the ring
   * allows. 'stress': single records at random small intervals, bursts and
   * gaps, and catch-up points that aim a single publish at the moment the
   * consumer, having just run dry, heads into its park (racePublish in
   * ring-producer.ts).
   */
  pacing: 'stream' | 'stress';
  /** Longest single wait, for space or for the consumer; longer counts as a stall. */
  waitMs: number;
}

export interface ProducerResult {
  produced: number;
  publishes: number;
  spaceWaits: number;
  /** Space waits that ran their full waitMs. */
  spaceTimeouts: number;
  /** Stress only: times the producer waited for the consumer to catch up. */
  syncPoints: number;
  /** Stress only: catch-up waits that ran their full waitMs. */
  stalls: number;
  /** Stress only: racing publishes aimed at the consumer's park, timed from a catch-up seen as it happened. */
  aimedRaces: number;
  /** Stress only: where the aimed publishes ended up, in (calibrated) ns after the consumer caught up. */
  raceDelayNs: number;
  /** True when the producer gave up (a stalled consumer), not at count or time limit. */
  gaveUp: boolean;
  elapsedMs: number;
}

export interface ConsumerData {
  ring: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  progress: SharedArrayBuffer;
  seed: number;
  direction: RingDirection;
  /** 'sync': Doorbell.waitSync (blocking thread); 'async': Doorbell.waitAsync. */
  park: 'sync' | 'async';
  /**
   * Busy time between running dry and parking, as a consumer with other
   * work would have; it lets the stress producer's racing publish reach
   * the park from before as well as from after.
   */
  idleSpinNs: number;
  /** Timeout of one park; a park that runs it out is counted. */
  waitMs: number;
  /** The consumer gives up after this long, whatever happens. */
  hardLimitMs: number;
}

export interface ConsumerResult {
  received: number;
  payloadBytes: number;
  /** Records placed at offset 0 after a pad (the pad-and-wrap path). */
  padWraps: number;
  /** Records that ended exactly at the end of the data region. */
  exactWraps: number;
  maxPayloadRecords: number;
  /** Waits on the doorbell actually entered. */
  parks: number;
  /** Parks that ran out their timeout. */
  wakeTimeouts: number;
  /** Parks that ran out their timeout while a record was published: lost wake-ups. */
  lostWakeups: number;
  /** Of lostWakeups: those where the producer had not yet finished publishing that record (it stored TAIL, then did not run). */
  producerMidPublish: number;
  /** Wake-ups that found no data (a notify meant for an earlier park). */
  emptyWakes: number;
  /** The first difference from the expected sequence, or null. */
  mismatch: string | null;
  /** True when the producer ended the stream and everything was drained. */
  ended: boolean;
  hardLimitHit: boolean;
  elapsedMs: number;
}

/**
 * Returns a busy wait of about `ns` nanoseconds, calibrated at creation.
 * performance.now() ticks only every ~0.5 µs on some VMs, too coarse to
 * aim a publish at a park sequence that takes about a microsecond.
 */
export function calibratedSpin(): (ns: number) => void {
  const word = new Int32Array(new SharedArrayBuffer(4));
  const spin = (loops: number): number => {
    let sum = 0;
    for (let i = 0; i < loops; i++) sum += Atomics.load(word, 0);
    return sum;
  };
  // Let the JIT finish with the loop first, then keep the fastest of a few
  // measurements (a descheduled thread only ever makes one slower).
  for (let i = 0; i < 20; i++) spin(50_000);
  const loops = 1_000_000;
  let loopsPerNs = 0;
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    spin(loops);
    loopsPerNs = Math.max(loopsPerNs, loops / ((performance.now() - started) * 1e6));
  }
  return (ns) => {
    spin(Math.round(ns * loopsPerNs));
  };
}
