// Property tests for the framers (src/shared/framing.ts). The central
// property: any split of a connection's byte stream into reads yields the
// same frames as cutting the whole stream at once. Around it: per-slot state
// for interleaved connections, partialBytes as the exact count of buffered
// bytes, reset, and the maxFrameBytes limit (delimiter counted) whether an
// oversize frame arrives whole or grows over many reads.
//
// Frames handed to the sink may be views into buffers the framer reuses, so
// the sink copies them at once, as the I/O worker's sink does. The tests
// also reuse one read buffer for every push and scribble over it after each
// push, like a socket reading into a recycled buffer, so a framer that kept
// a view of a read instead of copying its partial frame would be caught.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Collector, Feeder, concat, hex, splitAt, splits } from '../helpers/framer-harness.ts';
import { type FramingSpec, PushResult, createFramer } from '../../src/shared/framing/index.ts';

const RUNS = 300;
const enc = new TextEncoder();
const bytes = (text: string): Uint8Array => enc.encode(text);

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.length).indexOf(Buffer.from(needle), from);
}

/** True when no proper prefix of `d` is also a suffix of it. */
function borderless(d: Uint8Array): boolean {
  for (let k = 1; k < d.length; k++) {
    if (hex(d.subarray(0, k)) === hex(d.subarray(d.length - k))) return false;
  }
  return true;
}

/** A byte that does not occur in `delimiter`. */
function fillerFor(delimiter: Uint8Array): number {
  for (let b = 0x61; ; b = (b + 1) & 0xff) if (!delimiter.includes(b)) return b;
}

/** `message` with every occurrence of `delimiter` broken up. */
function withoutDelimiter(message: Uint8Array, delimiter: Uint8Array): Uint8Array {
  const out = Uint8Array.from(message);
  const filler = fillerFor(delimiter);
  for (let at = indexOf(out, delimiter); at >= 0; at = indexOf(out, delimiter)) out[at] = filler;
  return out;
}

/** Reads of `stream` cut at `cuts` (any numbers, reduced into range; no empty reads). */

/**
 * The reference cut of a whole stream: frames end at the leftmost delimiter
 * after the previous frame. Returns each frame's [start, end) and the start
 * of the trailing incomplete frame.
 */
function referenceCut(stream: Uint8Array, delimiter: Uint8Array): { frames: Array<[number, number]>; tail: number } {
  const frames: Array<[number, number]> = [];
  let start = 0;
  for (let at = indexOf(stream, delimiter, start); at >= 0; at = indexOf(stream, delimiter, start)) {
    frames.push([start, at + delimiter.length]);
    start = at + delimiter.length;
  }
  return { frames, tail: start };
}

function delimiterSpec(delimiter: Uint8Array, keepDelimiter: boolean): FramingSpec {
  return { kind: 'delimiter', delimiter, keepDelimiter };
}

const NAMED_DELIMITERS: Array<[string, string]> = [
  ['\\n', '\n'],
  ['\\r\\n', '\r\n'],
  ['END!', 'END!'],
];

const randomBorderlessDelimiter = fc.uint8Array({ minLength: 1, maxLength: 16 }).filter(borderless);

/** Bytes drawn mostly from the delimiter's own, so near-misses are common. */
function messageBytes(delimiter: Uint8Array, maxLength = 40): fc.Arbitrary<Uint8Array> {
  const byte = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...delimiter) },
    { weight: 1, arbitrary: fc.constantFrom(0x00, 0x0d, 0x0a, 0x78, 0xff) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  );
  return fc.array(byte, { maxLength }).map((a) => Uint8Array.from(a));
}

/** Messages free of the delimiter, an incomplete tail, and a split. */
function delimitedCase(delimiter: Uint8Array) {
  return fc.record({
    messages: fc.array(
      messageBytes(delimiter).map((m) => withoutDelimiter(m, delimiter)),
      { maxLength: 12 },
    ),
    tail: messageBytes(delimiter, 20).map((m) => withoutDelimiter(m, delimiter)),
    split: splits,
    keepDelimiter: fc.boolean(),
  });
}

/**
 * Feeds `messages` (each followed by the delimiter) and then `tail`, split
 * into reads, and checks: the frames are exactly the messages; after every
 * read partialBytes is the number of bytes since the last complete frame.
 */
