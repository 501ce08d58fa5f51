// The public Server: a thin facade over the supervisor (worker threads and
// their control plane), the dispatcher (event rings to the event delivery:
// listeners or pull queues) and the command sender (sends to command rings).

import { EventEmitter } from 'node:events';
import type { Server as HttpServer } from 'node:http';
import type { ConnectionInfo, IdPage, ShutdownReport } from '../shared/control.ts';
import { Doorbell, createDoorbellStorage } from '../shared/doorbell.ts';
import { FlamingoError, invalidOption } from '../shared/errors.ts';
import { type IdParts, decodeId } from '../shared/id.ts';
import { encodeLengthPrefixed } from '../shared/framing/length-prefix.ts';
import { type ResolvedOptions, type ServerOptions, resolveOptions } from '../shared/options.ts';
import { PROTOCOL_FAILURE } from '../shared/protocols/spec.ts';
import { ringUsed } from '../shared/ring.ts';
import { StatField, readStats, sumTotals } from '../shared/stats.ts';
import { type TlsOptions, resolveTls } from '../shared/tls-options.ts';
import { CommandSender, type CommandTarget, type SenderLimits } from './command-sender.ts';
import { Dispatcher } from './dispatcher.ts';
import { EventDelivery } from './event-delivery.ts';
import { Lifecycle, LifecycleState, createLifecycleStorage } from './lifecycle.ts';
import { boundPort, serveMetrics } from './metrics.ts';
import { OpenTracker } from './open-tracker.ts';
import { Supervisor } from './supervisor.ts';
import { type ClusterParts, Router } from './cluster/router.ts';
import { NodeLease, generationBaseFromClock } from './cluster/lease.ts';
import { RedisLink } from './cluster/redis-link.ts';
import type { PipelineHandle } from './pipeline.ts';
import { type CloseEvent, type DataEvent, type OpenEvent, PullKind, PullQueues } from './pull-queues.ts';
import type { ServerEvents, ServerStats, ShutdownOptions } from './server-types.ts';

export type { ServerEvents, ServerStats, ShutdownOptions } from './server-types.ts';

/** Pulled-but-not-yet-taken data above this stops draining (and so, reading) until it is taken. */
const PULL_DATA_LIMIT = 16 * 1024 * 1024;

/** Starts a server and resolves once every I/O worker listens. */
export function listen(options?: ServerOptions): Promise<Server> {
  return Server.listen(options);
}

/** The supervisor behind each server, for the test-only fault hooks in testing.ts (not part of the package's API). */
export const supervisorOf = new WeakMap<Server, Supervisor>();

export class Server extends EventEmitter<ServerEvents> {
  readonly options: Readonly<ResolvedOptions>;
  readonly #consumerBell = new Doorbell(createDoorbellStorage());
  readonly #supervisor: Supervisor;
  readonly #pull = new PullQueues(PULL_DATA_LIMIT);
  readonly #lifecycle = new Lifecycle(createLifecycleStorage());
  readonly #delivery: EventDelivery;
  #sender: CommandSender | undefined;
  #dispatcher: Dispatcher | undefined;
  #tracker: OpenTracker | undefined;
  readonly #router: Router;
  readonly #generationBase: number;
  #externalTaken = false;
  #shutdown: Promise<ShutdownReport> | undefined;
  #metrics: HttpServer | undefined;
  /** Set once start has finished; closing and closed are the lifecycle's states. */
  #started = false;

  /** Starts a server and resolves once every I/O worker listens (the same as listen()). */
  static async listen(options?: ServerOptions): Promise<Server> {
    let resolved = resolveOptions(options);
    const cluster = resolved.cluster;
    if (cluster === null) {
      const server = new Server(resolved, null, generationBaseFromClock());
      await server.#start();
      return server;
    }
    // The node number (leased with 'auto') goes into every id, so it is settled before any worker starts.
    let server: Server | undefined;
    const link = await RedisLink.connect(cluster, {
      message: (channel, message) => {
        if (server !== undefined) server.#router.received(channel, message);
      },
      reconnected: () => {
        if (server !== undefined) server.#router.reconnected();
      },
      problem: (error) => {
        if (server !== undefined) server.#routeError(error);
      },
    });
    try {
      const lease = await NodeLease.take(link, cluster.prefix, cluster.leaseMs, cluster.autoNode ? 'auto' : resolved.node);
      resolved = { ...resolved, node: lease.node };
      server = new Server(resolved, { options: cluster, link, lease }, lease.generationBase);
    } catch (error) {
      await link.close();
      throw error;
    }
    await server.#start();
    return server;
  }

