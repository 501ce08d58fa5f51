// Redis clients nobody here wrote, ioredis and node-redis, each in RESP2 and
// RESP3, behind one small interface, so a test can mix them: subscribers
// that record every message and pmessage they are handed, and publishers.
// Every connection is bounded: no reconnecting, no retrying, an error is
// kept rather than thrown at the event loop.

import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { decodeId } from '../../src/main/index.ts';

export type Library = 'ioredis' | 'node-redis';

/** What one connection was handed: `channel message` for a message, `pattern channel message` for a pmessage. */
export interface Client {
  readonly label: string;
  /** The connection's id on the server (CLIENT ID), and the node that holds it. */
  readonly id: number;
  readonly node: number;
  readonly messages: string[];
  readonly pmessages: string[];
  readonly errors: Error[];
  subscribe(...channels: string[]): Promise<void>;
  unsubscribe(...channels: string[]): Promise<void>;
  psubscribe(...patterns: string[]): Promise<void>;
  publish(channel: string, message: string): Promise<number>;
  close(): Promise<void>;
}

export async function connectClient(library: Library, port: number, resp: 2 | 3): Promise<Client> {
  return library === 'ioredis' ? ioredisClient(port, resp) : nodeRedisClient(port, resp);
}

async function ioredisClient(port: number, resp: 2 | 3): Promise<Client> {
  const redis = new Redis({ host: '127.0.0.1', port, protocol: resp, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  const errors: Error[] = [];
  redis.on('error', (error: Error) => errors.push(error));
  await redis.connect();
  const id = Number(await redis.client('ID'));
  const messages: string[] = [];
  const pmessages: string[] = [];
  redis.on('message', (channel: string, message: string) => messages.push(`${channel} ${message}`));
  redis.on('pmessage', (pattern: string, channel: string, message: string) => pmessages.push(`${pattern} ${channel} ${message}`));
  return {
    label: `ioredis RESP${resp}`,
    id,
    node: decodeId(id).node,
    messages,
    pmessages,
    errors,
    subscribe: async (...channels) => void (await redis.subscribe(...channels)),
    unsubscribe: async (...channels) => void (await redis.unsubscribe(...channels)),
    psubscribe: async (...patterns) => void (await redis.psubscribe(...patterns)),
    publish: (channel, message) => redis.publish(channel, message),
    close: async () => redis.disconnect(),
  };
}

async function nodeRedisClient(port: number, resp: 2 | 3): Promise<Client> {
  const client = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false }, RESP: resp });
  const errors: Error[] = [];
  client.on('error', (error: Error) => errors.push(error));
  await client.connect();
  const id = Number(await client.clientId());
  const messages: string[] = [];
  const pmessages: string[] = [];
  return {
    label: `node-redis RESP${resp}`,
    id,
    node: decodeId(id).node,
    messages,
    pmessages,
    errors,
    subscribe: (...channels) => client.subscribe(channels, (message, channel) => void messages.push(`${channel} ${message}`)),
    unsubscribe: (...channels) => client.unsubscribe(channels),
    psubscribe: (...patterns) =>
      Promise.all(patterns.map((pattern) => client.pSubscribe(pattern, (message, channel) => void pmessages.push(`${pattern} ${channel} ${message}`)))).then(
        () => {},
      ),
    publish: (channel, message) => client.publish(channel, message),
    close: async () => client.destroy(),
  };
}

/** The four kinds in turn: ioredis and node-redis, RESP3 (their default) and RESP2. */
export const KINDS: ReadonlyArray<[Library, 2 | 3]> = [
  ['ioredis', 3],
  ['node-redis', 3],
  ['ioredis', 2],
  ['node-redis', 2],
];

/**
 * `count` clients, of every kind in turn (client i is of kind i % 4),
 * connected `parallel` at a time. Each batch holds one kind: node-redis
 * connects slowly (about a second a batch, against redis-server too) when
 * RESP2 and RESP3 clients connect at once.
 */
export async function connectClients(port: number, count: number, parallel = 50): Promise<Client[]> {
  const byKind: Client[][] = [];
  for (const [kind, [library, resp]] of KINDS.entries()) {
    const wanted = Math.ceil((count - kind) / KINDS.length);
    const clients: Client[] = [];
    for (let start = 0; start < wanted; start += parallel) {
      const batch = Array.from({ length: Math.min(parallel, wanted - start) }, () => connectClient(library, port, resp));
      clients.push(...(await Promise.all(batch)));
    }
    byKind.push(clients);
  }
  return Array.from({ length: count }, (_, i) => byKind[i % KINDS.length]![Math.floor(i / KINDS.length)]!);
}

export async function closeClients(clients: Client[]): Promise<void> {
  await Promise.allSettled(clients.splice(0).map((client) => client.close()));
}

/**
 * Checks that `got` holds, for each publisher, exactly its messages
 * `<publisher>:0` to `<publisher>:<count - 1>` in order, each once, and
 * nothing else. Returns what is wrong, or undefined.
 */
export function checkRuns(got: readonly string[], publishers: readonly string[], count: number): string | undefined {
  const runs = new Map<string, number[]>(publishers.map((p) => [p, []]));
  for (const text of got) {
    const [publisher, n] = text.split(':');
    const run = runs.get(publisher!);
    if (run === undefined) return `a message from no publisher of this round: ${text}`;
    run.push(Number(n));
  }
  for (const [publisher, run] of runs) {
    if (run.length !== count) return `${run.length} messages from ${publisher}, not ${count}`;
    for (let i = 0; i < count; i++) if (run[i] !== i) return `from ${publisher}: message ${run[i]} where ${i} was due`;
  }
  return undefined;
}
