// The node's two connections to Redis, through ioredis (an optional peer
// dependency, loaded only when a server has the `cluster` option): one for
// commands and publishes, one for sharded subscriptions (a subscribed
// connection can run nothing else). Either can be a Redis Cluster client;
// then a sharded channel's messages travel only through the shard that owns
// its slot.
//
// What it promises the router:
// - Publishes on one channel reach Redis in the order they were given. Each
//   channel has at most one publish in flight; the next waits for its reply.
//   A client is free to send two commands by different paths (a Redis
//   Cluster client redirecting one while the slot map settles), so order on
//   the wire is not left to it. A channel's publishes are batches of a
//   whole turn, so waiting costs throughput nothing: what arrives meanwhile
//   goes into the next batch.
// - Publishes never pile up without bound: while Redis is slow or away they
//   are held up to `routeBufferBytes` (counting those in flight), past that
//   refused, and one in flight when the connection broke is reported lost,
//   not resent (Redis pub/sub is at most once; resending could duplicate or
//   reorder).
// - The wanted channels are subscribed again, by this code, each time the
//   subscriber connection becomes ready, so a restarted Redis gets every
//   node and topic subscription back without a process restart.

import { FlamingoError } from '../../shared/errors.ts';
import type { ResolvedCluster } from '../../shared/cluster-options.ts';

interface IORedis {
  Redis: typeof import('ioredis').Redis;
  Cluster: typeof import('ioredis').Cluster;
}
type Client = import('ioredis').Redis | import('ioredis').Cluster;

/** Why a publish did not reach Redis, or how many subscribers it reached. */
export type PublishResult = number | 'dropped';

interface Pending {
  channel: string;
  message: Buffer;
  done: (result: PublishResult) => void;
}

/** One channel's publishes, oldest first; the first may be in flight. */
interface ChannelQueue {
  readonly channel: string;
  readonly pending: Pending[];
  /** The first one's publish, while it is in flight: settled once, by its reply or by the connection closing under it. */
  flight: { settled: boolean } | null;
}

export interface LinkHandlers {
  /** A message on a subscribed channel (untrusted bytes). */
  message(channel: string, message: Buffer): void;
  /** The command connection is ready again after having been lost. */
  reconnected(): void;
  /** Something went wrong that the application should hear of (reported once per kind of failure, not per retry). */
  problem(error: Error): void;
}

async function loadIORedis(): Promise<IORedis> {
  try {
    const module = await import('ioredis');
    return { Redis: module.Redis, Cluster: module.Cluster };
  } catch (cause) {
    throw new FlamingoError('ERR_FLAMINGO_CLUSTER', 'the cluster option needs the optional peer dependency ioredis: npm install ioredis', { cause });
  }
}

/** Reconnect at once, then back off to at most a second between tries, forever: a node outlives a Redis restart. */
const retryStrategy = (attempt: number): number => Math.min(50 * attempt, 1000);

export class RedisLink {
  readonly commands: Client;
  readonly #subscriber: Client;
  readonly #handlers: LinkHandlers;
  readonly #bufferBytes: number;
  /** Each wanted channel, with its subscription's acknowledgement once asked for. */
  readonly #wanted = new Map<string, Promise<void>>();
  /** Channels with publishes waiting or in flight. ioredis forgets commands in flight when a connection breaks (it is told not to resend them) without rejecting them, so this link settles them itself. */
  readonly #queues = new Map<string, ChannelQueue>();
  #queuedBytes = 0;
  #commandsReady = false;
  #subscriberReady = false;
  #readyOnce = false;
  #closed = false;
  /** Times the command connection came back after being lost. */
  reconnects = 0;