  private constructor(options: ResolvedOptions, cluster: ClusterParts | null, generationBase: number) {
    super();
    this.options = options;
    this.#generationBase = generationBase;
    this.#delivery = new EventDelivery(this, this.#pull, (id) => this.#sender?.release(id));
    this.#supervisor = new Supervisor(options, this.#consumerBell, (index, error) => this.#delivery.emitSafely('workerExit', index, error));
    supervisorOf.set(this, this.#supervisor);
    this.#router = new Router(
      {
        node: options.node,
        workers: options.workers,
        sender: () => this.#commands(),
        isOpen: options.consumer === 'main' ? (id) => this.#tracker?.isOpen(id) === true : null,
        // Slots are handed out fresh before any is reused, so no slot past the opens so far has been touched.
        slotStates: () =>
          this.#supervisor.workers.map(
            (w) => new Uint32Array(w.init.slotStates, 0, Math.min(options.maxConnectionsPerWorker, w.stats[StatField.OPENED]! + 64)),
          ),
        emit: (event, node) => this.#delivery.emitSafely(event, node),
        problem: (error) => this.#routeError(error),
      },
      cluster,
    );
    this.#delivery.closed = (id) => this.#router.connectionClosed(id);
  }

  /** This server's node number: the one leased at start with node 'auto'. */
  get node(): number {
    return this.options.node;
  }

  /** The metrics endpoint's port, or -1 when metricsPort is off. */
  get metricsPort(): number {
    return this.#metrics === undefined ? -1 : boundPort(this.#metrics);
  }

  /** The port every worker listens on. */
  get port(): number {
    return this.#supervisor.port;
  }

  get workerCount(): number {
    return this.options.workers;
  }

  async #start(): Promise<void> {
    const o = this.options;
    const supervisor = this.#supervisor;
    const started = supervisor.start(this.#generationBase);
    const workers = supervisor.workers;
    const sender = new CommandSender(
      workers.map((w) => ({ ring: w.init.commandRings[0]!, workerBell: w.init.commandBell })),
      this.#senderLimits(),
      false,
    );
    this.#sender = sender;
    sender.onDrain = () => this.#delivery.emitSafely('drain');
    if (o.consumer === 'main') {
      const tracker = new OpenTracker(
        o.workers,
        o.maxConnectionsPerWorker,
        workers.map((w) => w.stats),
      );
      this.#tracker = tracker;
      this.#dispatcher = new Dispatcher(
        workers.map((w) => w.init.eventRing),
        this.#consumerBell,
        this.#delivery,
        tracker,
      );
      this.#pull.onSpace = () => this.#dispatcher?.kick();
      this.#dispatcher.start();
    }
    try {
      await started;
      await this.#router.start();
      if (o.metricsPort >= 0) this.#metrics = await serveMetrics(this, o.metricsHost, o.metricsPort);
    } catch (error) {
      this.#dispatcher?.stop();
      await supervisor.terminateAll();
      await this.#router.stop();
      throw protocolFailure(error) ?? error;
    }
    this.#started = true;
  }

  /**
   * Queues `data` for connection `id`, as one message: it reaches the socket
   * whole or not at all. False means: buffered, wait for 'drain' before
   * sending more; or, once shutdown() has begun, refused (counted in
   * stats().refusedSends; no 'drain' follows). A message larger than
   * maxBufferedBytes throws ERR_FLAMINGO_PAYLOAD_TOO_LARGE.
   */
  send(id: number, data: Uint8Array | string): boolean {
    const sender = this.#commands();
    if (this.#router.isRemote(id)) return this.#router.send(id, data);
    return sender.send(id, data);
  }

  /**
   * Sends one payload to many connections: one copy per worker, not per
   * connection; with `cluster`, ids of other nodes too, one message per node.
   */
  sendMany(ids: ArrayLike<number>, data: Uint8Array | string): boolean {
    const sender = this.#commands();
    if (this.options.cluster !== null) return this.#router.sendMany(ids, data);
    return sender.sendMany(ids, data);
  }

  /**
   * Subscribes connection `id` to `topic` (a string of 1 to 256 UTF-8
   * bytes). With `cluster`, `id` may be any node's: the request goes to its
   * node. Resolves true once this node listens for the topic (for its own
   * id) or the request is on its way (another node's); false when this
   * node's `id` is not open. A connection leaves its topics when it closes.
   */
  subscribe(id: number, topic: string): Promise<boolean> {
    this.#commands();
    return this.#router.subscribe(id, topic);
  }

  /** Ends a subscription; resolves false when this node's `id` had none to `topic`. */
  unsubscribe(id: number, topic: string): Promise<boolean> {
    this.#commands();
    return this.#router.unsubscribe(id, topic);
  }

  /**
   * Sends `data` as is (frame it with frame() when the framing needs it) to
   * every subscriber of `topic`, on every node: this node's through
   * sendMany at once, the other nodes' through Redis, batched per turn.
   * False: this node's share is buffered (wait for 'drain'), or refused
   * during shutdown.
   */
  publish(topic: string, data: Uint8Array | string): boolean {
    this.#commands();
    return this.#router.publish(topic, data);
  }

  /** The node numbers alive (holding a lease), this one included, sorted; [node] without `cluster`. */
  nodes(): number[] {
    const nodes = this.#router.nodes();
    return nodes.length === 0 ? [this.options.node] : nodes;
  }

  /**
   * Frames an outgoing message in this server's wire format: a length header
   * for 'length-prefix', the delimiter appended for 'delimiter', the bytes
   * as they are for 'raw' and for a protocol that frames its own sends in
   * the worker (a module with encode(), 'websocket'). One copy; send the
   * result with send() or sendMany().
   */
  frame(payload: Uint8Array | string): Buffer {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    if (!(bytes instanceof Uint8Array)) {
      throw new FlamingoError('ERR_FLAMINGO_INVALID_PAYLOAD', `frame() takes a Uint8Array, Buffer or string; got ${typeof payload}`);
    }
    const framing = this.options.framing;
    if (framing.kind === 'length-prefix') return encodeLengthPrefixed(framing, bytes);
    if (framing.kind === 'delimiter') return Buffer.concat([bytes, framing.delimiter]);
    return Buffer.from(bytes);
  }

  /** Closes connection `id` after what was sent to it is flushed; its close event says 'local'. */
  close(id: number): boolean {
    const sender = this.#commands();
    if (this.#router.isRemote(id)) return this.#router.close(id);
    return sender.closeConnection(id);
  }

  /** The next open event, for pull loops; null once the server has shut down and every open was handed out. */
  recvOpen(): Promise<OpenEvent | null> {
    return this.#pullKind(PullKind.OPEN) as Promise<OpenEvent | null>;
  }

  /** The next data event, as a copy the caller owns; null once the server has shut down and every frame was handed out. */
  recvData(): Promise<DataEvent | null> {
    return this.#pullKind(PullKind.DATA) as Promise<DataEvent | null>;
  }

  /** The next close event; null once the server has shut down and every close was handed out. */
  recvClose(): Promise<CloseEvent | null> {
    return this.#pullKind(PullKind.CLOSE) as Promise<CloseEvent | null>;
  }

  /**
   * A handle to post to another thread, which opens a blocking Pipeline on
   * it. With `consume: true` (only with the 'external' consumer option, and
   * once) that pipeline receives the events; otherwise it can only send.
   * Each handle gets its own command ring to every worker.
   */
  async pipelineHandle({ consume = false }: { consume?: boolean } = {}): Promise<PipelineHandle> {
    if (!this.#started || this.#lifecycle.state !== LifecycleState.RUNNING) throw new FlamingoError('ERR_FLAMINGO_SERVER_CLOSED', 'the server is not running');
    if (consume) {
      if (this.options.consumer !== 'external') {
        throw new FlamingoError('ERR_FLAMINGO_CONSUMER', 'pipelineHandle({ consume: true }) needs the server option consumer: "external"');
      }
      if (this.#externalTaken) throw new FlamingoError('ERR_FLAMINGO_CONSUMER', 'the event consumer pipeline was handed out already');
      this.#externalTaken = true;
    }
    const workers = this.#supervisor.workers;
    const rings = await this.#supervisor.addCommandRings();
    const targets: CommandTarget[] = rings.map((ring, index) => ({ ring, workerBell: workers[index]!.init.commandBell }));
    return {
      ...this.#senderLimits(),
      commandTargets: targets,
      events: consume
        ? {
            rings: workers.map((w) => w.init.eventRing),
            bell: this.#consumerBell.storage,
            slotsPerWorker: this.options.maxConnectionsPerWorker,
            stats: workers.map((w) => w.init.stats),
          }
        : null,
    };
  }

  /**
   * Details of an open connection: peer, worker, age, traffic, bytes
   * buffered. Null when the id's connection is gone (or never was).
   */
  async connection(id: number): Promise<ConnectionInfo | null> {
    const { worker, slot, generation } = this.#routeQuery(id);
    const handle = this.#supervisor.workers[worker]!;
    if (!handle.alive) return null;
    return handle.api.connectionInfo(slot, generation);
  }

  /**
   * One page of the ids open on `worker`, at most `limit` (default 1000).
   * Pass the returned `next` as `cursor` to go on; it is null at the end.
   * Ids opened or closed while paging may or may not appear; every id open
   * throughout appears exactly once.
   */
  async ids(worker: number, { cursor = 0, limit = 1000 }: { cursor?: number; limit?: number } = {}): Promise<IdPage> {
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.options.workers) {
      throw new FlamingoError('ERR_FLAMINGO_INVALID_ID', `worker must be an integer from 0 to ${this.options.workers - 1}; got ${worker}`);
    }
    if (!Number.isInteger(cursor) || cursor < 0) throw invalidOption('cursor', 'a non-negative integer from a previous page', cursor);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw invalidOption('limit', 'an integer from 1 to 100000', limit);
    const handle = this.#supervisor.workers[worker]!;
    if (!handle.alive) return { ids: [], next: null };
    return handle.api.listIds(cursor, limit);
  }

  /** Every open id on every worker, a page at a time (no giant array). */
  async *openIds(pageSize = 1000): AsyncGenerator<number[]> {
    for (let worker = 0; worker < this.options.workers; worker++) {
      let cursor: number | null = 0;
      while (cursor !== null) {
        const page: IdPage = await this.ids(worker, { cursor, limit: pageSize });
        if (page.ids.length > 0) yield page.ids;
        cursor = page.next;
      }
    }
  }

  /**
   * Replaces the TLS certificates (an object like the `tls` option) on every
   * I/O worker, without a restart: connections accepted from now on get them,
   * open ones keep theirs and stay up, and a worker replaced after a crash
   * starts with them. Resolves once every worker has them. Bad options
   * reject (ERR_FLAMINGO_INVALID_OPTION, or ERR_FLAMINGO_TLS with OpenSSL's
   * reason) and change nothing.
   */
  async setSecureContext(options: TlsOptions): Promise<void> {
    if (this.options.tls === null) throw new FlamingoError('ERR_FLAMINGO_TLS', 'setSecureContext() needs a server started with the tls option');
    if (!this.#started || this.#lifecycle.state !== LifecycleState.RUNNING) throw new FlamingoError('ERR_FLAMINGO_SERVER_CLOSED', 'the server is not running');
    await this.#supervisor.setSecureContext(resolveTls(options));
  }

  /** A snapshot of every worker's counters, read from shared memory. */
  stats(): ServerStats {
    const workers = this.#supervisor.workers.map((w, i) => readStats(i, w.stats, ringUsed(w.init.eventRing), w.running));
    return {
      ...sumTotals(workers),
      unconsumedEvents: this.#pull.unconsumed,
      refusedSends: this.#lifecycle.refused,
      routing: this.#router.stats(),
      workers,
    };
  }

  /**
   * Stops accepting, delivers every send already accepted, closes every
   * connection with 'shutdown' (one close event each), ends every thread,
   * and resolves once all is gone.
   */
  shutdown({ drainMs = 5000 }: ShutdownOptions = {}): Promise<ShutdownReport> {
    if (!Number.isInteger(drainMs) || drainMs < 0) {
      throw new FlamingoError('ERR_FLAMINGO_INVALID_OPTION', `option "drainMs" must be a non-negative integer; got ${drainMs}`);
    }
    this.#shutdown ??= this.#runShutdown(drainMs);
    return this.#shutdown;
  }

  async #runShutdown(drainMs: number): Promise<ShutdownReport> {
    // From here every sender refuses new commands; those already accepted are delivered.
    this.#lifecycle.set(LifecycleState.CLOSING);
    this.#router.quiesce();
    await this.#supervisor.stopAccepting();
    const sender = this.#sender!;
    this.#router.flush();
    sender.publish();
    if (sender.queuedCommands > 0) await new Promise<void>((resolve) => this.once('drain', () => resolve()));
    const reports = await this.#supervisor.shutdown(drainMs);
    // Every close record is published before a worker's shutdown resolves.
    this.#dispatcher?.drain();
    this.#dispatcher?.stop();
    this.#pull.end();
    this.#consumerBell.end();
    this.#lifecycle.set(LifecycleState.CLOSED);
    await this.#supervisor.terminateAll();
    await this.#router.stop();
    const metrics = this.#metrics;
    if (metrics !== undefined) {
      // Scrapers keep connections alive; close() alone would wait for them.
      metrics.closeAllConnections();
      await new Promise((resolve) => metrics.close(resolve));
    }
    return { abandonedBytes: reports.reduce((total, r) => total + r.abandonedBytes, 0) };
  }

  #routeError(error: Error): void {
    if (this.listenerCount('routeError') > 0) this.#delivery.emitSafely('routeError', error);
    else process.emitWarning(error.message, { code: (error as FlamingoError).code ?? 'ERR_FLAMINGO_CLUSTER' });
  }

  #routeQuery(id: number): IdParts {
    const parts = decodeId(id);
    if (parts.node !== this.options.node || parts.worker >= this.options.workers) {
      throw new FlamingoError(
        'ERR_FLAMINGO_INVALID_ID',
        `not a connection id of this server (node ${this.options.node}, ${this.options.workers} workers): ${id}`,
      );
    }
    return parts;
  }

  #senderLimits(): SenderLimits {
    return { node: this.options.node, maxMessageBytes: this.options.maxBufferedBytes, lifecycle: this.#lifecycle.storage };
  }

  /** The sender exists from start on; once the server has shut down, it refuses commands itself (see lifecycle.ts). */
  #commands(): CommandSender {
    return this.#sender!;
  }

  #pullKind(kind: PullKind): Promise<unknown> {
    if (this.options.consumer !== 'main') {
      return Promise.reject(new FlamingoError('ERR_FLAMINGO_CONSUMER', 'recvOpen/recvData/recvClose need the server option consumer: "main"'));
    }
    return this.#pull.recv(kind);
  }
}

/**
 * A worker whose protocol could not be set up fails its listen() with an
 * error named PROTOCOL_FAILURE, which reaches here as the cause of
 * ERR_FLAMINGO_LISTEN: it is ERR_FLAMINGO_PROTOCOL, with the worker's message.
 */
function protocolFailure(error: unknown): FlamingoError | undefined {
  const cause = error instanceof FlamingoError && error.code === 'ERR_FLAMINGO_LISTEN' ? error.cause : undefined;
  if (!(cause instanceof Error) || cause.name !== PROTOCOL_FAILURE) return undefined;
  return new FlamingoError('ERR_FLAMINGO_PROTOCOL', cause.message, { cause });
}
