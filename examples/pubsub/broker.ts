// The pub/sub server's application side: one Session per connection, the
// subscriptions of this node's connections, and publishing. It runs on the
// main thread; the I/O workers' protocol (protocol.ts) frames requests,
// writes replies and fans messages out.
//
// Channels are Flamingo topics: SUBSCRIBE is server.subscribe(), PUBLISH is
// server.publish() of the `message` frame built once (wire.ts), so a
// publish reaches the channel's subscribers on every node, through Redis
// when the server has the cluster option. Patterns cannot be topics (a
// publisher cannot know which patterns its channel matches), so a publish
// also goes on one more topic, the pattern feed (always, when other nodes
// may hold pattern subscribers; alone, while a connection here has a
// pattern), which each connection with patterns is subscribed to; the
// protocol in its worker matches the channel against that connection's
// patterns.
//
// A connection's requests are answered one at a time, in order: while one
// waits for a subscription to take effect, later ones are kept (copied)
// and run after it, so every reply keeps its place.

import { createHash } from 'node:crypto';
import type { Server } from '../../src/main/index.ts';
import { parseRequest } from '../protocols/resp-framer.ts';
import { globMatch } from './glob.ts';
import { Reply, type RespVersion } from './replies.ts';
import { Tag, channelDelivery, publication, tagged } from './wire.ts';

/** The topic every publish also goes on, for connections with patterns; no channel's topic looks like it. */
export const PATTERN_FEED_TOPIC = 'pubsub:patterns';
/** The longest channel kept readable in its topic's name (a topic is at most 256 bytes); a longer one is hashed. */
const MAX_PLAIN_CHANNEL = 254;

/**
 * A channel's topic: `c:<channel>` for a channel of ASCII bytes that fits,
 * else `h:<sha-256 of its bytes>`. The two forms cannot collide, and a
 * channel is any bytes in Redis.
 */
