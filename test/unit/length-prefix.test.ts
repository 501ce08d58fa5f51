// Property tests for length-prefix framing (src/shared/length-prefix.ts):
// the framer createFramer builds for { kind: 'length-prefix', ... } and the
// encodeLengthPrefixed helper for outgoing frames.
//
// The central property, for every header format (1, 2, 4 or 8 bytes, either
// byte order, the length counting the header or not, the header kept or
// stripped): messages encoded with encodeLengthPrefixed and cut into reads
// anywhere (one byte per read, a header split across reads) come out as
// exactly those messages. Around it: maxFrameBytes counts the whole frame on
// the wire and is checked as soon as the header is complete; a header
// announcing 2^32 or 2^60 bytes is refused without allocating; a refused slot
// yields nothing until reset(); partialBytes is exact; slots interleave.
//
// Frames handed to the sink may be views into buffers the framer reuses, so
// the sink copies them at once, as the I/O worker's does. Every read goes
// through one recycled buffer that is scribbled over as soon as push
// returns, like a socket reading into a reused buffer, so a framer that kept
// a view of a read instead of copying its partial frame would be caught.

import fc from 'fast-check';
import { FlamingoError } from '../../src/shared/errors.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, Feeder, concat, hex, splitAt, splits } from '../helpers/framer-harness.ts';
import { PushResult, createFramer } from '../../src/shared/framing/index.ts';
import { type LengthPrefixSpec, encodeLengthPrefixed } from '../../src/shared/framing/index.ts';

const RUNS = 100;

type Format = Omit<LengthPrefixSpec, 'kind'>;

const spec = (format: Format): LengthPrefixSpec => ({ kind: 'length-prefix', ...format });

/** All 32 header formats. */
const FORMATS: Format[] = [1, 2, 4, 8].flatMap((lengthBytes) =>
  [false, true].flatMap((littleEndian) =>
    [false, true].flatMap((lengthIncludesHeader) => [false, true].map((keepHeader) => ({ lengthBytes, littleEndian, lengthIncludesHeader, keepHeader }))),
  ),
);

const describeFormat = (f: Format): string =>
  `${f.lengthBytes}-byte ${f.littleEndian ? 'LE' : 'BE'}, length ${f.lengthIncludesHeader ? 'counts the header' : 'counts the payload'}, header ${f.keepHeader ? 'kept' : 'stripped'}`;

const FORMAT_ROWS: Array<[string, Format]> = FORMATS.map((f) => [describeFormat(f), f]);

/** The largest payload a header of `f` can announce, capped for test speed. */
function maxPayload(f: Format, cap: number): number {
  const largestLength = f.lengthBytes >= 7 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * f.lengthBytes) - 1;
  return Math.min(cap, f.lengthIncludesHeader ? largestLength - f.lengthBytes : largestLength);
}

/** A header written independently of the code under test (Node's Buffer readers/writers). */
function referenceHeader(f: Format, value: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  if (f.littleEndian) b.writeBigUInt64LE(value);
  else b.writeBigUInt64BE(value);
  return f.littleEndian ? b.subarray(0, f.lengthBytes) : b.subarray(8 - f.lengthBytes);
}

/** A frame on the wire built by hand: header announcing `payload` in format `f`, then the payload. */
function referenceFrame(f: Format, payload: Uint8Array): Uint8Array {
  const length = BigInt(payload.length + (f.lengthIncludesHeader ? f.lengthBytes : 0));
  return concat([referenceHeader(f, length), payload]);
}

/** The frame a sink should see for `payload`: the whole wire frame, or the payload only. */
const expectedFrame = (f: Format, payload: Uint8Array): Uint8Array => (f.keepHeader ? referenceFrame(f, payload) : payload);

/** Reads of `stream` cut at `cuts` (any numbers, reduced into range; no empty reads). */

/** Payloads with empty ones (a length header of 0) common. */
function payloads(f: Format, cap: number): fc.Arbitrary<Uint8Array> {
  const max = maxPayload(f, cap);
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: Math.min(8, max) }) },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: max, size: 'max' }) },
    // The largest payload the header (or the cap) allows.
    { weight: 1, arbitrary: fc.constant(max).map((n) => new Uint8Array(n).map((_, i) => i)) },
  );
}

