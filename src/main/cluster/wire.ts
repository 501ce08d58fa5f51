// What crosses Redis between nodes: binary messages, built here and parsed
// here. Two kinds travel, each on its own sharded channel:
//
//   a node batch, on the destination node's channel: every command one node
//   had for another in one event-loop turn, in the order they were given;
//   a topic batch, on the topic's channel: every payload published to the
//   topic by one node in one turn, in order.
//
// Layout, little-endian, no padding:
//
//   header   'F' 'L' 'M' version(1)  kind(u8)  from-node(u8)  0(u16)     8 bytes
//   node batch entries, until the end:
//     SEND       op(u8=1) id(f64) length(u32) bytes
//     SEND_MANY  op(u8=2) count(u32) ids(f64 x count) length(u32) bytes
//     CLOSE      op(u8=3) id(f64)
//     SUB        op(u8=4) id(f64) topic-length(u16) topic(UTF-8)
//     UNSUB      op(u8=5) id(f64) topic-length(u16) topic(UTF-8)
//   topic batch entries, until the end:
//     length(u32) bytes
//
// Anyone who can publish on Redis can write on these channels, so the
// parser treats every message as untrusted input: every length is checked
// against what is left, and a message that breaks its own framing is
// dropped from that point on and reported, never read past its end.

export const WIRE_VERSION = 1;
export const HEADER_BYTES = 8;

export const MessageKind = { NODE_BATCH: 1, TOPIC_BATCH: 2 } as const;

export const Op = { SEND: 1, SEND_MANY: 2, CLOSE: 3, SUB: 4, UNSUB: 5 } as const;

/** The longest topic name, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 256;

/** A batch is published once it passes this many bytes, even within a turn, so no one message grows without bound. */
export const BATCH_FLUSH_BYTES = 1024 * 1024;

/** Appends entries to one growing message; take() hands it out and starts the next. */
class MessageBuilder {
  #buffer: Buffer;
  #length = HEADER_BYTES;
  /** Entries in the message being built. */
  entries = 0;

  constructor(kind: number, fromNode: number) {
    this.#buffer = Buffer.allocUnsafe(4096);
    this.#header(kind, fromNode);
  }

  get bytes(): number {
    return this.#length;
  }

  get empty(): boolean {
    return this.entries === 0;
  }

  /** The finished message (a copy sized to fit); the builder starts over with the same header. */
  take(): Buffer {
    const message = Buffer.from(this.#buffer.subarray(0, this.#length));
    this.#length = HEADER_BYTES;
    this.entries = 0;
    return message;
  }

  protected reserve(bytes: number): number {
    const at = this.#length;
    const needed = at + bytes;
    if (needed > this.#buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.#buffer.length * 2));
      this.#buffer.copy(grown, 0, 0, at);
      this.#buffer = grown;
    }
    this.#length = needed;
    return at;
  }

  protected get buffer(): Buffer {
    return this.#buffer;
  }

  #header(kind: number, fromNode: number): void {
    const b = this.#buffer;
    b[0] = 0x46;
    b[1] = 0x4c;
    b[2] = 0x4d;
    b[3] = WIRE_VERSION;
    b[4] = kind;
    b[5] = fromNode;
    b.writeUInt16LE(0, 6);
  }
}

/** One node's commands for another node, gathered over a turn. */
export class NodeBatch extends MessageBuilder {
  constructor(fromNode: number) {
    super(MessageKind.NODE_BATCH, fromNode);
  }

  send(id: number, data: Uint8Array): void {
    const at = this.reserve(13 + data.length);
    const b = this.buffer;
    b[at] = Op.SEND;
    b.writeDoubleLE(id, at + 1);
    b.writeUInt32LE(data.length, at + 9);
    b.set(data, at + 13);
    this.entries++;
  }

  sendMany(ids: ArrayLike<number>, count: number, data: Uint8Array): void {
    const at = this.reserve(9 + count * 8 + data.length);
    const b = this.buffer;
    b[at] = Op.SEND_MANY;
    b.writeUInt32LE(count, at + 1);
    let offset = at + 5;
    for (let i = 0; i < count; i++, offset += 8) b.writeDoubleLE(ids[i]!, offset);
    b.writeUInt32LE(data.length, offset);
    b.set(data, offset + 4);
    this.entries++;
  }

  close(id: number): void {
    const at = this.reserve(9);
    this.buffer[at] = Op.CLOSE;
    this.buffer.writeDoubleLE(id, at + 1);
    this.entries++;
  }

