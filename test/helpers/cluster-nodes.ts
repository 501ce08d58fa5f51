// Cluster nodes in child processes (test/fixtures/cluster-node.ts), driven
// over IPC, and line clients that know their connection id. Every child is
// SIGKILLed when the test process exits, even if a test forgot to stop it.

import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { decodeId } from '../../src/main/index.ts';
import { nodeChannel, topicChannel } from '../../src/main/cluster/lease.ts';
import type { RoutingStats } from '../../src/main/cluster/routing-stats.ts';
import type { NodeConfig, NodeEvent, Outcome, Request } from '../fixtures/cluster-node.ts';
import { type RedisClusterServers, type RedisServer, redisCli } from './redis.ts';

export type { Outcome } from '../fixtures/cluster-node.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE_BIN = path.join(ROOT, 'node_modules/.bin/node');
const FIXTURE = path.join(ROOT, 'test/fixtures/cluster-node.ts');
const START_MS = 20_000;
const REQUEST_MS = 15_000;
const STOP_MS = 6000;
const OUTPUT_TAIL = 8192;

/** Line number `i` of a numbered run: the prefix, the number, and filler whose length and bytes vary with both. */
export function numberedLine(prefix: string, i: number): string {
  const from = (i * 7) % 36;
  const filler = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(4).slice(from, from + 1 + ((i * 13) % 97));
  return `${prefix} ${i} ${filler}\n`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 20 ms until it holds; throws with `what()` after `timeoutMs`. */
export async function eventually<T>(condition: () => T | Promise<T>, timeoutMs: number, what: () => string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await sleep(20);
  }
}