  private constructor(commands: Client, subscriber: Client, handlers: LinkHandlers, bufferBytes: number) {
    this.commands = commands;
    this.#subscriber = subscriber;
    this.#handlers = handlers;
    this.#bufferBytes = bufferBytes;
    commands.on('ready', () => this.#commandsUp());
    commands.on('close', () => {
      this.#commandsReady = false;
      this.#loseInFlight();
    });
    subscriber.on('ready', () => this.#subscriberUp());
    subscriber.on('close', () => {
      this.#subscriberReady = false;
    });
    subscriber.on('smessageBuffer', (channel: Buffer, message: Buffer) => handlers.message(channel.toString('utf8'), message));
    // ioredis emits 'error' on every failed connection attempt; the state is
    // in the counters and the lease, so only the first of a run is reported.
    let reported = false;
    const onError = (error: Error): void => {
      if (reported || this.#closed) return;
      reported = true;
      handlers.problem(new FlamingoError('ERR_FLAMINGO_CLUSTER', `Redis connection failed: ${error.message}`, { cause: error }));
    };
    commands.on('error', onError);
    subscriber.on('error', onError);
    commands.on('ready', () => {
      reported = false;
    });
  }

  /** Connects both links and resolves once the command link is ready (bounded by `timeoutMs`). */
  static async connect(options: ResolvedCluster, handlers: LinkHandlers, timeoutMs = 10_000): Promise<RedisLink> {
    const { Redis, Cluster } = await loadIORedis();
    const common = {
      retryStrategy,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      maxRetriesPerRequest: 1,
    } as const;
    let make: () => Client;
    if (options.redisCluster) {
      const seeds = options.redis.map((url) => {
        const u = new URL(url);
        return { host: u.hostname, port: Number(u.port || 6379) };
      });
      const first = new URL(options.redis[0]!);
      const redisOptions = {
        ...common,
        ...(first.password === '' ? {} : { password: decodeURIComponent(first.password) }),
        ...(first.username === '' ? {} : { username: decodeURIComponent(first.username) }),
        ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
      };
      make = () =>
        new Cluster(seeds, {
          redisOptions,
          clusterRetryStrategy: retryStrategy,
          enableOfflineQueue: false,
          shardedSubscribers: true,
        });
    } else {
      make = () => new Redis(options.redis[0]!, common);
    }
    const commands = make();
    const subscriber = make();
    const link = new RedisLink(commands, subscriber, handlers, options.routeBufferBytes);
    const whenReady = (client: Client): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new FlamingoError('ERR_FLAMINGO_CLUSTER', `Redis at ${options.redis.join(', ')} did not answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
        client.once('ready', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    const ready = Promise.all([whenReady(commands), whenReady(subscriber)]);
    try {
      await ready;
    } catch (error) {
      await link.close();
      throw error;
    }
    return link;
  }

  get ready(): boolean {
    return this.#commandsReady;
  }

  /** Bytes of publishes held or in flight. */
  get bufferedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Subscribes to `channel` now if the subscriber is up, and again each time
   * it comes back. Resolves once Redis acknowledged it (at once while Redis
   * is away: the subscription is made when it returns).
   */
  want(channel: string): Promise<void> {
    let subscribed = this.#wanted.get(channel);
    if (subscribed === undefined) {
      subscribed = this.#subscriberReady ? this.#ssubscribe(channel) : Promise.resolve();
      this.#wanted.set(channel, subscribed);
    }
    return subscribed;
  }

  #ssubscribe(channel: string): Promise<void> {
    return this.#subscriber.ssubscribe(channel).then(
      () => {},
      () => {},
    );
  }

  unwant(channel: string): void {
    if (!this.#wanted.delete(channel)) return;
    if (this.#subscriberReady) this.#subscriber.sunsubscribe(channel).catch(() => {});
  }

  /**
   * Publishes `message` on the sharded `channel`, in order behind every
   * earlier one. `done` gets the number of subscribers it reached, or
   * 'dropped' when it was refused (over the buffer) or lost in flight.
   */
  publish(channel: string, message: Buffer, done: (result: PublishResult) => void): void {
    if (this.#closed || this.#queuedBytes + message.length > this.#bufferBytes) {
      done('dropped');
      return;
    }
    this.#queuedBytes += message.length;
    let queue = this.#queues.get(channel);
    if (queue === undefined) {
      queue = { channel, pending: [], flight: null };
      this.#queues.set(channel, queue);
    }
    queue.pending.push({ channel, message, done });
    if (queue.flight === null && this.#commandsReady) this.#sendFirst(queue);
  }

  /** Stops both links; held publishes are reported dropped. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#loseInFlight();
    for (const queue of this.#queues.values()) for (const pending of queue.pending) pending.done('dropped');
    this.#queues.clear();
    this.#queuedBytes = 0;
    await Promise.allSettled([quit(this.commands), quit(this.#subscriber)]);
  }

  #sendFirst(queue: ChannelQueue): void {
    const pending = queue.pending[0]!;
    const flight = { settled: false };
    queue.flight = flight;
    this.commands.spublish(pending.channel, pending.message).then(
      (receivers) => this.#settle(queue, flight, Number(receivers)),
      () => this.#settle(queue, flight, 'dropped'),
    );
  }

  #settle(queue: ChannelQueue, flight: { settled: boolean }, result: PublishResult): void {
    if (flight.settled) return;
    flight.settled = true;
    queue.flight = null;
    const pending = queue.pending.shift()!;
    this.#queuedBytes -= pending.message.length;
    pending.done(result);
    if (queue.pending.length === 0) this.#queues.delete(queue.channel);
    else if (this.#commandsReady) this.#sendFirst(queue);
  }

  /** The command connection broke: what was in flight may or may not have reached Redis, and is never resent. */
  #loseInFlight(): void {
    for (const queue of [...this.#queues.values()]) if (queue.flight !== null) this.#settle(queue, queue.flight, 'dropped');
  }

  #commandsUp(): void {
    this.#commandsReady = true;
    if (this.#readyOnce) {
      this.reconnects++;
      this.#handlers.reconnected();
    }
    this.#readyOnce = true;
    // Held publishes go now, each channel's oldest first.
    for (const queue of this.#queues.values()) if (queue.flight === null) this.#sendFirst(queue);
  }

  #subscriberUp(): void {
    this.#subscriberReady = true;
    // One channel a call: on a Redis Cluster, one SSUBSCRIBE may only name channels of one slot.
    for (const channel of this.#wanted.keys()) this.#wanted.set(channel, this.#ssubscribe(channel));
  }
}

async function quit(client: Client): Promise<void> {
  try {
    await Promise.race([client.quit(), new Promise((resolve) => setTimeout(resolve, 1000))]);
  } catch {
    // Already gone.
  }
  client.disconnect();
}
