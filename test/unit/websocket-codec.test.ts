// The WebSocket codec as a whole (src/worker/protocols/websocket-codec.ts):
// a connection's stream, handshake then frames, in reads cut anywhere.
//
// Properties (fast-check):
// - a valid session (messages fragmented at random, text cut through its
//   characters, pings and pongs between fragments, random masks and length
//   encodings, sometimes a close) gives exactly the model's events, whether
//   the stream arrives whole, cut at random points, or a byte per read;
// - a stream of frames built to break the rules (any opcode, RSV bits,
//   missing masks, oversized and fragmented control frames, stray
//   continuations, bytes that are not UTF-8, odd close payloads) gives the
//   same events and the same verdict as a small reference decoder written
//   here from RFC 6455, however it is cut;
// - random bytes, as a handshake or after one, never throw: the slot stays
//   OK, or ends with an HTTP error or a close frame naming the code.
//
// The codec unmasks in place, so each run feeds its own copy of the stream.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecResult, type UpgradeRequest, WebSocketCodec, encodeClose } from '../../src/worker/protocols/websocket-codec.ts';
import { splitAt, splits } from '../helpers/framer-harness.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'utf8'));
const RUNS = 200;
const MAX_MESSAGE = 600;
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const HEAD = Buffer.from(
  `GET /echo?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
);
const ACCEPTED = hex(
  Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n'),
);

type Event = ['open', string] | ['message', string, boolean] | ['write', string] | ['final', string];

function run(stream: Uint8Array, reads: (copy: Uint8Array) => Uint8Array[], maxMessageBytes = MAX_MESSAGE) {
  const events: Event[] = [];
  const codec = new WebSocketCodec(
    2,
    { maxMessageBytes },
    {
      open: (_slot, request: UpgradeRequest) => void events.push(['open', request.path]),
      message: (_slot, payload, isText) => void events.push(['message', hex(payload), isText]),
      write: (_slot, bytes) => void events.push(['write', hex(bytes)]),
    },
  );
  let result: number = CodecResult.OK;
  for (const read of reads(Uint8Array.from(stream))) {
    result = codec.push(1, read);
    // What a push that ended the slot leaves to be written last.
    if (codec.finalBytes !== undefined) events.push(['final', hex(codec.finalBytes)]);
  }
  return { events, result, code: codec.closeCode(1), codec };
}

const whole = (s: Uint8Array) => run(s, (copy) => [copy]);

// A client's frames, built independently of the code under test.

interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  key: Uint8Array;
  payload: Uint8Array;
  /** 0: the minimal length encoding; 16 or 64: that one. */
  lengthBits: 0 | 16 | 64;
}

function encode(f: Frame): Uint8Array {
  const n = f.payload.length;
  const bits = f.lengthBits !== 0 ? f.lengthBits : n <= 125 ? 7 : n <= 0xffff ? 16 : 64;
  const header = [(f.fin ? 0x80 : 0) | f.rsv | f.opcode];
  const mask = f.masked ? 0x80 : 0;
  if (bits === 7) header.push(mask | n);
  else if (bits === 16) header.push(mask | 126, n >> 8, n & 0xff);
  else header.push(mask | 127, 0, 0, 0, 0, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  if (f.masked) header.push(...f.key);
  const body = f.masked ? f.payload.map((b, i) => b ^ f.key[i % 4]!) : f.payload;
  return Uint8Array.from([...header, ...body]);
}

const concatAll = (parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

const keys = fc.uint8Array({ minLength: 4, maxLength: 4 });
const lengthBits = fc.constantFrom<0 | 16 | 64>(0, 0, 0, 16, 64);

/** A frame as a well-behaved client sends it (a control frame's length always takes the 7-bit form). */
const validFrame = (opcode: number, payload: Uint8Array, fin: boolean) =>
  fc
    .record({ key: keys, lengthBits })
    .map(({ key, lengthBits }) => encode({ fin, rsv: 0, opcode, masked: true, key, payload, lengthBits: opcode >= 8 ? 0 : lengthBits }));

/** Cuts `bytes` into `cuts.length + 1` pieces (some may be empty). */
function pieces(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(start, Math.max(start, p)));
    start = Math.max(start, p);
  }
  return out;
}

interface Session {
  stream: Uint8Array;
  expected: Event[];
  closes: boolean;
}

/** Control frames a client may slip in anywhere: a ping (answered with a pong) or a pong (ignored). */
const control = fc.oneof(
  fc.uint8Array({ maxLength: 125 }).chain((p) => validFrame(9, p, true).map((frame) => ({ frame, reply: hex(concatAll([Uint8Array.of(0x8a, p.length), p])) }))),
  fc.uint8Array({ maxLength: 125 }).chain((p) => validFrame(10, p, true).map((frame) => ({ frame, reply: '' }))),
);

/** A message, cut into fragments with control frames between them, and what it should produce. */
const message = fc
  .record({
    isText: fc.boolean(),
    text: fc.string({ unit: 'binary', maxLength: 60, size: 'max' }),
    bytes: fc.uint8Array({ maxLength: 300, size: 'max' }),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
  })
  .chain(({ isText, text, bytes, cuts }) => {
    const payload = isText ? utf8(text) : bytes;
    const parts = pieces(payload, cuts);
    return fc
      .tuple(
        fc.tuple(...parts.map((part, i) => validFrame(i === 0 ? (isText ? 1 : 2) : 0, part, i === parts.length - 1))),
        fc.array(fc.option(control, { nil: undefined }), { minLength: parts.length, maxLength: parts.length }),
      )
      .map(([frames, controls]) => {
        const wire: Uint8Array[] = [];
        const expected: Event[] = [];
        frames.forEach((frame, i) => {
          wire.push(frame);
          const c = controls[i];
          if (c !== undefined && i < frames.length - 1) {
            wire.push(c.frame);
            if (c.reply !== '') expected.push(['write', c.reply]);
          }
        });
        expected.push(['message', hex(payload), isText]);
        return { wire, expected };
      });
  });

const closing = fc.record({ code: fc.constantFrom(1000, 1001, 1008, 3000, 4999), reason: fc.string({ maxLength: 20 }), key: keys });

const session: fc.Arbitrary<Session> = fc
  .record({ messages: fc.array(message, { maxLength: 8 }), close: fc.option(closing, { nil: undefined }), trailer: fc.uint8Array({ maxLength: 20 }) })
  .map(({ messages, close, trailer }) => {
    const wire: Uint8Array[] = [HEAD];
    const expected: Event[] = [
      ['write', ACCEPTED],
      ['open', '/echo?x=1'],
    ];
    for (const m of messages) {
      wire.push(...m.wire);
      expected.push(...m.expected);
    }
    if (close !== undefined) {
      const reason = utf8(close.reason).subarray(0, 100);
      const payload = concatAll([Uint8Array.of(close.code >> 8, close.code & 0xff), reason]);
      wire.push(encode({ fin: true, rsv: 0, opcode: 8, masked: true, key: close.key, payload, lengthBits: 0 }));
      expected.push(['final', hex(encodeClose(close.code))]);
      // Whatever follows a close is never looked at.
      wire.push(trailer);
    }
    return { stream: concatAll(wire), expected, closes: close !== undefined };
  });

describe('a valid session', () => {
  it('gives the model’s events whole, cut anywhere, and a byte per read', () => {
    fc.assert(
      fc.property(session, splits, ({ stream, expected, closes }, { cuts, byteByByte }) => {
        const verdict = closes ? CodecResult.CLOSED : CodecResult.OK;
        const one = whole(stream);
        expect(one.events).toEqual(expected);
        expect(one.result).toBe(verdict);
        const cut = run(stream, (copy) => splitAt(copy, cuts, byteByByte));
        expect(cut.events).toEqual(expected);
        expect(cut.result).toBe(verdict);
        if (!closes) expect(cut.codec.partialBytes(1)).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('a byte per read, every session ends with nothing held between messages', () => {
    fc.assert(
      fc.property(session, ({ stream, expected }) => {
        const cut = run(stream, (copy) => splitAt(copy, [], true));
        expect(cut.events).toEqual(expected);
      }),
      { numRuns: 50 },
    );
  });
});

// The reference decoder: the whole stream at once, straight from RFC 6455.

interface Verdict {
  events: Event[];
  result: number;
  code: number;
}

function reference(stream: Uint8Array, max: number): Verdict {
  const events: Event[] = [];
  const fail = (code: number): Verdict => {
    events.push(['final', hex(encodeClose(code, 'reason'))]);
    return { events, result: CodecResult.FAILED, code };
  };
  const validCode = (c: number) => (c >= 1000 && c <= 1014 && ![1004, 1005, 1006].includes(c)) || (c >= 3000 && c <= 4999);
  let at = 0;
  let message: { opcode: number; parts: Uint8Array[]; length: number; decoder: InstanceType<typeof TextDecoder> } | undefined;
  while (stream.length - at >= 2) {
    const [b0, b1] = [stream[at]!, stream[at + 1]!];
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const len7 = b1 & 0x7f;
    if (b0 & 0x70) return fail(1002);
    if (![0, 1, 2, 8, 9, 10].includes(opcode)) return fail(1002);
    if (opcode >= 8 && (!fin || len7 > 125)) return fail(1002);
    if (opcode === 0 && message === undefined) return fail(1002);
    if ((opcode === 1 || opcode === 2) && message !== undefined) return fail(1002);
    if (!(b1 & 0x80)) return fail(1002);
    const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    if (stream.length - at < 2 + extra + 4) break;
    let length = BigInt(len7);
    if (extra === 2) length = BigInt(Buffer.from(stream.subarray(at + 2, at + 4)).readUInt16BE());
    if (extra === 8) length = Buffer.from(stream.subarray(at + 2, at + 10)).readBigUInt64BE();
    if (length >= 2n ** 53n) return fail(1009);
    if (opcode < 8 && BigInt(message?.length ?? 0) + length > BigInt(max)) return fail(1009);
    const key = stream.subarray(at + 2 + extra, at + 6 + extra);
    const start = at + 6 + extra;
    const available = Math.min(Number(length), stream.length - start);
    const payload = stream.subarray(start, start + available).map((b, i) => b ^ key[i % 4]!);
    const complete = available === Number(length);
    if (opcode < 8) {
      message ??= { opcode, parts: [], length: 0, decoder: new TextDecoder('utf-8', { fatal: true }) };
      message.parts.push(payload);
      message.length += payload.length;
      if (message.opcode === 1) {
        try {
          message.decoder.decode(payload, { stream: !(complete && fin) });
        } catch {
          return fail(1007);
        }
      }
      if (!complete) break;
      if (fin) {
        events.push(['message', hex(concatAll(message.parts)), message.opcode === 1]);
        message = undefined;
      }
    } else {
      if (!complete) break;
      if (opcode === 9) events.push(['write', hex(concatAll([Uint8Array.of(0x8a, payload.length), payload]))]);
      if (opcode === 8) {
        if (payload.length === 1) return fail(1002);
        let code = 1005;
        if (payload.length >= 2) {
          code = (payload[0]! << 8) | payload[1]!;
          if (!validCode(code)) return fail(1002);
          try {
            new TextDecoder('utf-8', { fatal: true }).decode(payload.subarray(2));
          } catch {
            return fail(1007);
          }
        }
        events.push(['final', code === 1005 ? '8800' : hex(encodeClose(code))]);
        return { events, result: CodecResult.CLOSED, code };
      }
    }
    at = start + available;
  }
  return { events, result: CodecResult.OK, code: 0 };
}

/** The events with close frames cut to their code: the reason text is the codec's to word. */
const withoutCloseReasons = (events: Event[]): Event[] => events.map((e) => (e[0] === 'final' && e[1].length > 8 ? ['final', `88xx${e[1].slice(4, 8)}`] : e));

/** Frames of every kind, most of them breaking some rule now and then. */
const roughFrame = fc
  .record({
    fin: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    rsv: fc.oneof({ weight: 30, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(0x10, 0x20, 0x40) }),
    opcode: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom(0, 1, 2) },
      { weight: 4, arbitrary: fc.constantFrom(8, 9, 10) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) },
    ),
    masked: fc.oneof({ weight: 40, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    key: keys,
    lengthBits,
    payload: fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }).chain((s) => fc.nat().map((cut) => utf8(s).subarray(cut % 4))),
      fc.uint8Array({ maxLength: 200, size: 'max' }),
      fc
        .record({ code: fc.oneof(fc.constantFrom(1000, 1005, 1006, 1015, 3000, 4999, 999, 5000), fc.nat(65535)), reason: fc.uint8Array({ maxLength: 6 }) })
        .map(({ code, reason }) => concatAll([Uint8Array.of(code >> 8, code & 0xff), reason])),
      fc.uint8Array({ minLength: 1, maxLength: 1 }),
    ),
  })
  .map(encode);

/** A fragmented message, well formed but for its size and the UTF-8 it may cut or break, with control frames between its fragments. */
const roughMessage = fc
  .record({
    opcode: fc.constantFrom(1, 2),
    parts: fc.array(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 30 }).chain((s) => fc.nat().map((cut) => utf8(s).subarray(cut % 4))),
        fc.uint8Array({ maxLength: 100, size: 'max' }),
      ),
      { minLength: 1, maxLength: 4 },
    ),
    between: fc.array(fc.option(roughFrame, { freq: 3, nil: undefined }), { minLength: 4, maxLength: 4 }),
    key: keys,
    lengthBits,
  })
  .map(({ opcode, parts, between, key, lengthBits }) =>
    concatAll(
      parts.flatMap((payload, i) => {
        const fin = i === parts.length - 1;
        const frame = encode({ fin, rsv: 0, opcode: i === 0 ? opcode : 0, masked: true, key, payload, lengthBits });
        const extra = between[i];
        return fin || extra === undefined ? [frame] : [frame, extra];
      }),
    ),
  );

/** A header announcing anything up to 2^64 - 1 bytes in the 64-bit form, with nothing behind it. */
const hugeHeader = fc
  .record({ first: fc.constantFrom(0x80, 0x81, 0x82, 0x00, 0x89), length: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), key: keys })
  .map(({ first, length, key }) => {
    const header = Buffer.alloc(14);
    header[0] = first;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(length, 2);
    header.set(key, 10);
    return Uint8Array.from(header);
  });

/** Fragmented messages run over this sooner than the valid sessions' limit. */
const ROUGH_MAX = 150;

describe('rough frames', () => {
  it('give the reference decoder’s events and verdict, whole or cut anywhere', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ weight: 20, arbitrary: roughFrame }, { weight: 8, arbitrary: roughMessage }, { weight: 1, arbitrary: hugeHeader }), {
          maxLength: 10,
        }),
        fc.nat(),
        splits,
        (frames, truncate, { cuts, byteByByte }) => {
          const body = concatAll(frames);
          // Sometimes the stream stops mid-frame.
          const cutBody = truncate % 3 === 0 ? body.subarray(0, truncate % (body.length + 1)) : body;
          const stream = concatAll([HEAD, cutBody]);
          const expected = reference(Uint8Array.from(cutBody), ROUGH_MAX);
          expected.events.unshift(['write', ACCEPTED], ['open', '/echo?x=1']);
          for (const got of [run(stream, (copy) => [copy], ROUGH_MAX), run(stream, (copy) => splitAt(copy, cuts, byteByByte), ROUGH_MAX)]) {
            expect(withoutCloseReasons(got.events)).toEqual(withoutCloseReasons(expected.events));
            expect(got.result).toBe(expected.result);
            expect(got.code).toBe(expected.code);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('garbage', () => {
  it('random bytes after a handshake never throw; a slot that ends leaves one close frame naming its code to write last', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), splits, (garbage, { cuts, byteByByte }) => {
        const stream = concatAll([HEAD, garbage]);
        for (const got of [whole(stream), run(stream, (copy) => splitAt(copy, cuts, byteByByte))]) {
          expect([CodecResult.OK, CodecResult.CLOSED, CodecResult.FAILED]).toContain(got.result);
          if (got.result === CodecResult.OK) continue;
          const last = got.events.at(-1)!;
          expect(last[0]).toBe('final');
          expect(got.events.filter((e) => e[0] === 'final')).toHaveLength(1);
          const frame = Buffer.from(last[1] as string, 'hex');
          expect(frame[0]).toBe(0x88);
          if (got.code !== 1005) expect(frame.readUInt16BE(2)).toBe(got.code);
          if (got.result === CodecResult.FAILED) expect([1002, 1007, 1009]).toContain(got.code);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('random bytes as a handshake never throw: still waiting, or refused with 400, 426 or 431 and an HTTP response', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.string({ maxLength: 200 }).map((s) => utf8(`GET / HTTP/1.1\r\n${s}\r\n\r\n`)),
        ),
        splits,
        (bytes, split) => {
          const got = run(bytes, (copy) => splitAt(copy, split.cuts, split.byteByByte));
          if (got.result === CodecResult.OK) {
            expect(got.events.filter((e) => e[0] === 'final')).toEqual([]);
            return;
          }
          expect(got.result).toBe(CodecResult.REFUSED);
          expect([400, 426, 431]).toContain(got.code);
          expect(got.events).toHaveLength(1);
          expect(Buffer.from(got.events[0]![1] as string, 'hex').toString('latin1')).toMatch(new RegExp(`^HTTP/1\\.1 ${got.code} `));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a half handshake waits, holding exactly what it was sent', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: HEAD.length - 1 }), (cut) => {
        const got = run(HEAD.subarray(0, cut), (copy) => [copy]);
        expect(got.result).toBe(CodecResult.OK);
        expect(got.events).toEqual([]);
        expect(got.codec.partialBytes(1)).toBe(cut);
        expect(got.codec.isOpen(1)).toBe(false);
      }),
    );
  });
});

describe('the codec facade', () => {
  it('close() before the handshake is done has nothing to write; after it, a close frame once', () => {
    const got = run(HEAD.subarray(0, 10), (copy) => [copy]);
    expect(got.codec.close(1, 1000)).toBeUndefined();
    got.codec.push(1, HEAD.subarray(10));
    expect(hex(got.codec.close(1, 1000, 'bye')!)).toBe(hex(encodeClose(1000, 'bye')));
    expect(got.codec.close(1, 1000)).toBeUndefined();
  });

  it('the peer’s close reason is available after CLOSED', () => {
    const payload = concatAll([Uint8Array.of(0x03, 0xe8), utf8('done, thanks')]);
    const got = whole(concatAll([HEAD, encode({ fin: true, rsv: 0, opcode: 8, masked: true, key: Uint8Array.of(1, 2, 3, 4), payload, lengthBits: 0 })]));
    expect(got.result).toBe(CodecResult.CLOSED);
    expect(got.code).toBe(1000);
    expect(got.codec.lastCloseReason).toBe('done, thanks');
  });

  it('a slot that failed repeats FAILED and its code until reset; then it needs a new handshake', () => {
    const got = whole(concatAll([HEAD, Uint8Array.of(0x81, 0x01, 0x41)]));
    expect(got.result).toBe(CodecResult.FAILED);
    expect(got.code).toBe(1002);
    expect(got.codec.push(1, Uint8Array.of(0x81, 0x80, 0, 0, 0, 0))).toBe(CodecResult.FAILED);
    got.codec.reset(1);
    expect(got.codec.isOpen(1)).toBe(false);
    expect(got.codec.closeCode(1)).toBe(0);
  });

  it('headers announcing huge frames on many connections cost what was sent, not what was announced', () => {
    const slots = 64;
    const codec = new WebSocketCodec(slots, { maxMessageBytes: 2 ** 30 }, { open() {}, message() {}, write() {} });
    const announce = Uint8Array.of(0x82, 0xff, 0, 0, 0, 0, 0x3f, 0xff, 0xff, 0xff, 1, 2, 3, 4);
    const before = process.memoryUsage().arrayBuffers;
    for (let slot = 0; slot < slots; slot++) {
      codec.push(slot, Uint8Array.from(HEAD));
      codec.push(slot, concatAll([announce, new Uint8Array(100)]));
      expect(codec.partialBytes(slot)).toBe(100);
    }
    // 64 x 1 GiB announced; each slot holds at most its 64 KiB first buffer.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(slots * 128 * 1024);
  });
});