function checkDelimited(
  delimiter: Uint8Array,
  c: { messages: Uint8Array[]; tail: Uint8Array; split: { cuts: number[]; byteByByte: boolean }; keepDelimiter: boolean },
): void {
  const stream = concat([...c.messages.flatMap((m) => [m, delimiter]), c.tail]);
  // The tail must not complete a frame with the delimiter's last bytes.
  const { frames: cut, tail: tailStart } = referenceCut(stream, delimiter);
  expect(cut.length).toBe(c.messages.length);
  const longest = Math.max(c.tail.length + 1, ...c.messages.map((m) => m.length + delimiter.length));
  const collector = new Collector();
  const framer = createFramer(delimiterSpec(delimiter, c.keepDelimiter), longest, collector.sink);
  const feeder = new Feeder();
  const slot = 5;
  let position = 0;
  for (const read of splitAt(stream, c.split.cuts, c.split.byteByByte)) {
    expect(feeder.push(framer, slot, read)).toBe(PushResult.OK);
    position += read.length;
    const lastEnd = cut.filter(([, end]) => end <= position).at(-1)?.[1] ?? 0;
    expect(framer.partialBytes(slot)).toBe(position - lastEnd);
  }
  const expected = c.messages.map((m) => hex(c.keepDelimiter ? concat([m, delimiter]) : m));
  expect(collector.hexOf(slot)).toEqual(expected);
  expect(framer.partialBytes(slot)).toBe(stream.length - tailStart);
  expect(framer.partialBytes(slot)).toBe(c.tail.length);
}

