// The producer thread of bench/ring.bench.ts. It sleeps on the control
// block's GO word (Atomics.wait: this thread has nothing else to do), and
// for each batch writes COUNT records of PAYLOAD_BYTES into the event ring
// (RingWriter, blocking for space with armSpaceWait/waitForSpaceSync) or
// posts them one postMessage per record, then sleeps again. Every record's
// payload is copied in full; its first byte is the record's index mod 256,
// which the consumer checks, so a lost or reordered record fails the run.

import { parentPort, workerData } from 'node:worker_threads';
import { Doorbell } from '../../src/shared/doorbell.ts';
import { RecordKind } from '../../src/shared/records.ts';
import { RingWriter } from '../../src/shared/ring.ts';
import { fillerByte } from './payload-check.ts';
import { COUNT, FAILED, GO, PAYLOAD_BYTES, type ProducerInit, SPACE_WAITS, STOP, TRANSPORT, Transport } from './producer-control.ts';

// The I/O worker publishes once per event-loop turn, not per record. Here a
// publish per record halved 16 B throughput (the TAIL line and the doorbell
// in play every record); one per 32 records kept every size at its best.
const PUBLISH_EVERY = 32;
// How long one Atomics.wait may sleep before the loop looks at its clocks.
const WAIT_SLICE_MS = 100;

const init = workerData as ProducerInit;
const control = new Int32Array(init.control);
const writer = new RingWriter(init.ring, new Doorbell(init.consumerBell));
const port = init.port;
// One source buffer per size, filled once; the per-record byte is set anew.
const sources = new Map<number, Uint8Array>();

function sourceOf(payloadBytes: number): Uint8Array {
  let source = sources.get(payloadBytes);
  if (source === undefined) {
    source = new Uint8Array(payloadBytes);
    for (let i = 0; i < payloadBytes; i++) source[i] = fillerByte(i);
    sources.set(payloadBytes, source);
  }
  return source;
}

/** Blocks until a record of `length` payload bytes fits; false after `deadline`. */
function waitForRoom(length: number, deadline: number): boolean {
  // Unpublished records are invisible to the consumer, so it could never
  // free the space this thread waits for: publish them first.
  writer.publish();
  for (;;) {
    // armSpaceWait reads the space bell before it raises the flag and
    // re-checks the room after, so a release between our check and our
    // wait changes the bell and the wait returns at once: no lost wake-up.
    const bell = writer.armSpaceWait(length);
    if (bell < 0) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    Atomics.add(control, SPACE_WAITS, 1);
    writer.waitForSpaceSync(bell, Math.min(left, WAIT_SLICE_MS));
  }
}

function produceRing(count: number, payloadBytes: number): boolean {
  const source = sourceOf(payloadBytes);
  const bytes = writer.bytes;
  const deadline = performance.now() + init.batchTimeoutMs;
  for (let index = 0; index < count; index++) {
    let offset = writer.write(RecordKind.DATA, 0, 0, index, payloadBytes);
    while (offset < 0) {
      if (!waitForRoom(payloadBytes, deadline)) return false;
      offset = writer.write(RecordKind.DATA, 0, 0, index, payloadBytes);
    }
    bytes.set(source, offset);
    bytes[offset] = index & 0xff;
    if (index % PUBLISH_EVERY === PUBLISH_EVERY - 1) writer.publish();
  }
  writer.publish();
  return true;
}

function producePostMessage(count: number, payloadBytes: number): boolean {
  const source = sourceOf(payloadBytes);
  for (let index = 0; index < count; index++) {
    source[0] = index & 0xff;
    // Structured clone copies the payload, as the ring's write does.
    port.postMessage(source);
  }
  return true;
}

// GO starts at 0 and only main increments it: a batch started before this
// thread got here is still seen.
let seen = 0;
parentPort?.postMessage('ready');
let idleSince = performance.now();
while (Atomics.load(control, STOP) === 0) {
  // Wakes on the GO increment or after a slice; a GO stored before this
  // wait began makes the wait return at once (the value no longer matches).
  Atomics.wait(control, GO, seen, WAIT_SLICE_MS);
  if (Atomics.load(control, STOP) !== 0) break;
  const go = Atomics.load(control, GO);
  if (go === seen) {
    if (performance.now() - idleSince > init.idleExitMs) break;
    continue;
  }
  seen = go;
  const count = Atomics.load(control, COUNT);
  const payloadBytes = Atomics.load(control, PAYLOAD_BYTES);
  const done = Atomics.load(control, TRANSPORT) === Transport.RING ? produceRing(count, payloadBytes) : producePostMessage(count, payloadBytes);
  if (!done) {
    Atomics.store(control, FAILED, 1);
    break;
  }
  idleSince = performance.now();
}
port.close();