/** Messages, the tail of one more that never completes (a prefix of its wire frame), and a split. */
function streamCase(f: Format, cap = 300) {
  return fc.record({
    messages: fc.array(payloads(f, cap), { maxLength: 10, size: 'max' }),
    last: payloads(f, cap),
    lastCut: fc.nat(),
    split: splits,
  });
}

describe('encodeLengthPrefixed', () => {
  it.each(FORMAT_ROWS)('%s: writes exactly the header Node’s Buffer writers would, then the payload', (_name, f) => {
    fc.assert(
      fc.property(payloads(f, 600), (payload) => {
        const wire = encodeLengthPrefixed(f, payload);
        expect(wire.length).toBe(f.lengthBytes + payload.length);
        expect(hex(wire)).toBe(hex(referenceFrame(f, payload)));
      }),
      { numRuns: 100 },
    );
  });

  it('ignores keepHeader and kind when given a whole spec (header format only)', () => {
    const payload = Uint8Array.of(1, 2, 3);
    const a = encodeLengthPrefixed({ lengthBytes: 2, littleEndian: false, lengthIncludesHeader: false }, payload);
    const b = encodeLengthPrefixed(spec({ lengthBytes: 2, littleEndian: false, lengthIncludesHeader: false, keepHeader: false }), payload);
    expect(hex(b)).toBe(hex(a));
    expect(hex(a)).toBe('0003010203');
  });

  it('copies the payload: changing it afterwards does not change the frame', () => {
    const payload = Uint8Array.of(9, 9, 9);
    const wire = encodeLengthPrefixed({ lengthBytes: 4, littleEndian: true, lengthIncludesHeader: true }, payload);
    payload.fill(0);
    expect(hex(wire)).toBe('0700000009' + '0909');
  });

  it('a 3-byte length in a 4-byte and an 8-byte header, both byte orders', () => {
    const payload = new Uint8Array(0x012345);
    for (const lengthBytes of [4, 8]) {
      for (const littleEndian of [false, true]) {
        const f = { lengthBytes, littleEndian, lengthIncludesHeader: false, keepHeader: true };
        const wire = encodeLengthPrefixed(f, payload);
        expect(hex(wire.subarray(0, lengthBytes))).toBe(hex(referenceHeader(f, 0x012345n)));
      }
    }
  });

  // [header bytes, length counts the header, largest payload that fits]
  const limits: Array<[number, boolean, number]> = [
    [1, false, 255],
    [1, true, 254],
    [2, false, 65535],
    [2, true, 65533],
  ];
  it.each(limits)(
    'a %i-byte header (lengthIncludesHeader %s) takes a payload of %i bytes; one byte more throws ERR_FLAMINGO_INVALID_PAYLOAD',
    (lengthBytes, lengthIncludesHeader, largest) => {
      for (const littleEndian of [false, true]) {
        const f = { lengthBytes, littleEndian, lengthIncludesHeader };
        const fits = encodeLengthPrefixed(f, new Uint8Array(largest));
        expect(hex(fits.subarray(0, lengthBytes))).toBe('ff'.repeat(lengthBytes));
        expect(() => encodeLengthPrefixed(f, new Uint8Array(largest + 1))).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_INVALID_PAYLOAD' }));
        expect(() => encodeLengthPrefixed(f, new Uint8Array(largest + 1))).toThrow(FlamingoError);
        expect(() => encodeLengthPrefixed(f, new Uint8Array(largest + 1000))).toThrow(/does not fit a \d-byte length header/);
      }
    },
  );

  it('4- and 8-byte headers take a 70,000-byte payload (beyond any 2-byte length)', () => {
    for (const lengthBytes of [4, 8]) {
      const f = { lengthBytes, littleEndian: false, lengthIncludesHeader: true, keepHeader: true };
      expect(hex(encodeLengthPrefixed(f, new Uint8Array(70_000)).subarray(0, lengthBytes))).toBe(hex(referenceHeader(f, BigInt(70_000 + lengthBytes))));
    }
  });
});