describe('raw framing', () => {
  it('any split of any stream: the frames concatenate to the stream, each read is cut into frames of at most maxFrameBytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), splits, fc.integer({ min: 1, max: 80 }), (stream, split, maxFrameBytes) => {
        const collector = new Collector();
        const framer = createFramer({ kind: 'raw' }, maxFrameBytes, collector.sink);
        const feeder = new Feeder();
        for (const read of splitAt(stream, split.cuts, split.byteByByte)) {
          const before = collector.of(1).length;
          expect(feeder.push(framer, 1, read)).toBe(PushResult.OK);
          const fromThisRead = collector.of(1).slice(before);
          // A read is never held back nor merged with another one.
          expect(fromThisRead.length).toBe(Math.ceil(read.length / maxFrameBytes));
          expect(hex(concat(fromThisRead))).toBe(hex(read));
          expect(framer.partialBytes(1)).toBe(0);
        }
        const frames = collector.of(1);
        expect(hex(concat(frames))).toBe(hex(stream));
        for (const frame of frames) {
          expect(frame.length).toBeGreaterThan(0);
          expect(frame.length).toBeLessThanOrEqual(maxFrameBytes);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a read of exactly maxFrameBytes is one frame; one byte more is two', () => {
    const collector = new Collector();
    const framer = createFramer({ kind: 'raw' }, 8, collector.sink);
    expect(framer.push(0, bytes('12345678'))).toBe(PushResult.OK);
    expect(framer.push(0, bytes('123456789'))).toBe(PushResult.OK);
    expect(collector.of(0).map((f) => Buffer.from(f).toString())).toEqual(['12345678', '12345678', '9']);
    framer.reset(0);
    expect(framer.partialBytes(0)).toBe(0);
  });

  it('interleaved slots keep their own byte order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ slot: fc.constantFrom(0, 1, 2 ** 21 - 1), read: fc.uint8Array({ minLength: 1, maxLength: 30 }) }), { maxLength: 40 }),
        (reads) => {
          const collector = new Collector();
          const framer = createFramer({ kind: 'raw' }, 7, collector.sink);
          for (const { slot, read } of reads) framer.push(slot, read);
          for (const slot of [0, 1, 2 ** 21 - 1]) {
            const sent = concat(reads.filter((r) => r.slot === slot).map((r) => r.read));
            expect(hex(concat(collector.of(slot)))).toBe(hex(sent));
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('delimiter framing', () => {
  describe.each(NAMED_DELIMITERS)('delimiter %s', (_name, text) => {
    const delimiter = bytes(text);

    it('any split of the stream yields exactly the messages (keepDelimiter true and false), and partialBytes counts the bytes since the last frame', () => {
      fc.assert(
        fc.property(delimitedCase(delimiter), (c) => checkDelimited(delimiter, c)),
        { numRuns: RUNS },
      );
    });
  });

  it('any split yields exactly the messages for any borderless delimiter of 1 to 16 bytes', () => {
    fc.assert(
      fc.property(
        randomBorderlessDelimiter.chain((delimiter) => fc.tuple(fc.constant(delimiter), delimitedCase(delimiter))),
        ([delimiter, c]) => checkDelimited(delimiter, c),
      ),
      { numRuns: RUNS },
    );
  });

  it('any split of any stream, for any delimiter (self-overlapping ones too), cuts where a cut of the whole stream at the leftmost delimiter does', () => {
    const anyDelimiter = fc.oneof(
      fc.constantFrom(...['\n', '\r\n', 'END!', '\r\n\r\n', 'aa', 'aba', 'abab', '\n\n'].map(bytes)),
      fc.uint8Array({ minLength: 1, maxLength: 16 }),
      fc.array(fc.constantFrom(0x61, 0x62), { minLength: 1, maxLength: 5 }).map((a) => Uint8Array.from(a)),
    );
    fc.assert(
      fc.property(
        anyDelimiter.chain((delimiter) => fc.tuple(fc.constant(delimiter), messageBytes(delimiter, 200), splits, fc.boolean())),
        ([delimiter, stream, split, keepDelimiter]) => {
          const { frames, tail } = referenceCut(stream, delimiter);
          const collector = new Collector();
          const framer = createFramer(delimiterSpec(delimiter, keepDelimiter), stream.length + 1, collector.sink);
          const feeder = new Feeder();
          for (const read of splitAt(stream, split.cuts, split.byteByByte)) {
            expect(feeder.push(framer, 0, read)).toBe(PushResult.OK);
          }
          const d = keepDelimiter ? 0 : delimiter.length;
          expect(collector.hexOf(0)).toEqual(frames.map(([start, end]) => hex(stream.subarray(start, end - d))));
          expect(framer.partialBytes(0)).toBe(stream.length - tail);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('interleaved connections keep separate partial frames', () => {
    const delimiter = bytes('\r\n');
    const slots = [0, 1, 9, 2 ** 21 - 1];
    const perSlot = fc.tuple(
      ...slots.map(() =>
        fc.record({
          messages: fc.array(
            messageBytes(delimiter, 15).map((m) => withoutDelimiter(m, delimiter)),
            { maxLength: 6 },
          ),
          tail: messageBytes(delimiter, 10).map((m) => withoutDelimiter(m, delimiter)),
          split: splits,
        }),
      ),
    );
    fc.assert(
      fc.property(perSlot, fc.array(fc.nat(slots.length - 1), { maxLength: 200 }), fc.boolean(), (cases, schedule, keepDelimiter) => {
        const collector = new Collector();
        const framer = createFramer(delimiterSpec(delimiter, keepDelimiter), 64, collector.sink);
        const feeder = new Feeder();
        const queues = cases.map((c) => splitAt(concat([...c.messages.flatMap((m) => [m, delimiter]), c.tail]), c.split.cuts, c.split.byteByByte));
        // Reads from the slots in the scheduled order, then whatever is left.
        const order = [...schedule, ...queues.flatMap((q, i) => q.map(() => i))];
        for (const i of order) {
          const read = queues[i]!.shift();
          if (read !== undefined) expect(feeder.push(framer, slots[i]!, read)).toBe(PushResult.OK);
        }
        cases.forEach((c, i) => {
          const expected = c.messages.map((m) => hex(keepDelimiter ? concat([m, delimiter]) : m));
          expect(collector.hexOf(slots[i]!)).toEqual(expected);
          expect(framer.partialBytes(slots[i]!)).toBe(c.tail.length);
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('reset(slot) drops that slot’s partial frame and no other', () => {
    const collector = new Collector();
    const framer = createFramer(delimiterSpec(bytes('\r\n'), true), 64, collector.sink);
    expect(framer.push(1, bytes('stale\r'))).toBe(PushResult.OK);
    expect(framer.push(2, bytes('kept'))).toBe(PushResult.OK);
    expect(framer.partialBytes(1)).toBe(6);
    framer.reset(1);
    expect(framer.partialBytes(1)).toBe(0);
    expect(framer.partialBytes(2)).toBe(4);
    // The new connection in slot 1 starts clean: its leading '\n' does not
    // complete the old connection's '\r'.
    expect(framer.push(1, bytes('\nfresh\r\n'))).toBe(PushResult.OK);
    expect(framer.push(2, bytes('\r\n'))).toBe(PushResult.OK);
    expect(collector.of(1).map((f) => Buffer.from(f).toString())).toEqual(['\nfresh\r\n']);
    expect(collector.of(2).map((f) => Buffer.from(f).toString())).toEqual(['kept\r\n']);
    // Resetting a slot with no partial frame is harmless.
    framer.reset(3);
    framer.reset(1);
    expect(framer.partialBytes(3)).toBe(0);
  });

  it('a slot reset after a partial frame frames a new stream exactly, for any split', () => {
    const delimiter = bytes('END!');
    fc.assert(
      fc.property(
        messageBytes(delimiter, 30).map((m) => withoutDelimiter(m, delimiter)),
        delimitedCase(delimiter),
        (leftover, c) => {
          const collector = new Collector();
          const framer = createFramer(delimiterSpec(delimiter, c.keepDelimiter), 1024, collector.sink);
          framer.push(4, leftover);
          framer.reset(4);
          expect(framer.partialBytes(4)).toBe(0);
          for (const read of splitAt(concat([...c.messages.flatMap((m) => [m, delimiter]), c.tail]), c.split.cuts, c.split.byteByByte)) {
            framer.push(4, read);
          }
          expect(collector.hexOf(4)).toEqual(c.messages.map((m) => hex(c.keepDelimiter ? concat([m, delimiter]) : m)));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('partialBytes is 0 once a frame completes and counts only the bytes of the incomplete frame', () => {
    const collector = new Collector();
    const framer = createFramer(delimiterSpec(bytes('\r\n'), false), 64, collector.sink);
    expect(framer.partialBytes(0)).toBe(0);
    framer.push(0, bytes('ab'));
    expect(framer.partialBytes(0)).toBe(2);
    framer.push(0, bytes('c\r'));
    expect(framer.partialBytes(0)).toBe(4);
    framer.push(0, bytes('\n'));
    expect(framer.partialBytes(0)).toBe(0);
    framer.push(0, bytes('x\r\nyz'));
    expect(framer.partialBytes(0)).toBe(2);
    framer.push(0, bytes('\r\n'));
    expect(framer.partialBytes(0)).toBe(0);
    expect(collector.of(0).map((f) => Buffer.from(f).toString())).toEqual(['abc', 'x', 'yz']);
  });

  it('a delimiter split across reads is found (\\r then \\n; E, N, D, ! one per read)', () => {
    const collector = new Collector();
    const crlf = createFramer(delimiterSpec(bytes('\r\n'), true), 64, collector.sink);
    crlf.push(0, bytes('hello\r'));
    expect(collector.of(0)).toEqual([]);
    crlf.push(0, bytes('\n'));
    expect(collector.of(0).map((f) => Buffer.from(f).toString())).toEqual(['hello\r\n']);

    const end = createFramer(delimiterSpec(bytes('END!'), false), 64, collector.sink);
    for (const read of ['payload', 'E', 'N', 'D', '!', 'next', 'EN', 'D!', 'E', 'ND!']) end.push(1, bytes(read));
    expect(collector.of(1).map((f) => Buffer.from(f).toString())).toEqual(['payload', 'next', '']);
    expect(end.partialBytes(1)).toBe(0);
  });

  it('empty reads change nothing', () => {
    const collector = new Collector();
    const framer = createFramer(delimiterSpec(bytes('\r\n'), true), 16, collector.sink);
    expect(framer.push(0, new Uint8Array(0))).toBe(PushResult.OK);
    expect(framer.partialBytes(0)).toBe(0);
    framer.push(0, bytes('ab\r'));
    expect(framer.push(0, new Uint8Array(0))).toBe(PushResult.OK);
    expect(framer.partialBytes(0)).toBe(3);
    framer.push(0, bytes('\n'));
    expect(collector.of(0).map((f) => Buffer.from(f).toString())).toEqual(['ab\r\n']);
  });
});

describe('maxFrameBytes with delimiter framing (the delimiter counts)', () => {
  describe.each([
    ['\\n', '\n'],
    ['\\r\\n', '\r\n'],
    ['END!', 'END!'],
  ])('delimiter %s', (_name, text) => {
    const delimiter = bytes(text);
    const d = delimiter.length;
    const max = 10;
    const body = (n: number): Uint8Array => bytes('x'.repeat(n));

    it.each([true, false])('a frame of exactly maxFrameBytes is accepted whole, split anywhere, or byte by byte (keepDelimiter %s)', (keep) => {
      const frame = concat([body(max - d), delimiter]);
      for (let cut = 0; cut <= frame.length; cut++) {
        for (const reads of [[frame.subarray(0, cut), frame.subarray(cut)], Array.from(frame, (b) => Uint8Array.of(b))]) {
          const collector = new Collector();
          const framer = createFramer(delimiterSpec(delimiter, keep), max, collector.sink);
          for (const read of reads) expect(framer.push(0, read)).toBe(PushResult.OK);
          expect(collector.hexOf(0)).toEqual([hex(keep ? frame : body(max - d))]);
          expect(framer.partialBytes(0)).toBe(0);
        }
      }
    });

    it('a frame one byte over, arriving whole, returns FRAME_TOO_LARGE', () => {
      const collector = new Collector();
      const framer = createFramer(delimiterSpec(delimiter, true), max, collector.sink);
      expect(framer.push(0, concat([body(max - d + 1), delimiter]))).toBe(PushResult.FRAME_TOO_LARGE);
      expect(collector.of(0)).toEqual([]);
    });

    it('a single read of maxFrameBytes bytes with no delimiter returns FRAME_TOO_LARGE at once; one byte fewer is buffered', () => {
      const collector = new Collector();
      const framer = createFramer(delimiterSpec(delimiter, true), max, collector.sink);
      expect(framer.push(0, body(max - 1))).toBe(PushResult.OK);
      expect(framer.partialBytes(0)).toBe(max - 1);
      expect(framer.push(1, body(max))).toBe(PushResult.FRAME_TOO_LARGE);
      // After a complete frame in the same read, too.
      expect(framer.push(2, concat([body(1), delimiter, body(max)]))).toBe(PushResult.FRAME_TOO_LARGE);
      expect(collector.hexOf(2)).toEqual([hex(concat([body(1), delimiter]))]);
    });

    it('a frame one byte over, arriving after a partial frame, returns FRAME_TOO_LARGE', () => {
      const collector = new Collector();
      const framer = createFramer(delimiterSpec(delimiter, true), max, collector.sink);
      expect(framer.push(0, body(1))).toBe(PushResult.OK);
      expect(framer.push(0, concat([body(max - d), delimiter]))).toBe(PushResult.FRAME_TOO_LARGE);
      expect(collector.of(0)).toEqual([]);
    });

    it('a frame that grows byte by byte returns FRAME_TOO_LARGE on the read that makes maxFrameBytes bytes with no delimiter', () => {
      const collector = new Collector();
      const framer = createFramer(delimiterSpec(delimiter, true), max, collector.sink);
      for (let i = 1; i < max; i++) {
        expect(framer.push(0, body(1))).toBe(PushResult.OK);
        expect(framer.partialBytes(0)).toBe(i);
      }
      expect(framer.push(0, body(1))).toBe(PushResult.FRAME_TOO_LARGE);
      expect(collector.of(0)).toEqual([]);
    });

    it('a frame that grows over many reads, even ending in part of the delimiter, returns FRAME_TOO_LARGE', () => {
      const collector = new Collector();
      const framer = createFramer(delimiterSpec(delimiter, true), max, collector.sink);
      // max - 1 bytes of body, then the delimiter one byte at a time: the
      // frame would be max - 1 + d bytes, over the limit for d > 1.
      const stream = concat([body(max - 1), delimiter]);
      let tooLargeAt = -1;
      for (let i = 0; i < stream.length; i++) {
        if (framer.push(0, stream.subarray(i, i + 1)) === PushResult.FRAME_TOO_LARGE) {
          tooLargeAt = i;
          break; // The worker closes the connection here.
        }
      }
      expect(tooLargeAt).toBe(d === 1 ? -1 : max - 1);
      expect(collector.of(0).length).toBe(d === 1 ? 1 : 0);
    });

    it('a long frame fed in reads of 3 bytes returns FRAME_TOO_LARGE on the read that crosses maxFrameBytes', () => {
      const collector = new Collector();
      const framer = createFramer(delimiterSpec(delimiter, true), max, collector.sink);
      const stream = concat([body(4 * max), delimiter]);
      let tooLargeAt = -1;
      for (let at = 0; at < stream.length; at += 3) {
        if (framer.push(0, stream.subarray(at, at + 3)) === PushResult.FRAME_TOO_LARGE) {
          tooLargeAt = at + 3;
          break;
        }
      }
      expect(tooLargeAt).toBe(Math.ceil(max / 3) * 3);
      expect(collector.of(0)).toEqual([]);
    });

    it('after FRAME_TOO_LARGE, later reads of the slot yield no frame until reset', () => {
      const collector = new Collector();
      const framer = createFramer(delimiterSpec(delimiter, true), max, collector.sink);
      expect(framer.push(0, body(max - d))).toBe(PushResult.OK);
      expect(framer.push(0, bytes('y'.repeat(max)))).toBe(PushResult.FRAME_TOO_LARGE);
      // Today this returns OK and emits body(max - d) + delimiter: a frame
      // of exactly max bytes with the rejected read's bytes cut out.
      expect(framer.push(0, delimiter)).toBe(PushResult.FRAME_TOO_LARGE);
      expect(collector.of(0)).toEqual([]);
    });

    it('frames before an oversize one are delivered, in the same read', () => {
      const collector = new Collector();
      const framer = createFramer(delimiterSpec(delimiter, false), max, collector.sink);
      const stream = concat([body(2), delimiter, body(3), delimiter, body(max), delimiter]);
      expect(framer.push(0, stream)).toBe(PushResult.FRAME_TOO_LARGE);
      expect(collector.hexOf(0)).toEqual([hex(body(2)), hex(body(3))]);
    });
  });

  it('for any stream, split and limit: frames before the first oversize frame are delivered, and FRAME_TOO_LARGE comes on exactly the read that brings that frame to maxFrameBytes bytes', () => {
    const anyDelimiter = fc.constantFrom(...['\n', '\r\n', 'END!', '\r\n\r\n', 'aa'].map(bytes));
    fc.assert(
      fc.property(
        anyDelimiter.chain((delimiter) =>
          fc.tuple(fc.constant(delimiter), messageBytes(delimiter, 150), splits, fc.integer({ min: delimiter.length, max: 40 }), fc.boolean()),
        ),
        ([delimiter, stream, split, max, keepDelimiter]) => {
          const { frames, tail } = referenceCut(stream, delimiter);
          // The first frame over the limit; an incomplete tail of max bytes or more is one too.
          const firstOversize = [...frames, [tail, Infinity] as [number, number]].find(
            ([start, end]) => end - start > max && (end !== Infinity || stream.length - start >= max),
          );
          const collector = new Collector();
          const framer = createFramer(delimiterSpec(delimiter, keepDelimiter), max, collector.sink);
          const feeder = new Feeder();
          let position = 0;
          let tooLargeAt = -1;
          for (const read of splitAt(stream, split.cuts, split.byteByByte)) {
            const result = feeder.push(framer, 0, read);
            position += read.length;
            if (result === PushResult.FRAME_TOO_LARGE) {
              tooLargeAt = position;
              break; // The worker closes the connection here.
            }
          }
          const d = keepDelimiter ? 0 : delimiter.length;
          const delivered = firstOversize === undefined ? frames : frames.filter(([, end]) => end <= firstOversize[0]);
          expect(collector.hexOf(0)).toEqual(delivered.map(([start, end]) => hex(stream.subarray(start, end - d))));
          for (const frame of collector.of(0)) expect(frame.length + d).toBeLessThanOrEqual(max);
          if (firstOversize === undefined) {
            expect(tooLargeAt).toBe(-1);
          } else {
            // The end of the first read that reaches start + max.
            const reads = splitAt(stream, split.cuts, split.byteByByte);
            let end = 0;
            for (const read of reads) {
              end += read.length;
              if (end >= firstOversize[0] + max) break;
            }
            expect(tooLargeAt).toBe(end);
          }
          framer.reset(0);
          expect(framer.partialBytes(0)).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});
