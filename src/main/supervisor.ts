// The supervisor: starts the I/O workers, keeps them listening on one port,
// and replaces a worker whose thread dies.
//
// A dead worker cannot report its own connections, so the supervisor takes
// over as the producer of its event ring (the only producer now that the
// thread is gone) and appends one WORKER_EXIT record after whatever the
// worker published. The consumer, which tracks the ids it saw open, closes
// each of that worker's ids with 'worker-exit' when it reaches the record.
// Then a replacement starts on the same shared memory: same rings (so
// producers and the consumer carry on unchanged, and commands for the dead
// ids are counted as stale), same slot generations (so no new id repeats a
// dead one), and it joins the same port with reusePort. Only the first
// start claims the port (see port-claim.ts): a replacement rejoins a port
// this server already holds, so it neither probes nor re-marks it. With
// TLS, a replacement starts with the latest certificates: setSecureContext
// writes them into every worker's init data as well as sending them.

import { Worker } from 'node:worker_threads';
import { type WorkerApi, type WorkerInit, type ShutdownReport, createSlotStatesStorage } from '../shared/control.ts';
import { type Doorbell, createDoorbellStorage } from '../shared/doorbell.ts';
import { FlamingoError } from '../shared/errors.ts';
import type { ResolvedOptions } from '../shared/options.ts';
import type { ResolvedTls } from '../shared/tls-options.ts';
import { RecordKind } from '../shared/records.ts';
import { createRingStorage } from '../shared/ring.ts';
import { RingProducer } from '../shared/ring-producer.ts';
import { type Remote, nodeEndpoint, releaseProxy, wrap } from '../shared/rpc.ts';
import { ADMITTED_ALL, StatField, admittedBy, createAdmissionStorage, createStatsStorage, statsView } from '../shared/stats.ts';
import { type PortMarker, claimPort, markExclusive, where } from './port-claim.ts';

