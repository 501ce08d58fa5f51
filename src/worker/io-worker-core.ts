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
//   TlsTermination  with `tls`: the current certificates, and the TLS wrap of each admitted socket
//   ProtocolDriver  the protocol (a framing, or a user's module), guarded
//   Connections     socket handlers, the protocol's effects, writes, every way a connection ends
//   ConnectionTable slot-indexed state of every connection
//   EventOutbox     events into the event ring, the stash while it is full
//   ReadPauses      sockets that stop reading while the ring is full
//   CommandInbox    commands from the command rings
//   TimingWheel     idle and incomplete-frame timeouts, protocol timers, TLS handshake deadlines
//   CloseDeadlines  the bound on a closing connection's last writes
//   Sampler         event-loop utilisation and buffered bytes, once a second
//
// The protocol may be a module to import, so the parts that depend on it
// (the timing wheel, the connections) are built once it has loaded, before
// the worker listens: a protocol that fails to load fails listen().

import type { AcceptErrors, ConnectionInfo, IdPage, ShutdownReport, WorkerApi, WorkerInit } from '../shared/control.ts';
import type { ResolvedTls } from '../shared/tls-options.ts';
import { Doorbell } from '../shared/doorbell.ts';
import { PROTOCOL_FAILURE } from '../shared/protocols/spec.ts';
import { OPEN_ADDRESS, OPEN_MAX_ADDRESS, OPEN_REQUEST_MAX_BYTES } from '../shared/records.ts';
import { maxRecordPayload } from '../shared/ring.ts';
import { statsView } from '../shared/stats.ts';
import { Acceptor } from './acceptor.ts';
import { CloseDeadlines } from './close-deadlines.ts';
import { CommandInbox } from './command-inbox.ts';
import { connectionInfo, listIds } from './connection-queries.ts';
import { ConnectionTable } from './connection-table.ts';
import { Connections } from './connections.ts';
import { EventOutbox } from './event-outbox.ts';
import { loadProtocol } from './protocols/load.ts';
import { ReadPauses } from './read-pauses.ts';
import { Sampler } from './sampler.ts';
import { TimingWheel } from './timing-wheel.ts';
import { TlsTermination } from './tls-termination.ts';

/** How fine a wheel's tick is when it runs timers (the protocol's, TLS handshake deadlines): they fire up to about three ticks late. */
const PROTOCOL_TIMER_TICK_MS = 100;

export class IoWorker implements WorkerApi {
  readonly #init: WorkerInit;
  readonly #index: number;
  readonly #faultHooks: boolean;
  readonly #stats: Float64Array;
  readonly #table: ConnectionTable;
  readonly #readPauses: ReadPauses;
  readonly #outbox: EventOutbox;
  readonly #commands: CommandInbox;
  readonly #closeDeadlines: CloseDeadlines;
  readonly #acceptor: Acceptor;
  readonly #sampler: Sampler;
  /** With `tls`: the certificates new connections get. */
  readonly #tls: TlsTermination | undefined;
  /** Why the certificates could not be loaded: listen() fails with it. */
  #tlsFailure: unknown;
  /** Built once the protocol has loaded (see #prepare); no socket is accepted before. */
  #wheel: TimingWheel | undefined;
  #connections: Connections | undefined;
  /** Settles once the protocol and the parts that depend on it are ready; rejects when the protocol could not be set up. */
  #ready: Promise<void> | undefined;

