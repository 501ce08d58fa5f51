// An I/O worker: owns a reusePort listener and every connection the kernel
// hands it, turns socket activity into event records (OPEN, DATA, CLOSE) in
// its event ring, and acts on the commands in its command rings. Nobody
// else touches its sockets.
//
// This class builds the worker from its parts and answers the control plane
// (WorkerApi); the thread's entry file (io-worker.ts) only constructs it
// and exposes it. The parts:
//
//   Acceptor        listener, admission, refusal, accept errors and back-off
//   Connections     socket handlers, framing, writes, every way a connection ends
//   ConnectionTable slot-indexed state of every connection
//   EventOutbox     events into the event ring, the stash while it is full
//   ReadPauses      sockets that stop reading while the ring is full
//   CommandInbox    commands from the command rings
//   TimingWheel     idle and incomplete-frame timeouts
//   CloseDeadlines  the bound on a closing connection's last writes
//   Sampler         event-loop utilisation and buffered bytes, once a second

import type { AcceptErrors, ConnectionInfo, IdPage, ShutdownReport, WorkerApi, WorkerInit } from '../shared/control.ts';
import { Doorbell } from '../shared/doorbell.ts';
import { createFramer } from '../shared/framing/index.ts';
import { statsView } from '../shared/stats.ts';
import { Acceptor } from './acceptor.ts';
import { CloseDeadlines } from './close-deadlines.ts';
import { CommandInbox } from './command-inbox.ts';
import { connectionInfo, listIds } from './connection-queries.ts';
import { ConnectionTable } from './connection-table.ts';
import { Connections } from './connections.ts';
import { EventOutbox } from './event-outbox.ts';
import { ReadPauses } from './read-pauses.ts';
import { Sampler } from './sampler.ts';
import { TimingWheel } from './timing-wheel.ts';

export class IoWorker implements WorkerApi {
  readonly #index: number;
  readonly #faultHooks: boolean;
  readonly #table: ConnectionTable;
  readonly #outbox: EventOutbox;
  readonly #commands: CommandInbox;
  readonly #wheel: TimingWheel | undefined;
  readonly #closeDeadlines: CloseDeadlines;
  readonly #acceptor: Acceptor;
  readonly #connections: Connections;
  readonly #sampler: Sampler;

  constructor(init: WorkerInit) {
    const o = init.options;
    const stats = statsView(init.stats);
    this.#index = init.index;
    this.#faultHooks = init.faultHooks;
    const table = (this.#table = new ConnectionTable(init.slotStates, o.maxConnectionsPerWorker));
    const readPauses = new ReadPauses(table, stats);
    this.#outbox = new EventOutbox(init.eventRing, new Doorbell(init.consumerBell), stats, o.eventRingBytes, {
      // One look at the command rings from each batch of socket callbacks.
      afterPublish: () => this.#commands.poll(),
      onResume: () => readPauses.resumeAll(),
      onOverLimit: () => readPauses.pauseAll(),
    });
    const framer = createFramer(o.framing, o.maxFrameBytes, (slot, frame) => this.#connections.frame(slot, frame));
    const framesBuffered = o.framing.kind !== 'raw';
    const frameTimeoutMs = framesBuffered ? o.frameTimeoutMs : 0;
    this.#wheel =
      o.idleTimeoutMs > 0 || frameTimeoutMs > 0
        ? new TimingWheel(o.maxConnectionsPerWorker, o.idleTimeoutMs, frameTimeoutMs, (slot, why) => this.#connections.expire(slot, why))
        : undefined;
    this.#closeDeadlines = new CloseDeadlines(o.closeTimeoutMs, (slot, generation) => this.#connections.closeDeadlinePassed(slot, generation));
    this.#acceptor = new Acceptor({
      options: o,
      admission: init.admission,
      worker: init.index,
      stats,
      take: (socket) => this.#connections.add(socket),
    });
    this.#connections = new Connections({
      options: o,
      worker: init.index,
      table,
      outbox: this.#outbox,
      stats,
      framer,
      wheel: this.#wheel,
      closeDeadlines: this.#closeDeadlines,
      readPauses,
      releasePlace: () => this.#acceptor.release(),
    });
    const connections = this.#connections;
    this.#commands = new CommandInbox(new Doorbell(init.commandBell), init.commandRings, table, stats, {
      write: (slot, socket, pieces, length) => connections.write(slot, socket, pieces, length),
      close: (slot, socket) => connections.closeLocal(slot, socket),
      release: (slot, socket) => connections.endHalfClosed(slot, socket),
    });
    this.#sampler = new Sampler(stats, table);
  }

  /** Starts what runs by itself: the timeouts, the sampler, and acting on commands. */
  start(): void {
    this.#wheel?.start();
    this.#sampler.start();
    this.#commands.start();
  }

  listen(port: number): Promise<number> {
    if (this.#faultHooks && process.env.FLAMINGO_FAULT_ON_LISTEN === String(this.#index)) {
      // Test-only: die before listening, as a worker that fails at start would.
      setImmediate(() => {
        throw new Error(`fault injected into I/O worker ${this.#index} at listen`);
      });
      return new Promise(() => {});
    }
    return this.#acceptor.listen(port);
  }

  addCommandRing(storage: SharedArrayBuffer): void {
    this.#commands.add(storage);
  }

  stopAccepting(): Promise<void> {
    return this.#acceptor.stop();
  }

  async shutdown(drainMs: number): Promise<ShutdownReport> {
    await this.#acceptor.stop();
    this.#commands.drain();
    this.#wheel?.stop();
    this.#sampler.stop();
    const abandonedBytes = await this.#connections.closeAll(drainMs);
    this.#closeDeadlines.stop();
    await this.#outbox.whenFlushed();
    this.#commands.close();
    return { abandonedBytes };
  }

  connectionInfo(slot: number, generation: number): ConnectionInfo | null {
    return connectionInfo(this.#table, this.#index, slot, generation);
  }

  listIds(cursor: number, limit: number): IdPage {
    return listIds(this.#table, cursor, limit);
  }

  acceptErrors(): AcceptErrors {
    return this.#acceptor.errors;
  }

  /** Test-only: off unless the server started with FLAMINGO_FAULT_HOOKS=1, so no caller can crash a production worker. */
  injectFault(): void {
    if (!this.#faultHooks) return;
    setImmediate(() => {
      throw new Error(`fault injected into I/O worker ${this.#index}`);
    });
  }
}
