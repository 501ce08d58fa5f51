// The control block between bench/ring.bench.ts (the consumer, main thread)
// and bench/helpers/ring-producer.ts (the producer, a worker thread). Both
// sides import these names; nothing else knows the offsets.
//
// Layout (Int32 words in a 64-byte SharedArrayBuffer: who writes / who reads):
//
//   word 0  GO             main increments to start a batch / producer waits on it
//   word 1  TRANSPORT      main / producer     Transport of the next batch
//   word 2  COUNT          main / producer     records in the next batch
//   word 3  PAYLOAD_BYTES  main / producer     payload bytes per record
//   word 4  STOP           main sets once / producer exits when it sees it
//   word 5  FAILED         producer sets when it gave up waiting for space
//   word 6  SPACE_WAITS    producer counts its waits for ring space / main reports them
//
// Main stores TRANSPORT, COUNT and PAYLOAD_BYTES before its Atomics.add on
// GO, and the producer loads GO before it reads them, so a producer that
// sees a new GO sees that batch's parameters.

import type { MessagePort } from 'node:worker_threads';

export const CONTROL_BYTES = 64;

export const GO = 0;
export const TRANSPORT = 1;
export const COUNT = 2;
export const PAYLOAD_BYTES = 3;
export const STOP = 4;
export const FAILED = 5;
export const SPACE_WAITS = 6;

export const Transport = {
  /** RingWriter into the shared event ring. */
  RING: 0,
  /** One MessagePort.postMessage of a copied Uint8Array per record. */
  POST_MESSAGE: 1,
} as const;

/** What the bench hands the producer thread as its workerData. */
export interface ProducerInit {
  control: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  consumerBell: SharedArrayBuffer;
  /** The producer's end of the MessageChannel, transferred with the worker. */
  port: MessagePort;
  /** A batch whose producer waits longer than this for ring space fails. */
  batchTimeoutMs: number;
  /** With no batch for this long, the producer exits on its own. */
  idleExitMs: number;
}
