// The pub/sub server's protocol module, loaded by every I/O worker by URL
// and written only against Flamingo's public protocol interface. Requests
// are framed by the RESP framer the key-value example uses too
// (../protocols/resp.ts), and every one goes to the application. What comes
// back (wire.ts says how it is tagged) is turned into bytes here, per
// connection:
//
// - replies are written as they are, each in its place among the requests;
// - a `message` frame, built once per publish by the publishing node, goes
//   to every subscriber as it is, or as a RESP3 push (`>3`) to a connection
//   that said HELLO 3;
// - the pattern feed, which carries every publish to the connections that
//   have patterns, is matched here against each connection's own patterns:
//   a `pmessage` for each that matches, nothing otherwise;
// - while the application is making a subscription (HOLD to RELEASE),
//   deliveries wait, so none reaches a client before the subscription's
//   confirmation.
//
// sendMany and publish hand every connection of a worker the same payload
// object, so what is derived from a payload (its RESP3 form, its pmessage
// for each pattern) is computed once per worker, not once per subscriber.

import type { Protocol, ProtocolFactory, ProtocolHost } from '../../src/main/index.ts';
import { RespFramer, type RespOptions } from '../protocols/resp-framer.ts';
import { globMatch } from './glob.ts';
import { MESSAGE_HEAD, Tag, channelOf } from './wire.ts';

const NOTHING: readonly Uint8Array[] = Object.freeze([]);
const PUSH_BYTE = Buffer.from('>');
const PMESSAGE_HEAD = [Buffer.from('*4\r\n$8\r\npmessage\r\n'), Buffer.from('>4\r\n$8\r\npmessage\r\n')] as const;

/** One of a connection's patterns. */
interface Pattern {
  readonly bytes: Buffer;
  /** The bytes as a latin1 string: a Map key. */
  readonly key: string;
  /** `$<length>\r\n<pattern>\r\n`, ready to go into a pmessage. */
  readonly bulk: Buffer;
}

/** What has been derived from the payload being fanned out. */
class Fanout {
  payload: Uint8Array | undefined = undefined;
  /** Its message frame, in RESP2 and in RESP3, once asked for. */
  frame: Uint8Array | undefined = undefined;
  push: Buffer | undefined = undefined;
  /** For the feed: the channel, and the message frame without its head. */
  channel: Uint8Array | undefined = undefined;
  tail: Uint8Array | undefined = undefined;
  /** For the feed, per RESP version: each pattern's pmessage, or null when the pattern does not match. */
  readonly pmessages = [new Map<string, Buffer | null>(), new Map<string, Buffer | null>()] as const;

  /** True when `payload` is a new one: everything derived is forgotten. */
  renew(payload: Uint8Array): boolean {
    if (payload === this.payload) return false;
    this.payload = payload;
    this.frame = undefined;
    this.push = undefined;
    this.channel = undefined;
    this.tail = undefined;
    this.pmessages[0].clear();
    this.pmessages[1].clear();
    return true;
  }
}

class PubSubProtocol implements Protocol {
  readonly #framer: RespFramer;
  /** Per slot: 1 for a connection that speaks RESP3. */
  readonly #resp3: Uint8Array;
  /** Per slot, only for connections that have some: their patterns, in subscription order. */
  readonly #patterns = new Map<number, Pattern[]>();
  /** Per slot, only while a subscription is being made: deliveries held back. */
  readonly #held = new Map<number, Uint8Array[]>();
  readonly #fanout = new Fanout();

  constructor(host: ProtocolHost, options: RespOptions) {
    this.#framer = new RespFramer(host, options, (slot, request) => this.#framer.deliver(slot, request));
    this.#resp3 = new Uint8Array(host.slotCount);
  }

  read(slot: number, bytes: Uint8Array): void {
    this.#framer.read(slot, bytes);
  }

