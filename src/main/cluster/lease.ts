// A node's number, leased from Redis, and what comes with it: which other
// nodes are alive, and where this run's connection generations start.
//
// Every key carries the hash tag {prefix}, so all of them live in one slot
// of a Redis Cluster and one MGET reads every lease.
//
//   {prefix}:lease:<n>   a token naming the holder; a TTL of leaseMs, renewed
//                        every third of it; deleted at shutdown
//   {prefix}:gen:<n>     where the next run of node n starts its generations
//
// Ids outlive processes. A connection id is (node, worker, slot,
// generation); a new run of the same node number must not give out an id
// that an earlier run gave out, or an id an application kept in its own
// store (in Redis, say) would reach a stranger. So the generations a run
// uses are recorded under the node's gen key: the run starts every slot
// just past where the earlier runs stopped, and while it runs it keeps the
// key ahead of its own use by RESERVE generations, rewritten with each
// renewal; at shutdown it writes the exact figure. A run killed outright
// is covered as long as no slot was reused RESERVE times within one
// renewal interval: with the connection table's reuse delay (a slot comes
// back only after 1,024 others were freed) that is over a million closes
// on one worker in leaseMs / 3. The generation field has 18 bits, so a
// slot's ids repeat only after 262,143 uses of it summed over every run of
// the node number. If Redis loses the gen key (a restart without
// persistence), the next run starts from the clock, as a server without
// `cluster` does (see generationBaseFromClock).

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { FlamingoError } from '../../shared/errors.ts';
import { MAX_GENERATION, MAX_NODES } from '../../shared/id.ts';
import type { RedisLink } from './redis-link.ts';

/** Generations kept in hand beyond a run's use, between two renewals. */
export const RESERVE = 1024;

export type LeaseState = 'held' | 'lost';

const RENEW = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0`;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Where a server without Redis starts its generations: the clock in
 * seconds. A restart a second or more later starts past the earlier run,
 * unless that run reused one slot more times than the seconds between the
 * two starts; the field wraps every 262,143 s (about 3 days).
 */
export function generationBaseFromClock(now = Date.now()): number {
  return Math.floor(now / 1000) % MAX_GENERATION;
}

export class NodeLease {
  readonly node: number;
  readonly #link: RedisLink;
  readonly #prefix: string;
  readonly #token: string;
  readonly #leaseMs: number;
  /** The gen key's value when this run started: the run's generations count up from it. */
  readonly #counterAtStart: number;
  state: LeaseState = 'held';

  private constructor(link: RedisLink, prefix: string, leaseMs: number, node: number, token: string, counterAtStart: number) {
    this.#link = link;
    this.#prefix = prefix;
    this.#leaseMs = leaseMs;
    this.node = node;
    this.#token = token;
    this.#counterAtStart = counterAtStart;
  }

  /**
   * Takes node number `wanted`, or with 'auto' a free one (tried in random
   * order). A fixed number still held by another process (a run killed a
   * moment ago) is waited for until its lease could have lapsed.
   */
  static async take(link: RedisLink, prefix: string, leaseMs: number, wanted: number | 'auto'): Promise<NodeLease> {
    const token = `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
    const commands = link.commands;
    const tryTake = async (node: number): Promise<boolean> => (await commands.set(leaseKey(prefix, node), token, 'PX', leaseMs, 'NX')) === 'OK';
    let node = -1;
    if (wanted === 'auto') {
      const start = Math.floor(Math.random() * MAX_NODES);
      for (let i = 0; i < MAX_NODES && node < 0; i++) {
        const candidate = (start + i) % MAX_NODES;
        if (await tryTake(candidate)) node = candidate;
      }
      if (node < 0) throw new FlamingoError('ERR_FLAMINGO_CLUSTER', `every node number (0 to ${MAX_NODES - 1}) is leased under prefix "${prefix}"`);
    } else {
      const deadline = Date.now() + leaseMs + 500;
      while (!(await tryTake(wanted))) {
        if (Date.now() > deadline) {
          throw new FlamingoError('ERR_FLAMINGO_CLUSTER', `node ${wanted} is leased by another process under prefix "${prefix}"`);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(250, leaseMs / 4)));
      }
      node = wanted;
    }
    const stored = await commands.get(genKey(prefix, node));
    const counter = stored !== null && /^\d{1,15}$/.test(stored) ? Number(stored) : generationBaseFromClock();
    const lease = new NodeLease(link, prefix, leaseMs, node, token, counter);
    await lease.#recordUse(0);
    return lease;
  }

  /** Where this run's slots start: every slot's generation counts up from here. */
  get generationBase(): number {
    return this.#counterAtStart % MAX_GENERATION;
  }

  /**
   * Renews the lease (taking it again if Redis lost it, as after a restart
   * without persistence) and records the generations used so far, `used`
   * being the most any slot has advanced. Resolves with the lease's state.
   */
  async renew(used: number): Promise<LeaseState> {
    const held = await this.#link.commands.eval(RENEW, 1, leaseKey(this.#prefix, this.node), this.#token, String(this.#leaseMs));
    this.state = Number(held) === 0 ? 'lost' : 'held';
    if (this.state === 'held') await this.#recordUse(used + RESERVE);
    return this.state;
  }

  /** Every node number with a live lease, this one included. */
  async liveNodes(): Promise<number[]> {
    const keys = Array.from({ length: MAX_NODES }, (_, n) => leaseKey(this.#prefix, n));
    const values = await this.#link.commands.mget(...keys);
    const live: number[] = [];
    values.forEach((value, n) => {
      if (value !== null) live.push(n);
    });
    return live;
  }

  /** Records the exact generations used and gives the node number back. */
  async release(used: number): Promise<void> {
    if (this.state === 'held') await this.#recordUse(used + 1);
    await this.#link.commands.eval(RELEASE, 1, leaseKey(this.#prefix, this.node), this.#token);
  }

  async #recordUse(ahead: number): Promise<void> {
    await this.#link.commands.set(genKey(this.#prefix, this.node), String(this.#counterAtStart + ahead));
  }
}

export function leaseKey(prefix: string, node: number): string {
  return `{${prefix}}:lease:${node}`;
}

export function genKey(prefix: string, node: number): string {
  return `{${prefix}}:gen:${node}`;
}

/** The channel of node `node`: direct sends, closes and (un)subscriptions for its ids. */
export function nodeChannel(prefix: string, node: number): string {
  return `${prefix}:node:${node}`;
}

/** The channel of a topic. No hash tag: a Redis Cluster spreads topics over its shards. */
export function topicChannel(prefix: string, topic: string): string {
  return `${prefix}:topic:${topic}`;
}

/**
 * How far the generations of `states` (one worker's slot generations) have
 * advanced from `base`, at most: the figure a lease records.
 */
export function generationsUsed(states: Uint32Array, base: number): number {
  let most = 0;
  for (let slot = 0; slot < states.length; slot++) {
    const generation = states[slot]!;
    if (generation === base) continue;
    // Generations run 1..MAX_GENERATION and wrap past 0.
    const advance = generation > base ? generation - base : generation + MAX_GENERATION - base;
    if (advance > most) most = advance;
  }
  return most;
}
