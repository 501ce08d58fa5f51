// Routing between nodes, and topics. An id of this node goes straight to
// the command sender (the server does that before it gets here); an id of
// another node is written into that node's batch, and every batch is
// published once per event-loop turn on the node's own sharded channel, so
// a thousand sends to one node in a turn cost one Redis publish. A batch is
// published in the order its commands were given and Redis keeps a
// channel's order, so sends from one node to one id arrive in order.
//
// Topics: this node keeps topic -> ids for its own connections only
// (topic-index.ts), listens on a topic's channel only while it has a
// subscriber to it, delivers a publish to its own subscribers at once
// (one sendMany: one copy per I/O worker) and publishes it, batched per
// topic per turn, for the other nodes. A node ignores its own publishes
// when they come back from Redis, so each subscriber gets each publish
// once.
//
// Without the cluster option there is no Redis: topics work within the
// process, and an id of another node throws as it always has.

import { FlamingoError, describe } from '../../shared/errors.ts';
import { idNode, idWorker, isWellFormedId } from '../../shared/id.ts';
import type { ResolvedCluster } from '../../shared/cluster-options.ts';
import type { CommandSender } from '../command-sender.ts';
import { type NodeLease, generationsUsed, nodeChannel, topicChannel } from './lease.ts';
import type { PublishResult, RedisLink } from './redis-link.ts';
import { type RoutingStats, emptyRoutingStats } from './routing-stats.ts';
import { TopicIndex } from './topic-index.ts';
import { BATCH_FLUSH_BYTES, MAX_TOPIC_BYTES, MessageKind, NodeBatch, Op, TopicBatch, readHeader, readNodeBatch, readTopicBatch } from './wire.ts';

/** Commands waiting in the sender's overflow queues past which routed input is dropped: Redis cannot be told to slow down. */
const INBOUND_QUEUE_LIMIT = 65_536;

export interface RouterHost {
  readonly node: number;
  readonly workers: number;
  /** The sender of this thread's commands (it exists once the server has started). */
  sender(): CommandSender;
  /** Whether this node's connection `id` is open as the consumer sees it; null when this thread does not consume events. */
  readonly isOpen: ((id: number) => boolean) | null;
  /** Each worker's slot generations (what the lease records). */
  readonly slotStates: () => readonly Uint32Array[];
  emit(event: 'nodeUp' | 'nodeDown', node: number): void;
  problem(error: Error): void;
}

export interface ClusterParts {
  options: ResolvedCluster;
  link: RedisLink;
  lease: NodeLease;
}

export class Router {
  readonly #host: RouterHost;
  readonly #node: number;
  readonly #cluster: ClusterParts | null;
  readonly #topics = new TopicIndex();
  readonly #batches = new Map<number, NodeBatch>();
  readonly #topicBatches = new Map<string, TopicBatch>();
  readonly #stats: RoutingStats;
  readonly #ownChannel: string;
  readonly #topicPrefix: string;
  /** Node numbers seen alive, and when each was last seen. */
  readonly #lastSeen = new Map<number, number>();
  /** Every node number seen alive since start: one of them missing from #lastSeen is down. */
  readonly #everSeen = new Set<number>();
  #flushScheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  #polledOnce = false;
  #stopped = false;
  #quiet = false;