  constructor(init: WorkerInit) {
    const o = init.options;
    const stats = (this.#stats = statsView(init.stats));
    this.#init = init;
    this.#index = init.index;
    this.#faultHooks = init.faultHooks;
    const table = (this.#table = new ConnectionTable(init.slotStates, o.maxConnectionsPerWorker));
    const readPauses = (this.#readPauses = new ReadPauses(table, stats));
    this.#outbox = new EventOutbox(init.eventRing, new Doorbell(init.consumerBell), stats, o.eventRingBytes, {
      // One look at the command rings from each batch of socket callbacks.
      afterPublish: () => this.#commands.poll(),
      onResume: () => readPauses.resumeAll(),
      onOverLimit: () => readPauses.pauseAll(),
    });
    this.#closeDeadlines = new CloseDeadlines(o.closeTimeoutMs, (slot, generation) => this.#connections?.closeDeadlinePassed(slot, generation));
    // Made before the control plane is exposed, so a setSecureContext() always comes after.
    try {
      this.#tls = o.tls === null ? undefined : new TlsTermination(o.tls);
    } catch (error) {
      this.#tlsFailure = error;
    }
    this.#acceptor = new Acceptor({
      options: o,
      admission: init.admission,
      worker: init.index,
      stats,
      // The acceptor listens only once #prepare has built the connections.
      take: (socket) => this.#connections!.add(socket),
      tls: this.#tls,
    });
    // Commands name connections, which exist only once the connections do.
    this.#commands = new CommandInbox(new Doorbell(init.commandBell), init.commandRings, table, stats, {
      write: (slot, socket, pieces, length, text) => this.#connections!.write(slot, socket, pieces, length, text),
      close: (slot, socket) => this.#connections!.closeLocal(slot, socket),
      release: (slot, socket) => this.#connections!.endHalfClosed(slot, socket),
    });
    this.#sampler = new Sampler(stats, table);
  }

  /** Starts what runs by itself: loading the protocol (then the timeouts), the sampler, and acting on commands. */
  start(): void {
    this.#ready ??= this.#prepare();
    // listen() reports a failure; until it is called, nobody need hear of it.
    this.#ready.catch(() => {});
    this.#sampler.start();
    this.#commands.start();
  }

  /** Loads the protocol, then builds the timing wheel and the connections around it. */
  async #prepare(): Promise<void> {
    const o = this.#init.options;
    const protocol = await loadProtocol(o, {
      stats: this.#stats,
      maxRequestBytes: Math.min(OPEN_REQUEST_MAX_BYTES, maxRecordPayload(o.eventRingBytes) - OPEN_ADDRESS - OPEN_MAX_ADDRESS),
    });
    const frameTimeoutMs = protocol.buffersFrames ? o.frameTimeoutMs : 0;
    // A connection's TLS handshake deadline is its slot's timer, until its protocol starts (connections.ts).
    const timers = protocol.timed || (o.tls !== null && o.tlsHandshakeTimeoutMs > 0);
    this.#wheel =
      o.idleTimeoutMs > 0 || frameTimeoutMs > 0 || timers
        ? new TimingWheel(
            o.maxConnectionsPerWorker,
            o.idleTimeoutMs,
            frameTimeoutMs,
            (slot, why) => this.#connections!.expire(slot, why),
            timers ? PROTOCOL_TIMER_TICK_MS : 0,
          )
        : undefined;
    this.#connections = new Connections({
      options: o,
      worker: this.#index,
      table: this.#table,
      outbox: this.#outbox,
      stats: this.#stats,
      protocol,
      wheel: this.#wheel,
      closeDeadlines: this.#closeDeadlines,
      readPauses: this.#readPauses,
      releasePlace: () => this.#acceptor.release(),
    });
    this.#wheel?.start();
  }

  async listen(port: number): Promise<number> {
    try {
      await (this.#ready ??= this.#prepare());
    } catch (error) {
      // The control plane keeps an error's name and message: the server rethrows this one as ERR_FLAMINGO_PROTOCOL.
      throw Object.assign(new Error(error instanceof Error ? error.message : String(error)), { name: PROTOCOL_FAILURE });
    }
    if (this.#tlsFailure !== undefined) throw this.#tlsFailure;
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
    const abandonedBytes = (await this.#connections?.closeAll(drainMs)) ?? 0;
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

  setSecureContext(tls: ResolvedTls): void {
    if (this.#tls === undefined) throw new Error(`I/O worker ${this.#index} has no TLS to replace the certificates of`);
    this.#tls.replace(tls);
  }

  /** Test-only: off unless the server started with FLAMINGO_FAULT_HOOKS=1, so no caller can crash a production worker. */
  injectFault(): void {
    if (!this.#faultHooks) return;
    setImmediate(() => {
      throw new Error(`fault injected into I/O worker ${this.#index}`);
    });
  }
}
