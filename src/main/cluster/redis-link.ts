// The node's two connections to Redis, through ioredis (an optional peer
// dependency, loaded only when a server has the `cluster` option): one for
// commands and publishes, one for sharded subscriptions (a subscribed
// connection can run nothing else). Either can be a Redis Cluster client;
// then a sharded channel's messages travel only through the shard that owns
// its slot.
//
// What it promises the router:
// - Publishes leave in the order they were given, and never pile up without
//   bound: while Redis is away they are held up to `routeBufferBytes`
//   (counting those in flight), past that refused, and one that was in
//   flight when the connection broke is reported lost, not resent (Redis
//   pub/sub is at most once; resending could duplicate or reorder).
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
  readonly #held: Pending[] = [];
  #heldBytes = 0;
  #inFlightBytes = 0;
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
      lazyConnect: true,
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
          lazyConnect: true,
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
    commands.connect().catch(() => {});
    subscriber.connect().catch(() => {});
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
    return this.#heldBytes + this.#inFlightBytes;
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
    if (this.#closed || this.bufferedBytes + message.length > this.#bufferBytes) {
      done('dropped');
      return;
    }
    if (this.#commandsReady && this.#held.length === 0) this.#send({ channel, message, done });
    else {
      this.#held.push({ channel, message, done });
      this.#heldBytes += message.length;
    }
  }

  /** Stops both links; held publishes are reported dropped. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const pending of this.#held.splice(0)) pending.done('dropped');
    this.#heldBytes = 0;
    await Promise.allSettled([quit(this.commands), quit(this.#subscriber)]);
  }

  #send(pending: Pending): void {
    const bytes = pending.message.length;
    this.#inFlightBytes += bytes;
    this.commands.spublish(pending.channel, pending.message).then(
      (receivers) => {
        this.#inFlightBytes -= bytes;
        pending.done(Number(receivers));
      },
      () => {
        this.#inFlightBytes -= bytes;
        pending.done('dropped');
      },
    );
  }

  #commandsUp(): void {
    this.#commandsReady = true;
    if (this.#readyOnce) {
      this.reconnects++;
      this.#handlers.reconnected();
    }
    this.#readyOnce = true;
    // Held publishes go first, in order; new ones queue behind them until they have.
    while (this.#held.length > 0 && this.#commandsReady) {
      const pending = this.#held.shift()!;
      this.#heldBytes -= pending.message.length;
      this.#send(pending);
    }
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