  encode(slot: number, payload: Uint8Array): Uint8Array | readonly Uint8Array[] {
    switch (payload[0]) {
      case Tag.MESSAGE:
        return this.#deliver(slot, this.#message(slot, payload));
      case Tag.FEED:
        return this.#deliver(slot, this.#pmessages(slot, payload));
      case Tag.HOLD:
        if (!this.#held.has(slot)) this.#held.set(slot, []);
        return NOTHING;
      case Tag.RELEASE: {
        const held = this.#held.get(slot) ?? NOTHING;
        this.#held.delete(slot);
        return this.#framer.replied(slot, [payload.subarray(1), ...held]);
      }
      case Tag.RESP_VERSION:
        this.#resp3[slot] = payload[1] === 3 ? 1 : 0;
        return NOTHING;
      case Tag.ADD_PATTERN:
        this.#addPattern(slot, Buffer.from(payload.subarray(1)));
        return NOTHING;
      case Tag.REMOVE_PATTERN:
        this.#removePattern(slot, Buffer.from(payload.subarray(1)).toString('latin1'));
        return NOTHING;
      case Tag.CLEAR_PATTERNS:
        this.#patterns.delete(slot);
        return NOTHING;
      default:
        return this.#framer.replied(slot, [payload]);
    }
  }

  pendingBytes(slot: number): number {
    return this.#framer.pendingBytes(slot);
  }

  disconnect(slot: number): void {
    this.#framer.disconnect(slot);
    this.#resp3[slot] = 0;
    this.#patterns.delete(slot);
    this.#held.delete(slot);
  }

  #deliver(slot: number, frames: Uint8Array | readonly Uint8Array[]): Uint8Array | readonly Uint8Array[] {
    if (this.#held.size === 0) return frames;
    const held = this.#held.get(slot);
    if (held === undefined) return frames;
    if (frames instanceof Uint8Array) held.push(frames);
    else held.push(...frames);
    return NOTHING;
  }

  /** The `message` frame for this connection: the payload after its tag, or its RESP3 push form. */
  #message(slot: number, payload: Uint8Array): Uint8Array {
    const fanout = this.#fanout;
    fanout.renew(payload);
    if (this.#resp3[slot] === 0) {
      fanout.frame ??= payload.subarray(1);
      return fanout.frame;
    }
    fanout.push ??= Buffer.concat([PUSH_BYTE, payload.subarray(2)]);
    return fanout.push;
  }

  /** A `pmessage` for each of the connection's patterns that the feed payload's channel matches. */
  #pmessages(slot: number, payload: Uint8Array): readonly Uint8Array[] {
    const patterns = this.#patterns.get(slot);
    if (patterns === undefined) return NOTHING;
    const fanout = this.#fanout;
    if (fanout.renew(payload)) {
      // [FEED, MESSAGE, frame]: the frame may come from another node, so it is checked.
      const frame = payload.subarray(2);
      fanout.channel = payload[1] === Tag.MESSAGE ? channelOf(frame) : undefined;
      fanout.tail = frame.subarray(MESSAGE_HEAD.length);
    }
    const channel = fanout.channel;
    if (channel === undefined) return NOTHING;
    const version = this.#resp3[slot]!;
    const known = fanout.pmessages[version]!;
    const frames: Uint8Array[] = [];
    for (const pattern of patterns) {
      let frame = known.get(pattern.key);
      if (frame === undefined) {
        frame = globMatch(pattern.bytes, channel) ? Buffer.concat([PMESSAGE_HEAD[version]!, pattern.bulk, fanout.tail!]) : null;
        known.set(pattern.key, frame);
      }
      if (frame !== null) frames.push(frame);
    }
    return frames;
  }

  #addPattern(slot: number, bytes: Buffer): void {
    const key = bytes.toString('latin1');
    let patterns = this.#patterns.get(slot);
    if (patterns === undefined) this.#patterns.set(slot, (patterns = []));
    if (patterns.some((p) => p.key === key)) return;
    const bulk = Buffer.concat([Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n')]);
    patterns.push({ bytes, key, bulk });
  }

  #removePattern(slot: number, key: string): void {
    const patterns = this.#patterns.get(slot);
    if (patterns === undefined) return;
    const at = patterns.findIndex((p) => p.key === key);
    if (at >= 0) patterns.splice(at, 1);
    if (patterns.length === 0) this.#patterns.delete(slot);
  }
}

const createPubSubProtocol: ProtocolFactory<RespOptions | undefined> = (host, options) => new PubSubProtocol(host, options ?? {});
export default createPubSubProtocol;