describe('length-prefix framing: any split yields exactly the messages', () => {
  it.each(FORMAT_ROWS)('%s', (_name, f) => {
    fc.assert(
      fc.property(streamCase(f), (c) => {
        const wires = c.messages.map((m) => encodeLengthPrefixed(f, m));
        const lastWire = encodeLengthPrefixed(f, c.last);
        const tail = lastWire.subarray(0, c.lastCut % lastWire.length); // never the whole frame
        const stream = concat([...wires, tail]);
        const ends: number[] = [];
        let end = 0;
        for (const w of wires) {
          end += w.length;
          ends.push(end);
        }
        // The limit is the largest frame on the wire: every frame is within it, the largest exactly at it.
        const maxFrameBytes = Math.max(f.lengthBytes, lastWire.length, ...wires.map((w) => w.length));
        const collector = new Collector();
        const framer = createFramer(spec(f), maxFrameBytes, collector.sink);
        const feeder = new Feeder();
        const slot = 7;
        let position = 0;
        let complete = 0; // frames complete at `position`
        for (const read of splitAt(stream, c.split.cuts, c.split.byteByByte)) {
          const result = feeder.push(framer, slot, read);
          if (result !== PushResult.OK) expect(result).toBe(PushResult.OK);
          position += read.length;
          while (complete < ends.length && ends[complete]! <= position) complete++;
          // 0 right after a complete frame; otherwise every byte since, header included.
          const buffered = position - (complete === 0 ? 0 : ends[complete - 1]!);
          if (framer.partialBytes(slot) !== buffered) expect(framer.partialBytes(slot), `after ${position} bytes`).toBe(buffered);
        }
        expect(collector.hexOf(slot)).toEqual(c.messages.map((m) => hex(expectedFrame(f, m))));
        expect(framer.partialBytes(slot)).toBe(tail.length);
        // The rest of the last frame completes it, however it is cut.
        for (const read of splitAt(lastWire.subarray(tail.length), c.split.cuts, c.split.byteByByte)) {
          expect(feeder.push(framer, slot, read)).toBe(PushResult.OK);
        }
        expect(collector.hexOf(slot).at(-1)).toBe(hex(expectedFrame(f, c.last)));
        expect(collector.of(slot).length).toBe(c.messages.length + 1);
        expect(framer.partialBytes(slot)).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  // [header bytes, smallest payload, largest payload]: lengths that need every byte of a 2-byte header, or more than 2 bytes.
  const large: Array<[number, number, number]> = [
    [2, 256, 65_535],
    [4, 65_536, 200_000],
    [8, 65_536, 200_000],
  ];
  it.each(large)('large frames across many reads, %i-byte header: payloads of %i to %i bytes', (lengthBytes, smallest, largest) => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: smallest, max: largest }), fc.constant(largest)), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.nat(), { minLength: 1, maxLength: 60, size: 'max' }),
        (sizes, littleEndian, lengthIncludesHeader, keepHeader, cuts) => {
          const f = { lengthBytes, littleEndian, lengthIncludesHeader, keepHeader };
          const messages = sizes.map((n, i) => new Uint8Array(Math.min(n, maxPayload(f, n))).fill(i + 1).map((v, j) => (v * 31 + j) & 0xff));
          const stream = concat(messages.map((m) => encodeLengthPrefixed(f, m)));
          const collector = new Collector();
          const framer = createFramer(spec(f), lengthBytes + largest, collector.sink);
          const feeder = new Feeder();
          for (const read of splitAt(stream, cuts, false)) expect(feeder.push(framer, 0, read)).toBe(PushResult.OK);
          expect(collector.hexOf(0)).toEqual(messages.map((m) => hex(expectedFrame(f, m))));
          expect(framer.partialBytes(0)).toBe(0);
        },
      ),
      { numRuns: 12 },
    );
  });

  it.each([2, 4, 8])('a %i-byte header split one byte per read, then its payload, then an empty frame whose header is split too', (lengthBytes) => {
    for (const f of FORMATS.filter((g) => g.lengthBytes === lengthBytes)) {
      const collector = new Collector();
      const framer = createFramer(spec(f), 64, collector.sink);
      const payload = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);
      const wire = referenceFrame(f, payload);
      for (let i = 0; i < lengthBytes; i++) {
        expect(framer.push(3, wire.subarray(i, i + 1))).toBe(PushResult.OK);
        expect(framer.partialBytes(3)).toBe(i + 1);
      }
      expect(collector.of(3)).toEqual([]);
      expect(framer.push(3, wire.subarray(lengthBytes))).toBe(PushResult.OK);
      expect(framer.partialBytes(3)).toBe(0);
      const empty = referenceFrame(f, new Uint8Array(0));
      expect(empty.length).toBe(lengthBytes);
      expect(framer.push(3, empty.subarray(0, 1))).toBe(PushResult.OK);
      expect(framer.push(3, empty.subarray(1))).toBe(PushResult.OK);
      expect(collector.hexOf(3)).toEqual([hex(expectedFrame(f, payload)), hex(expectedFrame(f, new Uint8Array(0)))]);
      expect(framer.partialBytes(3)).toBe(0);
    }
  });

  it.each(FORMAT_ROWS)('%s: a read of only empty frames yields one empty frame (or bare header) per header', (_name, f) => {
    const collector = new Collector();
    const framer = createFramer(spec(f), f.lengthBytes, collector.sink);
    const one = referenceFrame(f, new Uint8Array(0));
    expect(framer.push(0, concat([one, one, one]))).toBe(PushResult.OK);
    expect(collector.hexOf(0)).toEqual(Array(3).fill(f.keepHeader ? hex(one) : ''));
    expect(framer.partialBytes(0)).toBe(0);
  });

  it('empty reads change nothing, before, inside and after a header', () => {
    const f: Format = { lengthBytes: 4, littleEndian: false, lengthIncludesHeader: false, keepHeader: false };
    const collector = new Collector();
    const framer = createFramer(spec(f), 64, collector.sink);
    const empty = new Uint8Array(0);
    const wire = referenceFrame(f, Uint8Array.of(1, 2));
    expect(framer.push(0, empty)).toBe(PushResult.OK);
    expect(framer.partialBytes(0)).toBe(0);
    expect(framer.push(0, wire.subarray(0, 2))).toBe(PushResult.OK);
    expect(framer.push(0, empty)).toBe(PushResult.OK);
    expect(framer.partialBytes(0)).toBe(2);
    expect(framer.push(0, wire.subarray(2, 5))).toBe(PushResult.OK);
    expect(framer.push(0, empty)).toBe(PushResult.OK);
    expect(framer.partialBytes(0)).toBe(5);
    expect(framer.push(0, wire.subarray(5))).toBe(PushResult.OK);
    expect(framer.push(0, empty)).toBe(PushResult.OK);
    expect(collector.hexOf(0)).toEqual(['0102']);
  });
});

