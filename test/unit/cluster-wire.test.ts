// The messages nodes exchange through Redis: what one node builds, another
// reads back entry for entry; and whatever bytes a stranger publishes, the
// reader neither throws nor reads past the message, nor hands out a view
// outside it.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HEADER_BYTES,
  MAX_TOPIC_BYTES,
  MessageKind,
  NodeBatch,
  Op,
  TopicBatch,
  readHeader,
  readNodeBatch,
  readTopicBatch,
} from '../../src/main/cluster/wire.ts';

type Entry =
  | { op: 'send'; id: number; data: Buffer }
  | { op: 'sendMany'; ids: number[]; data: Buffer }
  | { op: 'close'; id: number }
  | { op: 'sub' | 'unsub'; id: number; topic: string };

function recorder(): { entries: Entry[]; visitor: Parameters<typeof readNodeBatch>[1] } {
  const entries: Entry[] = [];
  return {
    entries,
    visitor: {
      send: (id, data) => entries.push({ op: 'send', id, data: Buffer.from(data) }),
      sendMany: (ids, data) => entries.push({ op: 'sendMany', ids: [...ids], data: Buffer.from(data) }),
      close: (id) => entries.push({ op: 'close', id }),
      subscribe: (id, topic) => entries.push({ op: 'sub', id, topic }),
      unsubscribe: (id, topic) => entries.push({ op: 'unsub', id, topic }),
    },
  };
}

const id = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
const topic = fc.string({ minLength: 1, maxLength: 40 }).filter((t) => Buffer.byteLength(t) <= MAX_TOPIC_BYTES);
const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({ op: fc.constant('send' as const), id, data: bytes }),
  fc.record({ op: fc.constant('sendMany' as const), ids: fc.array(id, { minLength: 1, maxLength: 20 }), data: bytes }),
  fc.record({ op: fc.constant('close' as const), id }),
  fc.record({ op: fc.constantFrom('sub' as const, 'unsub' as const), id, topic }),
);

function build(entries: readonly Entry[], from = 3): Buffer {
  const batch = new NodeBatch(from);
  for (const e of entries) {
    if (e.op === 'send') batch.send(e.id, e.data);
    else if (e.op === 'sendMany') batch.sendMany(e.ids, e.ids.length, e.data);
    else if (e.op === 'close') batch.close(e.id);
    else batch.topic(e.op === 'sub' ? Op.SUB : Op.UNSUB, e.id, Buffer.from(e.topic, 'utf8'));
  }
  return batch.take();
}

describe('node batches', () => {
  it('read back exactly the entries written, in order, with the sender in the header', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 30 }), fc.integer({ min: 0, max: 255 }), (entries, from) => {
        const message = build(entries, from);
        expect(readHeader(message)).toEqual({ kind: MessageKind.NODE_BATCH, from });
        const { entries: read, visitor } = recorder();
        expect(readNodeBatch(message, visitor)).toEqual({ entries: entries.length, broken: false });
        expect(read).toEqual(entries);
      }),
    );
  });

  it('start over empty after take(), keeping the header', () => {
    const batch = new NodeBatch(9);
    batch.close(42);
    expect(batch.take().length).toBe(HEADER_BYTES + 9);
    expect(batch.empty).toBe(true);
    batch.send(7, Buffer.from('x'));
    const { entries, visitor } = recorder();
    readNodeBatch(batch.take(), visitor);
    expect(entries).toEqual([{ op: 'send', id: 7, data: Buffer.from('x') }]);
  });

  it('cut anywhere: only the whole entries before the cut are read, and a cut inside an entry is reported broken', () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 10 }), fc.nat(), (entries, at) => {
        const whole = build(entries);
        // Where each entry ends: a cut there is a shorter message, not a broken one.
        const ends = entries.map((_, k) => build(entries.slice(0, k + 1)).length);
        // At least one byte of the entries kept, at least one cut off.
        const cut = HEADER_BYTES + 1 + (at % (whole.length - HEADER_BYTES - 1));
        const { entries: read, visitor } = recorder();
        const result = readNodeBatch(whole.subarray(0, cut), visitor);
        expect(read).toEqual(entries.slice(0, ends.filter((end) => end <= cut).length));
        expect(result.entries).toBe(read.length);
        expect(result.broken).toBe(!ends.includes(cut));
      }),
    );
  });
});

describe('topic batches', () => {
  it('read back every payload in order', () => {
    fc.assert(
      fc.property(fc.array(bytes, { maxLength: 30 }), (payloads) => {
        const batch = new TopicBatch(1);
        for (const p of payloads) batch.add(p);
        const read: Buffer[] = [];
        expect(readTopicBatch(batch.take(), (data) => read.push(Buffer.from(data)))).toEqual({ entries: payloads.length, broken: false });
        expect(read).toEqual(payloads);
      }),
    );
  });
});

describe('untrusted bytes', () => {
  it('random bytes never throw, and every view handed out lies inside the message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.boolean(), (raw, asOurs) => {
        const message = Buffer.from(raw);
        // Half the time, give it a valid header, so the entry parser sees the garbage.
        if (asOurs && message.length >= HEADER_BYTES) message.set([0x46, 0x4c, 0x4d, 1, MessageKind.NODE_BATCH, 0, 0, 0]);
        const inside = (view: Buffer): void => {
          expect(view.buffer).toBe(message.buffer);
          expect(view.byteOffset).toBeGreaterThanOrEqual(message.byteOffset + HEADER_BYTES);
          expect(view.byteOffset + view.length).toBeLessThanOrEqual(message.byteOffset + message.length);
        };
        readHeader(message);
        readNodeBatch(message, {
          send: (_id, data) => inside(data),
          sendMany: (_ids, data) => inside(data),
          close: () => {},
          subscribe: (_id, t) => expect(Buffer.byteLength(t)).toBeLessThanOrEqual(MAX_TOPIC_BYTES * 3),
          unsubscribe: () => {},
        });
        readTopicBatch(message, inside);
      }),
      { numRuns: 2000 },
    );
  });

  it('a header that is not ours says why', () => {
    expect(readHeader(Buffer.from('FLM'))).toEqual({ invalid: 'shorter than a header' });
    expect(readHeader(Buffer.from('GET foo bar'))).toEqual({ invalid: 'bad magic' });
    expect(readHeader(Buffer.from([0x46, 0x4c, 0x4d, 2, 1, 0, 0, 0]))).toEqual({ invalid: 'wire version 2' });
    expect(readHeader(Buffer.from([0x46, 0x4c, 0x4d, 1, 7, 0, 0, 0]))).toEqual({ invalid: 'message kind 7' });
  });

  it('a SEND_MANY that claims more ids than the message holds is cut, not allocated', () => {
    const message = Buffer.alloc(HEADER_BYTES + 5);
    message.set([0x46, 0x4c, 0x4d, 1, MessageKind.NODE_BATCH, 0, 0, 0]);
    message[HEADER_BYTES] = Op.SEND_MANY;
    message.writeUInt32LE(0xffffffff, HEADER_BYTES + 1);
    const { entries, visitor } = recorder();
    expect(readNodeBatch(message, visitor)).toEqual({ entries: 0, broken: true });
    expect(entries).toEqual([]);
  });
});
