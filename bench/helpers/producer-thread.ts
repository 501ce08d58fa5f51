// The main thread's handle on one producer thread (ring-producer.ts): it
// owns the thread's event ring, the consumer doorbell and the
// MessageChannel, starts batches through the control block, and stops the
// thread so the process can exit on its own.

import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { Doorbell, createDoorbellStorage } from '../../src/shared/doorbell.ts';
import { createRingStorage } from '../../src/shared/ring.ts';
import { CONTROL_BYTES, COUNT, FAILED, GO, PAYLOAD_BYTES, type ProducerInit, SPACE_WAITS, STOP, TRANSPORT } from './producer-control.ts';

export interface ProducerThreadOptions {
  name: string;
  ringBytes: number;
  batchTimeoutMs: number;
  idleExitMs: number;
}

export class ProducerThread {
  readonly ring: SharedArrayBuffer;
  readonly bell: Doorbell;
  /** The consumer's end of the MessageChannel the thread posts records on. */
  readonly port: MessagePort;
  /** Resolves once the thread runs and waits for its first batch. */
  readonly ready: Promise<void>;
  /** Called once if the thread fails or exits before stop(); a parked ring consumer is woken too. */
  onFailure: ((error: Error) => void) | undefined;
  readonly #control: Int32Array;
  readonly #worker: Worker;
  #failure: Error | undefined;
  #exited = false;
  /** Set by stop() or the first failure: later exits and errors are not reported. */
  #finished = false;

  constructor(options: ProducerThreadOptions) {
    this.#control = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
    this.ring = createRingStorage(options.ringBytes);
    this.bell = new Doorbell(createDoorbellStorage());
    const channel = new MessageChannel();
    this.port = channel.port1;
    const init: ProducerInit = {
      control: this.#control.buffer as SharedArrayBuffer,
      ring: this.ring,
      consumerBell: this.bell.storage,
      port: channel.port2,
      batchTimeoutMs: options.batchTimeoutMs,
      idleExitMs: options.idleExitMs,
    };
    this.#worker = new Worker(new URL('./ring-producer.ts', import.meta.url), {
      workerData: init,
      transferList: [channel.port2],
      name: options.name,
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.#worker.once('message', () => resolve());
      this.#worker.once('error', reject);
    });
    this.#worker.on('error', (error) => {
      this.#failure = error;
      this.#failed(error);
    });
    this.#worker.on('exit', (code) => {
      this.#exited = true;
      if (!this.#finished) this.#failed(new Error(`producer thread exited with code ${code} before it was stopped`));
    });
  }

  /** Throws when the thread failed, gave up on a batch, or is gone. */
  check(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (Atomics.load(this.#control, FAILED) !== 0) throw new Error('producer gave up waiting for ring space');
    if (this.#exited) throw new Error('producer thread exited during a batch');
  }

  startBatch(transport: number, count: number, payloadBytes: number): void {
    const control = this.#control;
    Atomics.store(control, TRANSPORT, transport);
    Atomics.store(control, COUNT, count);
    Atomics.store(control, PAYLOAD_BYTES, payloadBytes);
    // Publishes the three words above: the producer loads GO before them.
    Atomics.add(control, GO, 1);
    Atomics.notify(control, GO);
  }

  /** How often the producer has waited for ring space so far. */
  spaceWaits(): number {
    return Atomics.load(this.#control, SPACE_WAITS);
  }

  #failed(error: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    // A consumer parked on the doorbell would otherwise wait for its batch timer.
    this.bell.ring();
    this.onFailure?.(error);
  }

  /** Asks the thread to exit; terminates it if it has not within `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.#finished = true;
    Atomics.store(this.#control, STOP, 1);
    Atomics.add(this.#control, GO, 1);
    Atomics.notify(this.#control, GO);
    if (!this.#exited) {
      const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([exited, grace]);
      clearTimeout(timer);
      if (!this.#exited) await this.#worker.terminate();
    }
    this.port.close();
  }

  /** For the watchdog: ends the thread now. */
  terminate(): Promise<number> {
    return this.#worker.terminate();
  }
}