describe('length-prefix framing: slots', () => {
  it('interleaved slots keep separate partial frames, for any schedule of reads', () => {
    const slots = [0, 1, 9, 2 ** 21 - 1];
    fc.assert(
      fc.property(
        fc
          .constantFrom(...FORMATS)
          .chain((f) =>
            fc.tuple(fc.constant(f), fc.tuple(...slots.map(() => streamCase(f, 40))), fc.array(fc.nat(slots.length - 1), { maxLength: 200, size: 'max' })),
          ),
        ([f, cases, schedule]) => {
          const collector = new Collector();
          const framer = createFramer(spec(f), f.lengthBytes + 40, collector.sink);
          const feeder = new Feeder();
          const tails = cases.map((c) => {
            const lastWire = encodeLengthPrefixed(f, c.last);
            return lastWire.subarray(0, c.lastCut % lastWire.length);
          });
          const queues = cases.map((c, i) =>
            splitAt(concat([...c.messages.map((m) => encodeLengthPrefixed(f, m)), tails[i]!]), c.split.cuts, c.split.byteByByte),
          );
          // Reads from the slots in the scheduled order, then whatever is left.
          const order = [...schedule, ...queues.flatMap((q, i) => q.map(() => i))];
          for (const i of order) {
            const read = queues[i]!.shift();
            if (read !== undefined) expect(feeder.push(framer, slots[i]!, read)).toBe(PushResult.OK);
          }
          cases.forEach((c, i) => {
            expect(collector.hexOf(slots[i]!)).toEqual(c.messages.map((m) => hex(expectedFrame(f, m))));
            expect(framer.partialBytes(slots[i]!)).toBe(tails[i]!.length);
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('reset(slot) drops that slot’s partial frame, and only that one; the slot then frames a new stream from its first byte', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...FORMATS).chain((f) => fc.tuple(fc.constant(f), streamCase(f, 40), fc.integer({ min: 1, max: f.lengthBytes + 29 }))),
        ([f, c, staleLength]) => {
          const collector = new Collector();
          const framer = createFramer(spec(f), f.lengthBytes + 40, collector.sink);
          // Slots 4 and 5 hold part of a frame: part of its header, or its header and part of its payload...
          const stale = referenceFrame(f, new Uint8Array(30).fill(0xab)).subarray(0, staleLength);
          expect(framer.push(4, stale)).toBe(PushResult.OK);
          expect(framer.push(5, stale)).toBe(PushResult.OK);
          framer.reset(4);
          expect(framer.partialBytes(4)).toBe(0);
          expect(framer.partialBytes(5)).toBe(stale.length);
          // ...and after reset its next bytes are a header, not the rest of the old frame.
          for (const read of splitAt(concat(c.messages.map((m) => encodeLengthPrefixed(f, m))), c.split.cuts, c.split.byteByByte)) {
            expect(framer.push(4, read)).toBe(PushResult.OK);
          }
          expect(collector.hexOf(4)).toEqual(c.messages.map((m) => hex(expectedFrame(f, m))));
          expect(framer.partialBytes(5)).toBe(stale.length);
          // Resetting a slot with nothing buffered is harmless.
          framer.reset(4);
          framer.reset(1234);
          expect(framer.partialBytes(1234)).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('length-prefix framing: maxFrameBytes counts the whole frame on the wire, header included', () => {
  it.each(FORMAT_ROWS)(
    '%s: a frame of exactly maxFrameBytes passes, split anywhere; one byte less of limit refuses it as soon as the header is complete',
    (_name, f) => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: maxPayload(f, 300) }), splits, (payloadLength, split) => {
          const payload = new Uint8Array(payloadLength).map((_, i) => i * 7);
          const wire = referenceFrame(f, payload);
          const exact = new Collector();
          const fits = createFramer(spec(f), wire.length, exact.sink);
          for (const read of splitAt(wire, split.cuts, split.byteByByte)) expect(fits.push(0, read)).toBe(PushResult.OK);
          expect(exact.hexOf(0)).toEqual([hex(expectedFrame(f, payload))]);

          // One byte over the limit: the header alone, in reads cut anywhere,
          // is refused on the read that completes it; the payload never comes.
          const over = new Collector();
          const tooSmall = createFramer(spec(f), wire.length - 1, over.sink);
          const headerReads = splitAt(wire.subarray(0, f.lengthBytes), split.cuts, split.byteByByte);
          headerReads.forEach((read, i) => {
            expect(tooSmall.push(0, read)).toBe(i === headerReads.length - 1 ? PushResult.FRAME_TOO_LARGE : PushResult.OK);
          });
          expect(over.count()).toBe(0);
          expect(tooSmall.partialBytes(0)).toBe(0);
        }),
        { numRuns: 60 },
      );
    },
  );

  it('frames before an oversize one in the same read are delivered; nothing after it', () => {
    for (const f of FORMATS) {
      const collector = new Collector();
      const framer = createFramer(spec(f), f.lengthBytes + 4, collector.sink);
      const ok = referenceFrame(f, Uint8Array.of(1, 2, 3, 4));
      const big = referenceFrame(f, Uint8Array.of(1, 2, 3, 4, 5));
      expect(framer.push(0, concat([ok, ok, big, ok]))).toBe(PushResult.FRAME_TOO_LARGE);
      expect(collector.hexOf(0)).toEqual([hex(expectedFrame(f, Uint8Array.of(1, 2, 3, 4))), hex(expectedFrame(f, Uint8Array.of(1, 2, 3, 4)))]);
    }
  });

  it('an oversize header arriving after a complete frame in a partial read is refused when its last byte arrives', () => {
    const f: Format = { lengthBytes: 4, littleEndian: true, lengthIncludesHeader: false, keepHeader: true };
    const collector = new Collector();
    const framer = createFramer(spec(f), 10, collector.sink);
    const ok = referenceFrame(f, Uint8Array.of(7, 7));
    const big = referenceFrame(f, new Uint8Array(7));
    expect(framer.push(0, concat([ok.subarray(0, 3)]))).toBe(PushResult.OK);
    expect(framer.push(0, concat([ok.subarray(3), big.subarray(0, 3)]))).toBe(PushResult.OK);
    expect(framer.partialBytes(0)).toBe(3);
    expect(framer.push(0, big.subarray(3, 4))).toBe(PushResult.FRAME_TOO_LARGE);
    expect(collector.hexOf(0)).toEqual([hex(ok)]);
  });

  describe('huge announced lengths are refused at once, without allocating', () => {
    const realUint8Array = globalThis.Uint8Array;
    let largest = 0;

    /** Runs `body` with every `new Uint8Array(n)` recorded; the framer's buffers are plain Uint8Arrays. */
    function watchingAllocations<T>(body: () => T): T {
      largest = 0;
      class Watched extends realUint8Array {
        constructor(...args: unknown[]) {
          if (typeof args[0] === 'number') largest = Math.max(largest, args[0]);
          super(...(args as []));
        }
      }
      globalThis.Uint8Array = Watched as Uint8ArrayConstructor;
      try {
        return body();
      } finally {
        globalThis.Uint8Array = realUint8Array;
      }
    }

    afterEach(() => {
      globalThis.Uint8Array = realUint8Array;
    });

    // [what, format, header bytes]
    const huge: Array<[string, Format, number[]]> = [
      [
        '2^32 - 1 (+ 4) in a 4-byte big-endian header',
        { lengthBytes: 4, littleEndian: false, lengthIncludesHeader: false, keepHeader: true },
        [0xff, 0xff, 0xff, 0xff],
      ],
      [
        '2^32 - 1 in a 4-byte little-endian header counting itself',
        { lengthBytes: 4, littleEndian: true, lengthIncludesHeader: true, keepHeader: false },
        [0xff, 0xff, 0xff, 0xff],
      ],
      ['2^32 in an 8-byte big-endian header', { lengthBytes: 8, littleEndian: false, lengthIncludesHeader: false, keepHeader: true }, [0, 0, 0, 1, 0, 0, 0, 0]],
      [
        '2^60 in an 8-byte big-endian header',
        { lengthBytes: 8, littleEndian: false, lengthIncludesHeader: false, keepHeader: true },
        [0x10, 0, 0, 0, 0, 0, 0, 0],
      ],
      [
        '2^60 in an 8-byte little-endian header counting itself',
        { lengthBytes: 8, littleEndian: true, lengthIncludesHeader: true, keepHeader: false },
        [0, 0, 0, 0, 0, 0, 0, 0x10],
      ],
      ['2^64 - 1 in an 8-byte header', { lengthBytes: 8, littleEndian: false, lengthIncludesHeader: false, keepHeader: true }, Array(8).fill(0xff)],
      [
        '2^53 + 1 in an 8-byte header (inexact as a double)',
        { lengthBytes: 8, littleEndian: false, lengthIncludesHeader: false, keepHeader: true },
        [0, 0x20, 0, 0, 0, 0, 0, 1],
      ],
    ];

    it.each(huge)('%s: FRAME_TOO_LARGE on the read that completes the header, whole or byte by byte', (_what, f, header) => {
      // The largest maxFrameBytes the options allow (half of a 2 GiB event ring, less a record header).
      const max = 2 ** 30 - 16;
      for (const byteByByte of [false, true]) {
        const collector = new Collector();
        const framer = createFramer(spec(f), max, collector.sink);
        const wire = Uint8Array.from([...header, 1, 2, 3]);
        const reads = byteByByte ? splitAt(wire.subarray(0, header.length), [], true) : [wire];
        const results = watchingAllocations(() => reads.map((read) => framer.push(0, read)));
        expect(results.at(-1)).toBe(PushResult.FRAME_TOO_LARGE);
        expect(results.slice(0, -1).every((r) => r === PushResult.OK)).toBe(true);
        expect(largest, 'bytes the framer allocated').toBeLessThanOrEqual(64);
        expect(collector.count()).toBe(0);
        expect(framer.partialBytes(0)).toBe(0);
      }
    });

    it('a header announcing exactly maxFrameBytes allocates the whole frame up front; one byte more allocates nothing', () => {
      const f: Format = { lengthBytes: 4, littleEndian: false, lengthIncludesHeader: true, keepHeader: true };
      const framer = createFramer(spec(f), 100_000, () => {});
      watchingAllocations(() => framer.push(0, referenceHeader(f, 100_000n)));
      expect(largest).toBe(100_000);
      expect(framer.partialBytes(0)).toBe(4);
      const refusing = createFramer(spec(f), 100_000, () => {});
      expect(watchingAllocations(() => refusing.push(0, referenceHeader(f, 100_001n)))).toBe(PushResult.FRAME_TOO_LARGE);
      expect(largest).toBe(0);
    });
  });

  describe('with lengthIncludesHeader, a length smaller than the header is BAD_HEADER', () => {
    const rows = FORMATS.filter((f) => f.lengthIncludesHeader).map((f): [string, Format] => [describeFormat(f), f]);

    it.each(rows)('%s: every length below the header size is refused, whole or byte by byte; the header size itself is an empty frame', (_name, f) => {
      for (let length = 0; length < f.lengthBytes; length++) {
        for (const byteByByte of [false, true]) {
          const collector = new Collector();
          const framer = createFramer(spec(f), 1024, collector.sink);
          const wire = concat([referenceHeader(f, BigInt(length)), Uint8Array.of(1, 2, 3)]);
          const reads = byteByByte ? splitAt(wire, [], true) : [wire];
          const results: PushResult[] = [];
          for (const read of reads) {
            results.push(framer.push(0, read));
            if (results.at(-1) !== PushResult.OK) break; // the worker closes the connection here
          }
          expect(results.length).toBe(byteByByte ? f.lengthBytes : 1);
          expect(results.at(-1)).toBe(PushResult.BAD_HEADER);
          expect(collector.count()).toBe(0);
        }
      }
      const collector = new Collector();
      const framer = createFramer(spec(f), 1024, collector.sink);
      expect(framer.push(0, referenceHeader(f, BigInt(f.lengthBytes)))).toBe(PushResult.OK);
      expect(collector.hexOf(0)).toEqual([f.keepHeader ? hex(referenceHeader(f, BigInt(f.lengthBytes))) : '']);
    });

    it('without lengthIncludesHeader the same small lengths are ordinary short frames', () => {
      const f: Format = { lengthBytes: 8, littleEndian: false, lengthIncludesHeader: false, keepHeader: false };
      const collector = new Collector();
      const framer = createFramer(spec(f), 1024, collector.sink);
      for (let length = 0; length < 8; length++) {
        expect(framer.push(0, concat([referenceHeader(f, BigInt(length)), new Uint8Array(length).fill(length)]))).toBe(PushResult.OK);
      }
      expect(collector.of(0).map((frame) => frame.length)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    });
  });

  describe('a refused slot yields nothing more until reset()', () => {
    // [cause, format, limit, bytes that break the rule, expected result]
    const causes: Array<[string, Format, number, Uint8Array, PushResult]> = [
      [
        'FRAME_TOO_LARGE',
        { lengthBytes: 2, littleEndian: false, lengthIncludesHeader: false, keepHeader: true },
        8,
        Uint8Array.of(0, 7),
        PushResult.FRAME_TOO_LARGE,
      ],
      ['BAD_HEADER', { lengthBytes: 2, littleEndian: false, lengthIncludesHeader: true, keepHeader: true }, 8, Uint8Array.of(0, 1), PushResult.BAD_HEADER],
    ];

    it.each(causes)(
      'after %s: valid frames on the same slot are not delivered, partialBytes is 0; other slots carry on; reset() makes the slot new',
      (_cause, f, limit, breaking, result) => {
        fc.assert(
          fc.property(
            fc.array(fc.uint8Array({ maxLength: limit - 2, size: 'max' }), { minLength: 1, maxLength: 6, size: 'max' }),
            splits,
            (messages, split) => {
              const collector = new Collector();
              const framer = createFramer(spec(f), limit, collector.sink);
              const valid = concat(messages.map((m) => encodeLengthPrefixed(f, m)));
              expect(framer.push(1, breaking)).toBe(result);
              for (const read of splitAt(valid, split.cuts, split.byteByByte)) {
                expect(framer.push(1, read), 'a refused slot refuses every later read').not.toBe(PushResult.OK);
                expect(framer.push(2, read)).toBe(PushResult.OK);
                expect(framer.partialBytes(1)).toBe(0);
              }
              expect(collector.of(1)).toEqual([]);
              expect(collector.hexOf(2)).toEqual(messages.map((m) => hex(expectedFrame(f, m))));
              framer.reset(1);
              for (const read of splitAt(valid, split.cuts, split.byteByByte)) expect(framer.push(1, read)).toBe(PushResult.OK);
              expect(collector.hexOf(1)).toEqual(collector.hexOf(2));
            },
          ),
          { numRuns: 100 },
        );
      },
    );
  });
});