const live = new Set<ChildProcess>();
let guarded = false;
function guardExit(): void {
  if (guarded) return;
  guarded = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export interface NodeStats {
  routing: RoutingStats;
  connections: number;
  memory: { heapUsed: number; external: number; rss: number };
}

type Received = Extract<NodeEvent, { event: 'nodeUp' | 'nodeDown' | 'routeError' }>;

export class ClusterNode {
  readonly node: number;
  readonly port: number;
  readonly pid: number;
  /** nodeUp, nodeDown and routeError, as the node reported them. */
  readonly events: Received[] = [];
  readonly #child: ChildProcess;
  readonly #output: () => string;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  readonly #exited: Promise<void>;
  #seq = 0;

  constructor(child: ChildProcess, ready: Extract<NodeEvent, { event: 'ready' }>, output: () => string) {
    this.#child = child;
    this.node = ready.node;
    this.port = ready.port;
    this.pid = ready.pid;
    this.#output = output;
    this.#exited = new Promise((resolve) => {
      if (!this.running) resolve();
      else child.once('exit', () => resolve());
    });
    child.on('message', (message: { seq?: number; ok?: boolean; result?: unknown; error?: { code: string; message: string } } & Partial<Received>) => {
      if (message.seq === undefined) {
        if (message.event === 'nodeUp' || message.event === 'nodeDown' || message.event === 'routeError') this.events.push(message as Received);
        return;
      }
      const pending = this.#pending.get(message.seq);
      if (pending === undefined) return;
      this.#pending.delete(message.seq);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new Error(`node ${this.node}: ${message.error?.code}: ${message.error?.message}`));
    });
    child.once('exit', (code, signal) => {
      for (const [, pending] of this.#pending) {
        clearTimeout(pending.timer);
        pending.reject(new Error(`node ${this.node} exited (${code ?? signal}) before answering. Its output:\n${this.#output()}`));
      }
      this.#pending.clear();
    });
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get exited(): Promise<void> {
    return this.#exited;
  }

  /** Its stdout and stderr so far (the last few KiB). */
  output(): string {
    return this.#output();
  }

  request<T>(request: Request, timeoutMs = REQUEST_MS): Promise<T> {
    if (!this.running || !this.#child.connected) return Promise.reject(new Error(`node ${this.node} is not running`));
    const seq = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(new Error(`node ${this.node} did not answer ${request.cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(seq, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.#child.send({ seq, ...request });
    });
  }

  send(id: number, data: string): Promise<Outcome> {
    return this.request({ cmd: 'send', id, data });
  }

  /** Numbered lines 0..count-1 (numberedLine(prefix, i)) to each of `ids`, `perTurn` lines per event-loop turn. */
  sendLines(ids: number[], prefix: string, count: number, perTurn = 50): Promise<Outcome> {
    const lines = Array.from({ length: count }, (_, i) => numberedLine(prefix, i));
    return this.request({ cmd: 'sendLines', ids, lines, perTurn });
  }

  sendMany(ids: number[], data: string): Promise<Outcome> {
    return this.request({ cmd: 'sendMany', ids, data });
  }

  close(id: number): Promise<Outcome> {
    return this.request({ cmd: 'close', id });
  }

  subscribe(pairs: [number, string][]): Promise<boolean[]> {
    return this.request({ cmd: 'subscribe', pairs });
  }

  unsubscribe(pairs: [number, string][]): Promise<boolean[]> {
    return this.request({ cmd: 'unsubscribe', pairs });
  }

  /** `count` sends of one `bytes`-long line to `id`, `perTurn` per event-loop turn. */
  sendRepeated(id: number, bytes: number, count: number, perTurn = 1): Promise<Outcome> {
    return this.request({ cmd: 'sendRepeated', id, bytes, count, perTurn });
  }

  publish(items: [string, string][], perTurn = 50): Promise<Outcome> {
    return this.request({ cmd: 'publish', items, perTurn });
  }

  stats(): Promise<NodeStats> {
    return this.request({ cmd: 'stats' });
  }

  routing(): Promise<RoutingStats> {
    return this.stats().then((s) => s.routing);
  }

  nodes(): Promise<number[]> {
    return this.request({ cmd: 'nodes' });
  }

  /** SIGKILL, and wait for the process to be gone. */
  async kill(): Promise<void> {
    if (this.running) this.#child.kill('SIGKILL');
    await this.#exited;
  }

  /** Graceful shutdown over IPC, bounded; SIGKILL if it does not end in time. Never throws. */
  async stop(): Promise<void> {
    if (!this.running) return;
    if (this.#child.connected) await this.request({ cmd: 'shutdown' }, STOP_MS).catch(() => {});
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_MS);
    await this.#exited;
    clearTimeout(timer);
  }
}

export interface SpawnOptions {
  /** 0 for the first node of a group: the port it gets is then passed to the others. */
  port: number;
  redis: string | string[];
  prefix: string;
  leaseMs?: number;
  routeBufferBytes?: number;
  workers?: number;
}

/** Starts one node process and resolves once it listens (its node number leased). */
export async function spawnNode(options: SpawnOptions): Promise<ClusterNode> {
  guardExit();
  const config: NodeConfig = {
    port: options.port,
    redis: options.redis,
    prefix: options.prefix,
    leaseMs: options.leaseMs ?? 1000,
    workers: options.workers ?? 2,
    ...(options.routeBufferBytes === undefined ? {} : { routeBufferBytes: options.routeBufferBytes }),
  };
  const child = spawn(NODE_BIN, ['--expose-gc', FIXTURE, JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, FLAMINGO_FAULT_HOOKS: '1' },
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let output = '';
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const ready = await new Promise<Extract<NodeEvent, { event: 'ready' }>>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node did not start within ${START_MS} ms. Its output:\n${output}`));
    }, START_MS);
    const onMessage = (message: NodeEvent): void => {
      if (message.event === 'ready') {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message);
      } else if (message.event === 'startError') {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`node failed to start: ${message.code}: ${message.message}. Its output:\n${output}`));
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      clearTimeout(timer);
      reject(new Error(`node exited (${code ?? signal}) before listening. Its output:\n${output}`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
  return new ClusterNode(child, ready, () => output);
}

/**
 * `count` nodes sharing one port: the first picks it (port 0), the rest join
 * it, one after another. Each node is added to `into` as it starts, so an
 * afterAll can stop them even if a later one fails.
 *
 * Not in parallel: sharing servers that start at the same moment can refuse
 * each other (port-claim.ts: each one's check briefly takes the marker name
 * an exclusive server would hold). cluster-routing.test.ts has the test for
 * that; the other tests do not depend on it.
 */
export async function spawnNodes(count: number, options: Omit<SpawnOptions, 'port'>, into: ClusterNode[]): Promise<ClusterNode[]> {
  const group: ClusterNode[] = [];
  let port = 0;
  for (let i = 0; i < count; i++) {
    const node = await spawnNode({ ...options, port });
    into.push(node);
    group.push(node);
    port = node.port;
  }
  if (new Set(group.map((n) => n.node)).size !== count) throw new Error(`node numbers not distinct: ${group.map((n) => n.node).join(', ')}`);
  return group;
}

export async function stopAll(nodes: ClusterNode[]): Promise<void> {
  await Promise.all(nodes.splice(0).map((node) => node.stop()));
}

/** Waits until every node lists exactly `expected` in nodes(). */
export async function untilNodesAgree(nodes: ClusterNode[], expected: number[], timeoutMs = 5000): Promise<void> {
  const want = [...expected].sort((a, b) => a - b).join(',');
  let seen: string[] = [];
  await eventually(
    async () => {
      seen = await Promise.all(nodes.map(async (n) => (await n.nodes()).join(',')));
      return seen.every((s) => s === want);
    },
    timeoutMs,
    () => `nodes() should be [${want}] everywhere; got ${seen.map((s) => `[${s}]`).join(' ')}`,
  );
}

// ---------------------------------------------------------------------------
// Clients

/** A line client: learns its id from the first line ("ID <id>"), then keeps every line after it. */
export class LineClient {
  readonly socket: net.Socket;
  id = -1;
  node = -1;
  /** Lines after the ID line, without their "\n". */
  readonly lines: string[] = [];
  /** Bytes received after the ID line. */
  bytes = 0;
  closed = false;
  #partial = '';
  #gotId: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#take(chunk));
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, timeoutMs = 5000): Promise<LineClient> {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const client = new LineClient(socket);
    const gotId = new Promise<void>((resolve) => {
      client.#gotId = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ID line within ${timeoutMs} ms`)), timeoutMs);
    });
    const failed = new Promise<never>((_, reject) => {
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('closed before its ID line')));
    });
    try {
      await Promise.race([gotId, timeout, failed]);
    } catch (error) {
      socket.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
      failed.catch(() => {});
    }
    return client;
  }

  #take(chunk: string): void {
    const text = this.#partial + chunk;
    const parts = text.split('\n');
    this.#partial = parts.pop()!;
    for (const line of parts) {
      if (this.id < 0) {
        const match = /^ID (\d+)$/.exec(line);
        if (match === null) throw new Error(`first line was not an ID line: ${JSON.stringify(line)}`);
        this.id = Number(match[1]);
        this.node = decodeId(this.id).node;
        this.#gotId?.();
      } else {
        this.lines.push(line);
        this.bytes += line.length + 1;
      }
    }
  }

  /** Lines starting with `prefix` (followed by a space). */
  linesOf(prefix: string): string[] {
    return this.lines.filter((line) => line.startsWith(`${prefix} `) || line === prefix);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Connects clients to `port` until every node in `nodeNumbers` has at least
 * `perNode` of them, starting with `initial` and adding 10 at a time up to
 * `max` (the kernel spreads connections over the processes sharing the port).
 */
export async function connectSpread(
  port: number,
  nodeNumbers: number[],
  into: LineClient[],
  initial: number,
  perNode: number,
  max = initial * 3,
): Promise<LineClient[]> {
  const mine: LineClient[] = [];
  const add = async (count: number): Promise<void> => {
    const batch = await Promise.all(Array.from({ length: count }, () => LineClient.connect(port)));
    into.push(...batch);
    mine.push(...batch);
  };
  await add(initial);
  const short = (): number[] => nodeNumbers.filter((n) => mine.filter((c) => c.node === n).length < perNode);
  while (short().length > 0 && mine.length < max) await add(Math.min(10, max - mine.length));
  if (short().length > 0) throw new Error(`after ${mine.length} connections, nodes ${short().join(', ')} have fewer than ${perNode} clients`);
  const unknown = mine.filter((c) => !nodeNumbers.includes(c.node));
  if (unknown.length > 0) throw new Error(`clients on unexpected nodes: ${unknown.map((c) => c.node).join(', ')}`);
  return mine;
}

export function destroyAll(clients: LineClient[]): void {
  for (const client of clients.splice(0)) client.destroy();
}

export function byNode(clients: LineClient[]): Map<number, LineClient[]> {
  const map = new Map<number, LineClient[]>();
  for (const client of clients) {
    const list = map.get(client.node);
    if (list === undefined) map.set(client.node, [client]);
    else list.push(client);
  }
  return map;
}

// ---------------------------------------------------------------------------
// A group: Redis, nodes sharing one port, clients spread over them

export interface NodeGroupOptions<R extends RedisServer | RedisClusterServers> {
  /** Starts the Redis the nodes share: startRedis, or () => startRedisCluster(3). */
  redis: () => Promise<R>;
  /** How many nodes (spawnNodes). */
  count: number;
  /** What each node is given besides Redis: prefix, leaseMs, routeBufferBytes, workers. */
  cluster: Omit<SpawnOptions, 'port' | 'redis'>;
  /** connectSpread: `initial` clients, then more until every node has `perNode`, at most `max` (default initial * 3). */
  clients: { initial: number; perNode: number; max?: number };
}

/**
 * Redis, `count` nodes on one port that all list each other, and clients
 * spread over them. `nodes` and `clients` fill as start() goes, so stop()
 * ends whatever of it started, even after a failed start.
 */
export class NodeGroup<R extends RedisServer | RedisClusterServers> {
  readonly nodes: ClusterNode[] = [];
  readonly clients: LineClient[] = [];
  readonly #options: NodeGroupOptions<R>;
  #redis: R | undefined;

  constructor(options: NodeGroupOptions<R>) {
    this.#options = options;
  }

  get redis(): R {
    if (this.#redis === undefined) throw new Error('the node group has not started');
    return this.#redis;
  }

  /** The ports of Redis: the one server's, or every shard's. */
  get redisPorts(): number[] {
    const redis: RedisServer | RedisClusterServers = this.redis;
    return 'nodes' in redis ? redis.nodes.map((n) => n.port) : [redis.port];
  }

  /** The nodes' numbers, in the order they started. */
  get numbers(): number[] {
    return this.nodes.map((n) => n.node);
  }

  async start(): Promise<void> {
    const { count, cluster, clients } = this.#options;
    const redis: RedisServer | RedisClusterServers = (this.#redis = await this.#options.redis());
    await spawnNodes(count, { ...cluster, redis: 'urls' in redis ? redis.urls : redis.url }, this.nodes);
    await untilNodesAgree(this.nodes, this.numbers);
    await connectSpread(this.nodes[0]!.port, this.numbers, this.clients, clients.initial, clients.perNode, clients.max);
  }

  /** Destroys the clients, stops the nodes, then Redis. */
  async stop(): Promise<void> {
    destroyAll(this.clients);
    await stopAll(this.nodes);
    await this.#redis?.stop();
  }
}

/**
 * A NodeGroup for the tests of a describe block: started in its beforeAll,
 * followed in the same hook by `setUp` (what the block adds), and stopped in
 * its afterAll.
 */
export function useNodeGroup<R extends RedisServer | RedisClusterServers>(
  options: NodeGroupOptions<R>,
  setUp?: (group: NodeGroup<R>) => void | Promise<void>,
): NodeGroup<R> {
  const group = new NodeGroup(options);
  beforeAll(async () => {
    await group.start();
    await setUp?.(group);
  });
  afterAll(() => group.stop());
  return group;
}

// ---------------------------------------------------------------------------
// Checks shared by the routing tests (one Redis, a Redis Cluster)

/** Lines per run in sendAcrossAndVerify. */
export const LINES = 200;

export async function routingSnapshot(nodes: ClusterNode[]): Promise<Map<number, RoutingStats>> {
  const all = await Promise.all(nodes.map((n) => n.routing()));
  return new Map(all.map((s) => [s.node, s]));
}

/**
 * Every node sends LINES numbered lines (prefix `R<sender>`) to every client
 * of every other node, and each client must get each sender's run whole and
 * in order, and nothing else.
 */
export async function sendAcrossAndVerify(nodes: ClusterNode[], clients: LineClient[], tag: string): Promise<void> {
  const prefix = (sender: number): string => `${tag}${sender}`;
  const outcomes = await Promise.all(
    nodes.map((sender) =>
      sender.sendLines(
        clients.filter((c) => c.node !== sender.node).map((c) => c.id),
        prefix(sender.node),
        LINES,
        20,
      ),
    ),
  );
  nodes.forEach((sender, i) => {
    const targets = clients.filter((c) => c.node !== sender.node).length;
    expect(outcomes[i], `node ${sender.node}'s sends`).toEqual({ accepted: LINES * targets, refused: 0, threw: {} });
  });
  const senders = (client: LineClient): ClusterNode[] => nodes.filter((n) => n.node !== client.node);
  await eventually(
    () => clients.every((c) => senders(c).every((s) => c.linesOf(prefix(s.node)).length >= LINES)),
    20_000,
    () => {
      const short = clients.filter((c) => senders(c).some((s) => c.linesOf(prefix(s.node)).length < LINES));
      return `${short.length} clients short of lines, e.g. client on node ${short[0]?.node}: ${senders(short[0]!)
        .map((s) => `${s.node}: ${short[0]!.linesOf(prefix(s.node)).length}`)
        .join(', ')}`;
    },
  );
  const run = new RegExp(`^${tag}\\d+ \\d+ `);
  for (const client of clients) {
    let bytes = 0;
    for (const sender of senders(client)) {
      const expected = Array.from({ length: LINES }, (_, i) => numberedLine(prefix(sender.node), i).slice(0, -1));
      bytes += expected.reduce((sum, line) => sum + line.length + 1, 0);
      expect(client.linesOf(prefix(sender.node)), `lines from node ${sender.node} to client ${client.id} (node ${client.node})`).toEqual(expected);
    }
    const ours = client.lines.filter((line) => run.test(line));
    expect(ours.length, `client ${client.id}: lines of this run, no more`).toBe(LINES * senders(client).length);
    expect(ours.reduce((sum, line) => sum + line.length + 1, 0)).toBe(bytes);
  }
}

/**
 * Subscribers Redis counts on a sharded channel (PUBSUB SHARDNUMSUB), summed
 * over `ports`: on a Redis Cluster only the shard that owns the channel's
 * slot has them, and the command is not redirected.
 */
export async function channelSubscribers(ports: number[], channel: string): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const reply = (await redisCli(port, 'PUBSUB', 'SHARDNUMSUB', channel)).split('\n');
    if (reply.length !== 2 || reply[0] !== channel || !/^\d+$/.test(reply[1]!)) throw new Error(`unexpected SHARDNUMSUB reply: ${JSON.stringify(reply)}`);
    total += Number(reply[1]);
  }
  return total;
}

/** Subscribers of `topic`'s channel in Redis: one per node that serves the topic. */
export function shardSubscribers(ports: number[], prefix: string, topic: string): Promise<number> {
  return channelSubscribers(ports, topicChannel(prefix, topic));
}

/** Subscribers of node `node`'s own channel in Redis: 1 while that node listens. */
export function nodeChannelSubscribers(ports: number[], prefix: string, node: number): Promise<number> {
  return channelSubscribers(ports, nodeChannel(prefix, node));
}

/** Who subscribes a client, to what, and through which node (its own or another: that one forwards). */
export interface Subscription {
  client: LineClient;
  topic: string;
  via: ClusterNode;
}

/** Makes each subscription through its `via` node; every call must resolve true. */
export async function subscribeAll(nodes: ClusterNode[], subscriptions: Subscription[]): Promise<void> {
  const results = await Promise.all(
    nodes.map((node) => node.subscribe(subscriptions.filter((s) => s.via === node).map((s) => [s.client.id, s.topic] as [number, string]))),
  );
  for (const [i, result] of results.entries()) expect(result.every(Boolean), `subscribe() through node ${nodes[i]!.node}`).toBe(true);
}

/** Waits until each node holds exactly its own clients' subscriptions (and topics), and Redis has each topic's channel subscribed by each node that serves it. */
export async function untilSubscriptionsSettle(
  nodes: ClusterNode[],
  subscriptions: Subscription[],
  redisPorts: number[],
  prefix: string,
  topics: string[],
): Promise<void> {
  const held = (node: number): Subscription[] => subscriptions.filter((s) => s.client.node === node);
  let seen: RoutingStats[] = [];
  await eventually(
    async () => {
      seen = await Promise.all(nodes.map((n) => n.routing()));
      return seen.every((s) => s.topicSubscriptions === held(s.node).length && s.topics === new Set(held(s.node).map((h) => h.topic)).size);
    },
    5000,
    () => `subscriptions held per node: ${seen.map((s) => `${s.node}: ${s.topicSubscriptions}/${held(s.node).length} on ${s.topics} topics`).join(', ')}`,
  );
  const servers = (topic: string): number => new Set(subscriptions.filter((s) => s.topic === topic).map((s) => s.client.node)).size;
  let counts: number[] = [];
  await eventually(
    async () => {
      counts = await Promise.all(topics.map((t) => shardSubscribers(redisPorts, prefix, t)));
      return counts.every((count, i) => count === servers(topics[i]!));
    },
    5000,
    () => `Redis subscribers per topic channel ${counts.join(',')}; expected ${topics.map(servers).join(',')}`,
  );
}

/**
 * Every node publishes `perTopic` payloads ("<tag><node> <topic> <k>") on
 * each of `topics`; every subscriber must get each one of its topic exactly
 * once, each publisher's in order, and nothing of other topics. Clients in
 * `silent` must get nothing of this round.
 */
export async function publishAndVerify(
  nodes: ClusterNode[],
  subscriptions: Subscription[],
  topics: string[],
  tag: string,
  perTopic: number,
  silent: LineClient[] = [],
): Promise<void> {
  const payload = (node: number, topic: string, k: number): string => `${tag}${node} ${topic} ${k}`;
  const outcomes = await Promise.all(
    nodes.map((node) => {
      const items: [string, string][] = [];
      for (let k = 0; k < perTopic; k++) for (const topic of topics) items.push([topic, `${payload(node.node, topic, k)}\n`]);
      return node.publish(items, 7);
    }),
  );
  for (const outcome of outcomes) expect(outcome).toEqual({ accepted: perTopic * topics.length, refused: 0, threw: {} });
  const round = new RegExp(`^${tag}\\d+ `);
  const ofRound = (client: LineClient): string[] => client.lines.filter((line) => round.test(line));
  const each = nodes.length * perTopic;
  const receivers = subscriptions.filter((s) => topics.includes(s.topic));
  await eventually(
    () => receivers.every((s) => ofRound(s.client).length >= each),
    10_000,
    () => `${receivers.filter((s) => ofRound(s.client).length < each).length} of ${receivers.length} subscribers short of ${each} publishes`,
  );
  // Time for a duplicate, or a delivery that should not happen, to show up.
  await sleep(250);
  for (const { client, topic } of receivers) {
    expect(ofRound(client).length, `client ${client.id} (node ${client.node}) on ${topic}`).toBe(each);
    for (const node of nodes) {
      const expected = Array.from({ length: perTopic }, (_, k) => payload(node.node, topic, k));
      expect(
        ofRound(client).filter((line) => line.startsWith(`${tag}${node.node} `)),
        `client ${client.id} (node ${client.node}) on ${topic}, from node ${node.node}`,
      ).toEqual(expected);
    }
  }
  for (const client of silent) expect(ofRound(client), `client ${client.id} (node ${client.node}) should get none of round ${tag}`).toEqual([]);
}