const workerUrl = new URL(`../worker/io-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** A worker that dies within this long of starting is restarted after a growing delay. */
const STABLE_AFTER_MS = 10_000;
const MAX_RESTART_DELAY_MS = 30_000;

export interface WorkerHandle {
  thread: Worker;
  api: Remote<WorkerApi>;
  init: WorkerInit;
  /** Its whole stats block: the supervisor writes RESTARTS, stats() reads (see stats.ts). */
  stats: Float64Array;
  startedAt: number;
  quickDeaths: number;
  alive: boolean;
  /**
   * Its thread runs and has answered listen(). A replacement zeroes OPEN_NOW
   * before it answers any call, so until then (and once its thread is gone)
   * the word may hold a dead worker's count: stats() reads it as 0.
   */
  running: boolean;
  /** Rejects once the thread has exited (never resolves): a call racing it cannot wait on a dead worker. */
  exited: Promise<never>;
  released: boolean;
}

export class Supervisor {
  readonly workers: WorkerHandle[] = [];
  port = 0;
  readonly #options: ResolvedOptions;
  readonly #consumerBell: Doorbell;
  /** The admission words (layout in stats.ts): the supervisor gives back a dead worker's places. */
  readonly #admission: Int32Array;
  readonly #admissionStorage = createAdmissionStorage();
  #stopping = false;
  /** Held while an exclusive server (sharePort false) lives; released in terminateAll. */
  #marker: PortMarker | undefined;
  readonly #onExit: (index: number, error: unknown) => void;

  constructor(options: ResolvedOptions, consumerBell: Doorbell, onExit: (index: number, error: unknown) => void) {
    this.#options = options;
    this.#consumerBell = consumerBell;
    this.#admission = new Int32Array(this.#admissionStorage);
    this.#onExit = onExit;
  }

  /** `generationBase`: where every slot's generations start in this run (see cluster/lease.ts). */
  async start(generationBase = 0): Promise<void> {
    const o = this.#options;
    // The workers are spawned at once (the server wires its rings to them
    // before start resolves); they bind only when told to listen.
    for (let index = 0; index < o.workers; index++) {
      this.#spawn({
        index,
        options: o,
        eventRing: createRingStorage(o.eventRingBytes),
        consumerBell: this.#consumerBell.storage,
        commandBell: createDoorbellStorage(),
        commandRings: [createRingStorage(o.commandRingBytes)],
        slotStates: createSlotStatesStorage(o.maxConnectionsPerWorker, generationBase),
        stats: createStatsStorage(),
        admission: this.#admissionStorage,
        faultHooks: process.env.FLAMINGO_FAULT_HOOKS === '1',
      });
    }
    try {
      if (o.port !== 0) this.#marker = await claimPort(o);
      await this.#listenAll();
      // A port the kernel picked was free: only the marker remains to take.
      if (o.port === 0 && !o.sharePort) this.#marker = await markExclusive(o.host, this.port);
    } catch (error) {
      await this.terminateAll();
      throw error;
    }
  }

  async #listenAll(): Promise<void> {
    const o = this.#options;
    try {
      // The first worker picks the port when 0 was asked for; the others join it.
      this.port = await this.#listen(this.workers[0]!, o.port);
      await Promise.all(this.workers.slice(1).map((w) => this.#listen(w, this.port)));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new FlamingoError('ERR_FLAMINGO_LISTEN', `cannot listen on ${where(o.host, o.port)}: ${message}`, { cause: error });
    }
  }

  async #listen(worker: WorkerHandle, port: number): Promise<number> {
    // A worker that dies before it answers would leave the call pending for ever.
    const died = worker.exited.catch((error: unknown) => {
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(`I/O worker ${worker.init.index} died before it listened: ${why}`, { cause: error });
    });
    // Once listen() has answered, a later exit is the recovery's business, not this call's.
    died.catch(() => {});
    const bound = await Promise.race([worker.api.listen(port), died]);
    // It has zeroed OPEN_NOW by now (it does so before answering any call).
    worker.running = worker.alive;
    return bound;
  }

  /** Gives every worker another producer's command ring; returns them in worker order. */
  async addCommandRings(): Promise<SharedArrayBuffer[]> {
    const rings = this.workers.map(() => createRingStorage(this.#options.commandRingBytes));
    await Promise.all(
      this.workers.map(async (worker, index) => {
        // Kept in the init data too, so a replacement worker adopts it.
        worker.init.commandRings.push(rings[index]!);
        await worker.api.addCommandRing(rings[index]!);
      }),
    );
    return rings;
  }

  /**
   * Gives every worker new certificates (checked already), and keeps them for
   * any worker started later. Resolves once every live worker has them; a
   * worker that dies meanwhile is left to its replacement, which starts with
   * them.
   */
  async setSecureContext(tls: ResolvedTls): Promise<void> {
    // First, so that a worker spawned from now on starts with them. Calls to one worker arrive in order, so the last call wins everywhere.
    for (const worker of this.workers) worker.init.options = { ...worker.init.options, tls };
    await Promise.all(this.workers.filter((w) => w.alive).map((w) => Promise.race([w.api.setSecureContext(tls), w.exited.catch(() => {})])));
  }

  async stopAccepting(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.workers.filter((w) => w.alive).map((w) => w.api.stopAccepting()));
  }

  async shutdown(drainMs: number): Promise<ShutdownReport[]> {
    this.#stopping = true;
    return Promise.all(this.workers.filter((w) => w.alive).map((w) => w.api.shutdown(drainMs)));
  }

  async terminateAll(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.workers.map(async (w) => {
        this.#release(w);
        await w.thread.terminate();
      }),
    );
    // After the workers' listeners are gone, so no sharer can join them.
    const marker = this.#marker;
    this.#marker = undefined;
    await marker?.release();
  }

  /** Test hook: makes worker `index` throw an uncaught exception. */
  crash(index: number): void {
    void this.workers[index]!.api.injectFault().catch(() => {});
  }

  /** Test hook: terminates worker `index`'s thread from outside. */
  async terminate(index: number): Promise<void> {
    await this.workers[index]!.thread.terminate();
  }

  #spawn(init: WorkerInit): WorkerHandle {
    const thread = new Worker(workerUrl, { workerData: init, name: `flamingo-io-${init.index}` });
    const previous = this.workers[init.index];
    let markExited!: (error: unknown) => void;
    const exited = new Promise<never>((_, reject) => {
      markExited = reject;
    });
    // Only calls racing it observe it.
    exited.catch(() => {});
    const handle: WorkerHandle = {
      thread,
      api: wrap<WorkerApi>(nodeEndpoint(thread as never)),
      init,
      stats: statsView(init.stats),
      startedAt: performance.now(),
      quickDeaths: previous?.quickDeaths ?? 0,
      alive: true,
      running: false,
      exited,
      released: false,
    };
    let failure: unknown;
    thread.on('error', (error) => {
      failure = error;
    });
    thread.once('exit', (code) => {
      handle.alive = false;
      handle.running = false;
      const error = failure ?? new Error(`I/O worker ${init.index} exited with code ${code}`);
      markExited(error);
      if (this.#stopping) return;
      void this.#recover(handle, error);
    });
    this.workers[init.index] = handle;
    return handle;
  }

  async #recover(dead: WorkerHandle, error: unknown): Promise<void> {
    const index = dead.init.index;
    this.#release(dead);
    // Its connections died with its thread: give their places back. (Its
    // OPEN_NOW stays the worker's word; stats() reads it as 0 until the
    // replacement answers, see `running`.)
    Atomics.sub(this.#admission, ADMITTED_ALL, Atomics.exchange(this.#admission, admittedBy(index), 0));
    // The supervisor's own word: only this thread writes it.
    dead.stats[StatField.RESTARTS]!++;
    await this.#appendWorkerExit(dead.init);
    this.#onExit(index, error);
    if (this.#stopping) return;
    const quick = performance.now() - dead.startedAt < STABLE_AFTER_MS;
    const deaths = quick ? dead.quickDeaths + 1 : 0;
    const delay = deaths === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (deaths - 1));
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay).unref());
    if (this.#stopping) return;
    const replacement = this.#spawn(dead.init);
    replacement.quickDeaths = deaths;
    try {
      await this.#listen(replacement, this.port);
    } catch {
      // Its exit handler schedules the next attempt.
      void replacement.thread.terminate();
    }
  }

  #release(worker: WorkerHandle): void {
    if (worker.released) return;
    worker.released = true;
    worker.api[releaseProxy]();
  }

  /** Writes WORKER_EXIT into the dead worker's event ring, waiting for space if the consumer lags. */
  async #appendWorkerExit(init: WorkerInit): Promise<void> {
    const ring = new RingProducer(init.eventRing, this.#consumerBell);
    ring.put(RecordKind.WORKER_EXIT, 0, init.index, 0, EMPTY);
    await ring.whenFlushed();
  }
}

const EMPTY = new Uint8Array(0);