  get #sender(): CommandSender {
    return this.#host.sender();
  }

  constructor(host: RouterHost, cluster: ClusterParts | null) {
    this.#host = host;
    this.#node = host.node;
    this.#cluster = cluster;
    this.#stats = emptyRoutingStats(host.node);
    const prefix = cluster?.options.prefix ?? '';
    this.#ownChannel = nodeChannel(prefix, host.node);
    this.#topicPrefix = topicChannel(prefix, '');
    if (cluster !== null) {
      // The lease was just taken: it is renewed from now on, while the workers are still starting.
      this.#stats.lease = 'held';
      this.#lastSeen.set(this.#node, Date.now());
      this.#timer = setInterval(() => void this.#tick(), this.#tickMs);
    }
  }

  /** A third of the lease: two renewals may fail before it lapses. */
  get #tickMs(): number {
    return Math.max(100, Math.floor((this.#cluster?.options.leaseMs ?? 3000) / 3));
  }

  /** Starts listening on this node's channel and learns which nodes are alive; resolves once the channel is subscribed. */
  async start(): Promise<void> {
    const cluster = this.#cluster;
    if (cluster === null) return;
    await cluster.link.want(this.#ownChannel);
    await this.#tick();
  }

  /** True for a well-formed id of another node, when this server routes (has the cluster option). */
  isRemote(id: number): boolean {
    return this.#cluster !== null && isWellFormedId(id) && idNode(id) !== this.#node;
  }

  /** A send to another node's id: false when it was dropped (counted) rather than queued for Redis. */
  send(id: number, data: Uint8Array | string): boolean {
    const bytes = payload(data, 'send');
    this.#checkSize(bytes.length, 'send');
    if (this.#sender.refuses()) return false;
    const batch = this.#batchFor(idNode(id));
    if (batch === null) return false;
    batch.send(id, bytes);
    this.#written(batch, idNode(id));
    return true;
  }

  close(id: number): boolean {
    if (this.#sender.refuses()) return false;
    const batch = this.#batchFor(idNode(id));
    if (batch === null) return false;
    batch.close(id);
    this.#written(batch, idNode(id));
    return true;
  }

  /** sendMany over ids of any nodes: this node's through the sender, each other node's as one entry with its ids and one copy. */
  sendMany(ids: ArrayLike<number>, data: Uint8Array | string): boolean {
    if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number') {
      throw new FlamingoError('ERR_FLAMINGO_INVALID_ID', `sendMany() takes an array of connection ids; got ${describe(ids)}`);
    }
    // The common broadcast names this node's ids only: the sender takes them as they are, with no copy here.
    if (!this.#anyRemote(ids)) return this.#sender.sendMany(ids, data);
    const bytes = payload(data, 'sendMany');
    const local: number[] = [];
    const byNode = new Map<number, number[]>();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!isWellFormedId(id)) throw new FlamingoError('ERR_FLAMINGO_INVALID_ID', `not a connection id: ${describe(id)}`);
      const node = idNode(id);
      if (node === this.#node) local.push(id);
      else {
        const list = byNode.get(node);
        if (list === undefined) byNode.set(node, [id]);
        else list.push(id);
      }
    }
    this.#checkSize(bytes.length, 'sendMany');
    if (this.#sender.refuses()) return false;
    let accepted = local.length === 0 || this.#sender.sendMany(local, bytes);
    for (const [node, list] of byNode) {
      const batch = this.#batchFor(node, list.length);
      if (batch === null) {
        accepted = false;
        continue;
      }
      batch.sendMany(list, list.length, bytes);
      this.#written(batch, node);
    }
    return accepted;
  }

  #anyRemote(ids: ArrayLike<number>): boolean {
    for (let i = 0; i < ids.length; i++) if (this.isRemote(ids[i]!)) return true;
    return false;
  }

  /**
   * Subscribes connection `id` (of any node) to `topic`. Resolves true once
   * this node listens for the topic (for its own id) or once the request is
   * on its way to the id's node; false when this node's `id` is not open.
   */
  subscribe(id: number, topic: string): Promise<boolean> {
    const name = this.#checkTopic(topic);
    this.#checkId(id, 'subscribe');
    if (idNode(id) !== this.#node) return Promise.resolve(this.#forward(Op.SUB, id, name));
    return this.#subscribeLocal(id, topic);
  }

  /** Ends the subscription; resolves false when there was none here (for this node's ids). */
  unsubscribe(id: number, topic: string): Promise<boolean> {
    const name = this.#checkTopic(topic);
    this.#checkId(id, 'unsubscribe');
    if (idNode(id) !== this.#node) return Promise.resolve(this.#forward(Op.UNSUB, id, name));
    return Promise.resolve(this.#unsubscribeLocal(id, topic));
  }

  /** Sends `data` to every subscriber of `topic` on every node: this node's at once, the others' through Redis. */
  publish(topic: string, data: Uint8Array | string): boolean {
    this.#checkTopic(topic);
    const bytes = payload(data, 'publish');
    this.#checkSize(bytes.length, 'publish');
    if (this.#sender.refuses()) return false;
    this.#stats.publishes++;
    const members = this.#topics.members(topic);
    let accepted = true;
    if (members !== undefined && bytes.length > 0) accepted = this.#sender.sendMany(members, bytes);
    if (this.#cluster === null) return accepted;
    let batch = this.#topicBatches.get(topic);
    if (batch === undefined) {
      batch = new TopicBatch(this.#node);
      this.#topicBatches.set(topic, batch);
    }
    batch.add(bytes);
    if (batch.bytes >= BATCH_FLUSH_BYTES) this.#publishTopic(topic, batch);
    else this.#scheduleFlush();
    return accepted;
  }

  /** Every node with a live lease, this one included, sorted; just this one without the cluster option. */
  nodes(): number[] {
    return [...this.#lastSeen.keys()].sort((a, b) => a - b);
  }

  /** This node's connection `id` closed: it leaves every topic it was in. */
  connectionClosed(id: number): void {
    this.#topics.removeAll(id, (topic) => this.#cluster?.link.unwant(topicChannel(this.#cluster.options.prefix, topic)));
  }

  stats(): RoutingStats {
    this.#stats.topics = this.#topics.topics;
    this.#stats.topicSubscriptions = this.#topics.subscriptions;
    if (this.#cluster !== null) {
      this.#stats.redisReconnects = this.#cluster.link.reconnects;
      this.#stats.lease = this.#cluster.lease.state;
    }
    return { ...this.#stats };
  }

  /** Publishes what is batched now, rather than at the end of the turn. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#cluster === null) return;
    for (const [node, batch] of this.#batches) {
      if (!batch.empty) this.#publishNode(node, batch);
    }
    for (const [topic, batch] of this.#topicBatches) {
      if (!batch.empty) this.#publishTopic(topic, batch);
    }
    // A batch builder per node or topic is kept while in use; ones left empty go.
    this.#batches.clear();
    this.#topicBatches.clear();
  }

  /** At shutdown: publishes what is batched, records the generations used, gives the node number back and closes Redis. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    const cluster = this.#cluster;
    if (cluster === null) return;
    this.flush();
    const deadline = Date.now() + 1000;
    while (cluster.link.bufferedBytes > 0 && cluster.link.ready && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    try {
      if (cluster.link.ready) await cluster.lease.release(this.#generationsUsed());
    } catch {
      // Redis is away: the lease lapses by itself, and the recorded generations stay ahead by RESERVE.
    }
    await cluster.link.close();
  }

  /** Shutdown has begun: what arrives from other nodes from now on is dropped (and counted), as local sends are refused. */
  quiesce(): void {
    this.#quiet = true;
  }

  /** A message from Redis on one of this node's channels: untrusted, checked entry by entry. */
  readonly received = (channel: string, message: Buffer): void => {
    if (this.#quiet) {
      this.#stats.dropped++;
      return;
    }
    const header = readHeader(message);
    if ('invalid' in header) {
      this.#stats.invalid++;
      return;
    }
    if (channel === this.#ownChannel && header.kind === MessageKind.NODE_BATCH) {
      this.#stats.routedInBytes += message.length;
      const { broken } = readNodeBatch(message, this.#inbound);
      if (broken) this.#stats.invalid++;
    } else if (channel.startsWith(this.#topicPrefix) && header.kind === MessageKind.TOPIC_BATCH) {
      // This node delivered its own publishes when they were made.
      if (header.from === this.#node) return;
      this.#stats.routedInBytes += message.length;
      const members = this.#topics.members(channel.slice(this.#topicPrefix.length));
      if (members === undefined) return;
      const { broken } = readTopicBatch(message, (data) => {
        this.#stats.publishesIn++;
        if (this.#overloaded(1)) return;
        this.#deliver(() => this.#sender.sendMany(members, data));
      });
      if (broken) this.#stats.invalid++;
    } else {
      this.#stats.invalid++;
    }
  };

  /** What a node batch may ask of this node, each entry checked: an id must be this node's. */
  readonly #inbound = {
    send: (id: number, data: Buffer): void => {
      if (!this.#isOwn(id) || this.#overloaded(1)) return;
      this.#stats.routedIn++;
      this.#deliver(() => this.#sender.send(id, data));
    },
    sendMany: (ids: Float64Array, data: Buffer): void => {
      let own = 0;
      for (const id of ids) if (this.#isOwn(id)) ids[own++] = id;
      if (own === 0 || this.#overloaded(1)) return;
      this.#stats.routedIn++;
      this.#deliver(() => this.#sender.sendMany(ids.subarray(0, own), data));
    },
    close: (id: number): void => {
      if (!this.#isOwn(id) || this.#overloaded(1)) return;
      this.#stats.routedIn++;
      this.#deliver(() => this.#sender.closeConnection(id));
    },
    subscribe: (id: number, topic: string): void => {
      if (!this.#isOwn(id)) return;
      this.#stats.routedIn++;
      if (this.#host.isOpen === null) this.#stats.undeliverable++;
      else void this.#subscribeLocal(id, topic);
    },
    unsubscribe: (id: number, topic: string): void => {
      if (!this.#isOwn(id)) return;
      this.#stats.routedIn++;
      this.#unsubscribeLocal(id, topic);
    },
  };

  #isOwn(id: number): boolean {
    if (isWellFormedId(id) && idNode(id) === this.#node && idWorker(id) < this.#host.workers) return true;
    this.#stats.invalid++;
    return false;
  }

  /** Routed input past what the sender has queued is dropped and counted: Redis pub/sub cannot be slowed down. */
  #overloaded(entries: number): boolean {
    if (this.#sender.queuedCommands < INBOUND_QUEUE_LIMIT) return false;
    this.#stats.dropped += entries;
    return true;
  }

  /** Runs one routed command; one the sender refuses (too large for this node, say) is counted, not thrown. */
  #deliver(command: () => boolean): void {
    try {
      command();
    } catch {
      this.#stats.invalid++;
    }
  }

  #subscribeLocal(id: number, topic: string): Promise<boolean> {
    const isOpen = this.#host.isOpen;
    if (isOpen === null) {
      throw new FlamingoError('ERR_FLAMINGO_CONSUMER', 'topics need the consumer option "main": only there does the server see connections close');
    }
    if (!isOpen(id)) return Promise.resolve(false);
    this.#topics.add(id, topic);
    const cluster = this.#cluster;
    if (cluster === null) return Promise.resolve(true);
    // A later subscriber waits for the first one's SSUBSCRIBE too: want() answers once Redis has acknowledged it.
    return cluster.link.want(topicChannel(cluster.options.prefix, topic)).then(() => true);
  }

  #unsubscribeLocal(id: number, topic: string): boolean {
    if (!this.#topics.has(id, topic)) return false;
    if (this.#topics.remove(id, topic)) this.#cluster?.link.unwant(topicChannel(this.#cluster.options.prefix, topic));
    return true;
  }

  #forward(op: typeof Op.SUB | typeof Op.UNSUB, id: number, topic: Uint8Array): boolean {
    if (this.#sender.refuses()) return false;
    const node = idNode(id);
    const batch = this.#batchFor(node);
    if (batch === null) return false;
    batch.topic(op, id, topic);
    this.#written(batch, node);
    return true;
  }

  /** The batch for `node`, or null (counted undeliverable) when that node is known to be down. */
  #batchFor(node: number, entries = 1): NodeBatch | null {
    if (this.#isDown(node)) {
      this.#stats.undeliverable += entries;
      return null;
    }
    let batch = this.#batches.get(node);
    if (batch === undefined) {
      batch = new NodeBatch(this.#node);
      this.#batches.set(node, batch);
    }
    return batch;
  }

  /** A node seen alive whose lease has since lapsed; a node never seen is tried (Redis then says whether anyone listens). */
  #isDown(node: number): boolean {
    return this.#polledOnce && !this.#lastSeen.has(node) && this.#everSeen.has(node);
  }

  #written(batch: NodeBatch, node: number): void {
    if (batch.bytes >= BATCH_FLUSH_BYTES) this.#publishNode(node, batch);
    else this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.flush());
  }

  #publishNode(node: number, batch: NodeBatch): void {
    const entries = batch.entries;
    const message = batch.take();
    this.#cluster!.link.publish(nodeChannel(this.#cluster!.options.prefix, node), message, (result) => this.#published(result, entries, message.length));
  }

  #publishTopic(topic: string, batch: TopicBatch): void {
    const entries = batch.entries;
    const message = batch.take();
    this.#cluster!.link.publish(topicChannel(this.#cluster!.options.prefix, topic), message, (result) => {
      // A topic nobody else serves reaches no one, and that is no loss.
      if (result === 'dropped') this.#stats.dropped += entries;
      else this.#stats.routedOutBytes += message.length;
    });
  }

  #published(result: PublishResult, entries: number, bytes: number): void {
    if (result === 'dropped') this.#stats.dropped += entries;
    else if (result === 0) this.#stats.undeliverable += entries;
    else {
      this.#stats.routedOut += entries;
      this.#stats.routedOutBytes += bytes;
    }
  }

  #generationsUsed(): number {
    const base = this.#cluster!.lease.generationBase;
    let most = 0;
    for (const states of this.#host.slotStates()) most = Math.max(most, generationsUsed(states, base));
    return most;
  }

  /** Renews the lease and reads which nodes are alive; a node gone for a whole lease is down. */
  async #tick(): Promise<void> {
    const cluster = this.#cluster!;
    if (this.#ticking || this.#stopped) return;
    this.#ticking = true;
    try {
      const before = cluster.lease.state;
      // A command that never returns (a connection that broke under it) must not stop the renewals for good.
      const state = await withTimeout(cluster.lease.renew(this.#generationsUsed()), this.#tickMs);
      if (state === 'lost' && before === 'held') {
        this.#host.problem(
          new FlamingoError(
            'ERR_FLAMINGO_LEASE_LOST',
            `another process holds node ${this.#node}'s lease: ids of node ${this.#node} are now ambiguous; this server serves on and retries the lease`,
          ),
        );
      }
      this.#watch(await withTimeout(cluster.lease.liveNodes(), this.#tickMs), Date.now());
    } catch {
      // Redis is away: nothing is known to have changed.
    } finally {
      this.#ticking = false;
    }
  }

  #watch(live: readonly number[], now: number): void {
    const leaseMs = this.#cluster!.options.leaseMs;
    for (const node of live) {
      if (!this.#lastSeen.has(node)) {
        this.#everSeen.add(node);
        if (this.#polledOnce && node !== this.#node) this.#host.emit('nodeUp', node);
      }
      this.#lastSeen.set(node, now);
    }
    for (const [node, seen] of this.#lastSeen) {
      if (node === this.#node || now - seen < leaseMs) continue;
      this.#lastSeen.delete(node);
      this.#host.emit('nodeDown', node);
    }
    this.#polledOnce = true;
  }

  /** After an outage of our own, every known node gets a fresh lease's grace before it can be judged down. */
  reconnected(): void {
    const now = Date.now();
    for (const node of this.#lastSeen.keys()) this.#lastSeen.set(node, now);
  }

  #checkTopic(topic: unknown): Uint8Array {
    const bytes = typeof topic === 'string' ? Buffer.from(topic, 'utf8') : null;
    if (bytes === null || bytes.length === 0 || bytes.length > MAX_TOPIC_BYTES) {
      throw new FlamingoError('ERR_FLAMINGO_INVALID_TOPIC', `a topic is a string of 1 to ${MAX_TOPIC_BYTES} UTF-8 bytes; got ${describe(topic)}`);
    }
    return bytes;
  }

  #checkId(id: number, call: string): void {
    if (!isWellFormedId(id) || (idNode(id) !== this.#node && this.#cluster === null) || (idNode(id) === this.#node && idWorker(id) >= this.#host.workers)) {
      throw new FlamingoError(
        'ERR_FLAMINGO_INVALID_ID',
        `${call}(): not a connection id ${this.#cluster === null ? `of this server (node ${this.#node})` : 'of any node'}: ${describe(id)}`,
      );
    }
  }

  #checkSize(length: number, call: string): void {
    this.#sender.checkSize(length, call);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function payload(data: Uint8Array | string, call: string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (!(data instanceof Uint8Array)) {
    throw new FlamingoError('ERR_FLAMINGO_INVALID_PAYLOAD', `${call}() takes a Uint8Array, Buffer or string; got ${describe(data)}`);
  }
  return data;
}