  /** SUB or UNSUB; `topic` is the topic's UTF-8 bytes (at most MAX_TOPIC_BYTES). */
  topic(op: typeof Op.SUB | typeof Op.UNSUB, id: number, topic: Uint8Array): void {
    const at = this.reserve(11 + topic.length);
    const b = this.buffer;
    b[at] = op;
    b.writeDoubleLE(id, at + 1);
    b.writeUInt16LE(topic.length, at + 9);
    b.set(topic, at + 11);
    this.entries++;
  }
}

/** The payloads one node published to one topic over a turn. */
export class TopicBatch extends MessageBuilder {
  constructor(fromNode: number) {
    super(MessageKind.TOPIC_BATCH, fromNode);
  }

  add(data: Uint8Array): void {
    const at = this.reserve(4 + data.length);
    this.buffer.writeUInt32LE(data.length, at);
    this.buffer.set(data, at + 4);
    this.entries++;
  }
}

/** What a parsed node batch asks of this node. Views point into the message: copy what must outlive the call. */
export interface NodeBatchVisitor {
  send(id: number, data: Buffer): void;
  /** `ids` is a copy (the message's f64s need not be aligned). */
  sendMany(ids: Float64Array, data: Buffer): void;
  close(id: number): void;
  subscribe(id: number, topic: string): void;
  unsubscribe(id: number, topic: string): void;
}

/** The header of a message, or a reason it is not one of ours. */
export type Header = { kind: number; from: number } | { invalid: string };

export function readHeader(message: Buffer): Header {
  if (message.length < HEADER_BYTES) return { invalid: 'shorter than a header' };
  if (message[0] !== 0x46 || message[1] !== 0x4c || message[2] !== 0x4d) return { invalid: 'bad magic' };
  if (message[3] !== WIRE_VERSION) return { invalid: `wire version ${message[3]}` };
  const kind = message[4]!;
  if (kind !== MessageKind.NODE_BATCH && kind !== MessageKind.TOPIC_BATCH) return { invalid: `message kind ${kind}` };
  return { kind, from: message[5]! };
}

/**
 * Walks a node batch's entries in order, calling `visit` for each. Returns
 * the number of entries read whole; if the message breaks its framing, the
 * rest of it is dropped and `broken` is set on the result.
 */
export function readNodeBatch(message: Buffer, visit: NodeBatchVisitor): { entries: number; broken: boolean } {
  let at = HEADER_BYTES;
  let entries = 0;
  const end = message.length;
  while (at < end) {
    const op = message[at]!;
    if (op === Op.SEND) {
      if (at + 13 > end) break;
      const id = message.readDoubleLE(at + 1);
      const length = message.readUInt32LE(at + 9);
      if (at + 13 + length > end) break;
      visit.send(id, message.subarray(at + 13, at + 13 + length));
      at += 13 + length;
    } else if (op === Op.SEND_MANY) {
      if (at + 5 > end) break;
      const count = message.readUInt32LE(at + 1);
      const idsEnd = at + 5 + count * 8;
      if (idsEnd + 4 > end) break;
      const length = message.readUInt32LE(idsEnd);
      if (idsEnd + 4 + length > end) break;
      const ids = new Float64Array(count);
      for (let i = 0; i < count; i++) ids[i] = message.readDoubleLE(at + 5 + i * 8);
      visit.sendMany(ids, message.subarray(idsEnd + 4, idsEnd + 4 + length));
      at = idsEnd + 4 + length;
    } else if (op === Op.CLOSE) {
      if (at + 9 > end) break;
      visit.close(message.readDoubleLE(at + 1));
      at += 9;
    } else if (op === Op.SUB || op === Op.UNSUB) {
      if (at + 11 > end) break;
      const id = message.readDoubleLE(at + 1);
      const length = message.readUInt16LE(at + 9);
      if (length === 0 || length > MAX_TOPIC_BYTES || at + 11 + length > end) break;
      const topic = message.toString('utf8', at + 11, at + 11 + length);
      if (op === Op.SUB) visit.subscribe(id, topic);
      else visit.unsubscribe(id, topic);
      at += 11 + length;
    } else {
      break;
    }
    entries++;
  }
  return { entries, broken: at !== end };
}

/** Walks a topic batch's payloads in order. */
export function readTopicBatch(message: Buffer, visit: (data: Buffer) => void): { entries: number; broken: boolean } {
  let at = HEADER_BYTES;
  let entries = 0;
  const end = message.length;
  while (at + 4 <= end) {
    const length = message.readUInt32LE(at);
    if (at + 4 + length > end) break;
    visit(message.subarray(at + 4, at + 4 + length));
    at += 4 + length;
    entries++;
  }
  return { entries, broken: at !== end };
}
