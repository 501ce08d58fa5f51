// The `cluster` option: how a server reaches Redis to route ids and topics
// between nodes. Its own small table (the README's cluster options are
// rendered from it), checked like every other option: a wrong value throws
// ERR_FLAMINGO_INVALID_OPTION naming the key and what it accepts.

import { FlamingoError, invalidOption } from './errors.ts';

export interface ClusterOptions {
  /**
   * Where Redis is: one URL ('redis://[user:password@]host:port', or
   * 'rediss://' for TLS), or an array of seed URLs of a Redis Cluster.
   * Credentials and TLS pass through to the Redis client.
   */
  redis: string | string[];
  /** Start of every key and channel Flamingo uses; lets applications share a Redis. Default 'flamingo'. */
  prefix?: string;
  /** Lease on the node number, in ms: renewed every third of it; a node that stops renewing is down once it lapses. Default 5000. */
  leaseMs?: number;
  /** Routed sends and publishes held (or in flight) while Redis is slow or away; past it they are dropped and counted. Default 16 MiB. */
  routeBufferBytes?: number;
}

export interface ResolvedCluster {
  redis: string[];
  /** True when `redis` was given as an array: a Redis Cluster. */
  redisCluster: boolean;
  prefix: string;
  leaseMs: number;
  routeBufferBytes: number;
  /** node: 'auto' was given: the node number is leased at start. */
  autoNode: boolean;
}

interface ClusterOptionText {
  readonly name: keyof ClusterOptions;
  readonly shownDefault: string;
  readonly meaning: string;
}

/** The cluster option's keys, for the README's table. */
export const CLUSTER_OPTIONS: readonly ClusterOptionText[] = [
  {
    name: 'redis',
    shownDefault: 'required',
    meaning:
      "`'redis://[user:password@]host:port'` (`rediss://` for TLS), or an array of seed URLs of a Redis Cluster; credentials and TLS pass through to the client",
  },
  { name: 'prefix', shownDefault: "`'flamingo'`", meaning: 'start of every key and channel, so applications can share one Redis' },
  {
    name: 'leaseMs',
    shownDefault: '`5000`',
    meaning: "the node number's lease: renewed every third of it; a node that stops renewing is down (`nodeDown`) once it lapses",
  },
  {
    name: 'routeBufferBytes',
    shownDefault: '16 MiB',
    meaning: 'routed sends and publishes held or in flight while Redis is slow or away; past it they are dropped and counted (`dropped`)',
  },
];

const PREFIX = /^[A-Za-z0-9_.:-]{1,64}$/;
const KEYS = new Set<string>(CLUSTER_OPTIONS.map((o) => o.name));

/** Checks the cluster option; null when it is absent. `autoNode`: the node option was 'auto'. */
export function resolveCluster(value: unknown, autoNode: boolean): ResolvedCluster | null {
  if (value === undefined) {
    if (autoNode) throw invalidOption('node', 'an integer from 0 to 255; "auto" needs the cluster option', 'auto');
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption('cluster', 'an object with a redis URL', value);
  const given = value as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!KEYS.has(key)) {
      throw new FlamingoError('ERR_FLAMINGO_UNKNOWN_OPTION', `unknown option "cluster.${key}"; known: ${[...KEYS].join(', ')}`);
    }
  }
  const urls = Array.isArray(given.redis) ? given.redis : [given.redis];
  if (urls.length === 0 || urls.length > 64 || !urls.every(isRedisUrl)) {
    throw invalidOption('cluster.redis', 'a redis:// or rediss:// URL, or a non-empty array of them (a Redis Cluster)', given.redis);
  }
  const prefix = given.prefix ?? 'flamingo';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw invalidOption('cluster.prefix', '1 to 64 letters, digits or _ . : -', prefix);
  }
  return {
    redis: urls as string[],
    redisCluster: Array.isArray(given.redis),
    prefix,
    leaseMs: integer('cluster.leaseMs', given.leaseMs, 5000, 300, 600_000),
    routeBufferBytes: integer('cluster.routeBufferBytes', given.routeBufferBytes, 16 * 1024 * 1024, 1024, 2 ** 40),
    autoNode,
  };
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

function isRedisUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
  } catch {
    return false;
  }
}