export function channelTopic(channel: Uint8Array, key: string): string {
  if (channel.length <= MAX_PLAIN_CHANNEL && isAscii(channel)) return `c:${key}`;
  return `h:${createHash('sha256').update(channel).digest('base64url')}`;
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

/** Bytes as a Map key: latin1 keeps one character per byte, so any channel or pattern is its own key. */
export function keyOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

/** One connection: its RESP version, subscriptions, name, and the requests waiting their turn. */
export class Session {
  readonly id: number;
  version: RespVersion = 2;
  name: Buffer | undefined;
  /** Channels and patterns (latin1 keys), in subscription order; created with the first one. */
  channels: Set<string> | undefined;
  patterns: Set<string> | undefined;
  /** The protocol holds deliveries back until this connection's next reply (a subscription is being made). */
  holding = false;
  /** A request is being answered; later ones wait in `backlog`. */
  busy = false;
  backlog: Buffer[] | undefined;
  /** Gone, or said QUIT: nothing more is answered. */
  ended = false;

  constructor(id: number) {
    this.id = id;
  }

  /** Channels and patterns together: the count in every confirmation. */
  get subscriptions(): number {
    return (this.channels?.size ?? 0) + (this.patterns?.size ?? 0);
  }

  /** In Redis's subscribed mode: a RESP2 connection with subscriptions, which may run only the pub/sub commands. */
  get restricted(): boolean {
    return this.version === 2 && this.subscriptions > 0;
  }
}

/** What a command returns: its reply, or the reply once its subscriptions have taken effect. */
export type Outcome = Reply | Promise<Reply>;

/** Runs one request's command; commands.ts. */
export type Execute = (broker: Broker, session: Session, args: Buffer[]) => Outcome;

export class Broker {
  readonly server: Server;
  readonly #execute: Execute;
  /** Whether other nodes may have pattern subscribers: then every publish goes on the feed. */
  readonly #clustered: boolean;
  readonly #sessions = new Map<number, Session>();
  /** This node's subscribers per channel, and its pattern subscriptions per pattern: what PUBLISH counts. */
  readonly #channelCounts = new Map<string, number>();
  readonly #patternCounts = new Map<string, { bytes: Buffer; count: number }>();

  constructor(server: Server, execute: Execute) {
    this.server = server;
    this.#execute = execute;
    this.#clustered = server.options.cluster !== null;
    server.on('data', (id, request) => this.#request(id, request));
    server.on('close', (id) => this.#closed(id));
  }

  /** Channels and patterns with a subscriber on this node (INFO). */
  get channelCount(): number {
    return this.#channelCounts.size;
  }

  get patternCount(): number {
    return this.#patternCounts.size;
  }

  /** Subscribes to each channel; the reply (a confirmation per channel) once this node listens for all of them. */
  subscribe(session: Session, channels: readonly Buffer[]): Outcome {
    const reply = new Reply(session.version);
    const waits: Promise<boolean>[] = [];
    for (const channel of channels) {
      const key = keyOf(channel);
      session.channels ??= new Set();
      if (!session.channels.has(key)) {
        session.channels.add(key);
        this.#channelCounts.set(key, (this.#channelCounts.get(key) ?? 0) + 1);
        this.#hold(session);
        waits.push(this.server.subscribe(session.id, channelTopic(channel, key)));
      }
      reply.push(3).bulk('subscribe').bulk(channel).integer(session.subscriptions);
    }
    return waits.length === 0 ? reply : Promise.allSettled(waits).then(() => reply);
  }

  /** Unsubscribes from each channel, or from every one with none given. */
  unsubscribe(session: Session, channels: readonly Buffer[]): Reply {
    const reply = new Reply(session.version);
    const which = channels.length > 0 ? channels : [...(session.channels ?? [])].map((key) => Buffer.from(key, 'latin1'));
    if (which.length === 0) return reply.push(3).bulk('unsubscribe').null().integer(session.subscriptions);
    for (const channel of which) {
      const key = keyOf(channel);
      if (session.channels?.delete(key)) {
        this.#leaveChannel(session, channel, key);
        if (session.channels.size === 0) session.channels = undefined;
      }
      reply.push(3).bulk('unsubscribe').bulk(channel).integer(session.subscriptions);
    }
    return reply;
  }

  /** Subscribes to each pattern; the reply once this node listens to the pattern feed. */
  psubscribe(session: Session, patterns: readonly Buffer[]): Outcome {
    const reply = new Reply(session.version);
    let wait: Promise<boolean> | undefined;
    for (const pattern of patterns) {
      const key = keyOf(pattern);
      session.patterns ??= new Set();
      if (!session.patterns.has(key)) {
        if (session.patterns.size === 0) {
          this.#hold(session);
          wait = this.server.subscribe(session.id, PATTERN_FEED_TOPIC);
        }
        session.patterns.add(key);
        const counted = this.#patternCounts.get(key);
        if (counted === undefined) this.#patternCounts.set(key, { bytes: Buffer.from(pattern), count: 1 });
        else counted.count++;
        this.server.send(session.id, tagged(Tag.ADD_PATTERN, pattern));
      }
      reply.push(3).bulk('psubscribe').bulk(pattern).integer(session.subscriptions);
    }
    return wait === undefined
      ? reply
      : wait.then(
          () => reply,
          () => reply,
        );
  }

  /** Unsubscribes from each pattern, or from every one with none given. */
  punsubscribe(session: Session, patterns: readonly Buffer[]): Reply {
    const reply = new Reply(session.version);
    const which = patterns.length > 0 ? patterns : [...(session.patterns ?? [])].map((key) => Buffer.from(key, 'latin1'));
    if (which.length === 0) return reply.push(3).bulk('punsubscribe').null().integer(session.subscriptions);
    for (const pattern of which) {
      const key = keyOf(pattern);
      if (session.patterns?.delete(key)) {
        this.server.send(session.id, tagged(Tag.REMOVE_PATTERN, pattern));
        this.#leavePattern(session, key);
      }
      reply.push(3).bulk('punsubscribe').bulk(pattern).integer(session.subscriptions);
    }
    return reply;
  }

  /**
   * Publishes to every subscriber of `channel` on every node, and to every
   * pattern that matches it. Returns the receivers this node knows of: its
   * own subscribers of the channel and its own matching pattern subscriptions.
   */
  publish(channel: Uint8Array, message: Uint8Array): number {
    const key = keyOf(channel);
    const subscribers = this.#channelCounts.get(key) ?? 0;
    let matches = 0;
    for (const { bytes, count } of this.#patternCounts.values()) if (globMatch(bytes, channel)) matches += count;
    // Alone, a node with no subscriber has no one to tell.
    if (!this.#clustered && subscribers === 0 && this.#patternCounts.size === 0) return 0;
    const framed = publication(channel, message);
    if (this.#clustered || subscribers > 0) this.server.publish(channelTopic(channel, key), channelDelivery(framed));
    if (this.#clustered || this.#patternCounts.size > 0) this.server.publish(PATTERN_FEED_TOPIC, framed);
    return subscribers + matches;
  }

  /** Switches the connection's RESP version; deliveries follow from here on. */
  setVersion(session: Session, version: RespVersion): void {
    if (session.version === version) return;
    session.version = version;
    this.server.send(session.id, tagged(Tag.RESP_VERSION, Uint8Array.of(version)));
  }

  /** RESET: every subscription ended without a reply each, RESP2, no name. */
  reset(session: Session): void {
    for (const key of session.channels ?? []) this.#leaveChannel(session, Buffer.from(key, 'latin1'), key);
    session.channels = undefined;
    if (session.patterns !== undefined) {
      this.server.send(session.id, tagged(Tag.CLEAR_PATTERNS));
      for (const key of session.patterns) this.#leavePattern(session, key, false);
      session.patterns = undefined;
      void this.server.unsubscribe(session.id, PATTERN_FEED_TOPIC);
    }
    this.setVersion(session, 2);
    session.name = undefined;
  }

  /** Ends the connection once its reply (to QUIT) is written. */
  quit(session: Session): void {
    session.ended = true;
  }

  #request(id: number, request: Uint8Array): void {
    let session = this.#sessions.get(id);
    if (session === undefined) this.#sessions.set(id, (session = new Session(id)));
    if (session.ended) return;
    // The request is a view of the event ring: one that must wait is copied.
    if (session.busy) (session.backlog ??= []).push(Buffer.from(request));
    else this.#run(session, request);
  }

  #run(session: Session, request: Uint8Array): void {
    let outcome: Outcome;
    try {
      outcome = this.#execute(this, session, parseRequest(request));
    } catch (error) {
      // A bug of ours must not cost the connection its reply, nor the next request its place.
      outcome = new Reply(session.version).error(`internal error: ${(error as Error).message}`);
    }
    if (outcome instanceof Reply) {
      this.#reply(session, outcome);
      return;
    }
    session.busy = true;
    void outcome.then((reply) => {
      session.busy = false;
      this.#reply(session, reply);
      this.#runBacklog(session);
    });
  }

  #runBacklog(session: Session): void {
    while (!session.busy && !session.ended && session.backlog !== undefined) {
      const next = session.backlog.shift()!;
      if (session.backlog.length === 0) session.backlog = undefined;
      this.#run(session, next);
    }
  }

  /** One request's reply: released with the deliveries held back, if any; then the close, after QUIT. */
  #reply(session: Session, reply: Reply): void {
    if (this.#sessions.get(session.id) !== session) return;
    const bytes = reply.bytes();
    this.server.send(session.id, session.holding ? tagged(Tag.RELEASE, bytes) : bytes);
    session.holding = false;
    if (session.ended) this.server.close(session.id);
  }

  /** Deliveries wait for the reply of the request in hand: none may reach the client before its confirmation. */
  #hold(session: Session): void {
    if (session.holding) return;
    session.holding = true;
    this.server.send(session.id, tagged(Tag.HOLD));
  }

  #leaveChannel(session: Session, channel: Uint8Array, key: string): void {
    this.#uncountChannel(key);
    void this.server.unsubscribe(session.id, channelTopic(channel, key));
  }

  #uncountChannel(key: string): void {
    const left = this.#channelCounts.get(key)! - 1;
    if (left === 0) this.#channelCounts.delete(key);
    else this.#channelCounts.set(key, left);
  }

  /** Counts the pattern out; with `leaveFeed`, the connection leaves the feed once it has no pattern left. */
  #leavePattern(session: Session, key: string, leaveFeed = true): void {
    const counted = this.#patternCounts.get(key)!;
    if (--counted.count === 0) this.#patternCounts.delete(key);
    if (leaveFeed && session.patterns?.size === 0) {
      session.patterns = undefined;
      void this.server.unsubscribe(session.id, PATTERN_FEED_TOPIC);
    }
  }

  /** The connection is gone; Flamingo has taken it out of its topics already. */
  #closed(id: number): void {
    const session = this.#sessions.get(id);
    if (session === undefined) return;
    this.#sessions.delete(id);
    session.ended = true;
    session.backlog = undefined;
    for (const key of session.channels ?? []) this.#uncountChannel(key);
    for (const key of session.patterns ?? []) this.#leavePattern(session, key, false);
  }
}
