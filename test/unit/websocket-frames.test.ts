// WebSocket frames, byte by byte: the server's encoders
// (src/worker/protocols/websocket-frames.ts) and the frame parser
// (src/worker/protocols/websocket-parser.ts), each rule of RFC 6455
// section 5 with the close code the RFC names, starting from the RFC's own
// examples (section 5.7). Client frames are built here by a small reference
// encoder, independent of the code under test.
//
// The parser unmasks in place, so every push gets its own copy of the bytes.

import { describe, expect, it } from 'vitest';
import { FlamingoError } from '../../src/shared/errors.ts';
import {
  encodeClose,
  encodeFrame,
  encodePing,
  encodePong,
  frameHeader,
  frameHeaderLength,
  isValidCloseCode,
  writeFrameHeader,
} from '../../src/worker/protocols/websocket-frames.ts';
import { FrameParser, FrameResult } from '../../src/worker/protocols/websocket-parser.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytesOf = (hexText: string): Uint8Array => Uint8Array.from(Buffer.from(hexText.replace(/\s+/g, ''), 'hex'));
const utf8 = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'utf8'));

interface ClientFrame {
  opcode: number;
  payload?: Uint8Array;
  fin?: boolean;
  /** RSV bits, already in place (0x40, 0x20, 0x10). */
  rsv?: number;
  masked?: boolean;
  key?: readonly number[];
  /** Force a length encoding (the minimal one by default). */
  lengthBits?: 7 | 16 | 64;
  /** Announce this length instead of the payload's. */
  announce?: number | bigint;
}

/** A frame as a client sends it: masked unless told otherwise. */
function clientFrame(f: ClientFrame): Uint8Array {
  const payload = f.payload ?? new Uint8Array(0);
  const length = f.announce ?? payload.length;
  const bits = f.lengthBits ?? (length <= 125 ? 7 : length <= 0xffff ? 16 : 64);
  const masked = f.masked ?? true;
  const key = f.key ?? [0x37, 0xfa, 0x21, 0x3d];
  const header: number[] = [((f.fin ?? true) ? 0x80 : 0) | (f.rsv ?? 0) | f.opcode];
  const maskBit = masked ? 0x80 : 0;
  if (bits === 7) header.push(maskBit | Number(length));
  else if (bits === 16) header.push(maskBit | 126, (Number(length) >> 8) & 0xff, Number(length) & 0xff);
  else {
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    header.push(maskBit | 127, ...big);
  }
  if (masked) header.push(...key);
  const body = masked ? payload.map((b, i) => b ^ key[i % 4]!) : payload;
  return Uint8Array.from([...header, ...body]);
}

const text = (s: string, more: Partial<ClientFrame> = {}): Uint8Array => clientFrame({ opcode: 1, payload: utf8(s), ...more });
const binary = (payload: Uint8Array, more: Partial<ClientFrame> = {}): Uint8Array => clientFrame({ opcode: 2, payload, ...more });
const closeFrame = (code?: number, reason: Uint8Array = new Uint8Array(0)): Uint8Array => {
  if (code === undefined) return clientFrame({ opcode: 8 });
  const payload = new Uint8Array(2 + reason.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(reason, 2);
  return clientFrame({ opcode: 8, payload });
};

type Event = { kind: 'message'; hex: string; isText: boolean } | { kind: 'write' | 'final'; hex: string };

class Harness {
  readonly events: Event[] = [];
  readonly parser: FrameParser;
  constructor(maxMessageBytes = 1 << 20) {
    this.parser = new FrameParser(4, maxMessageBytes, {
      message: (_slot, payload, isText) => void this.events.push({ kind: 'message', hex: hex(payload), isText }),
      write: (_slot, bytes) => void this.events.push({ kind: 'write', hex: hex(bytes) }),
    });
  }
  /** Pushes a copy of each read; returns the last result. */
  push(...reads: Uint8Array[]): number {
    let result: number = FrameResult.OK;
    for (const read of reads) {
      result = this.parser.push(0, Uint8Array.from(read));
      const final = this.parser.finalBytes;
      if (final !== undefined) this.events.push({ kind: 'final', hex: hex(final) });
    }
    return result;
  }
  /** Pushes `stream` one byte per read. */
  trickle(stream: Uint8Array): number {
    return this.push(...Array.from(stream, (b) => Uint8Array.of(b)));
  }
  messages(): Array<[string, boolean]> {
    return this.events.flatMap((e) => (e.kind === 'message' ? [[e.hex, e.isText] as [string, boolean]] : []));
  }
  /** What went to sink.write: pongs. */
  writes(): string[] {
    return this.events.flatMap((e) => (e.kind === 'write' ? [e.hex] : []));
  }
  /** The bytes to write last that pushes left in finalBytes: close frames. */
  finals(): string[] {
    return this.events.flatMap((e) => (e.kind === 'final' ? [e.hex] : []));
  }
}

/** The close frame the server writes: FIN+close, length, code, reason. */
const serverClose = (code: number): RegExp => new RegExp(`^88[0-7][0-9a-f]${code.toString(16).padStart(4, '0')}`);

/** Asserts that `stream`, whole and one byte per read, fails the connection with `code` and delivers `delivered`. */
function expectFailure(stream: Uint8Array, code: number, delivered: Array<[string, boolean]> = [], maxMessageBytes?: number): void {
  for (const mode of ['whole', 'byte by byte']) {
    const h = new Harness(maxMessageBytes);
    const result = mode === 'whole' ? h.push(stream) : h.trickle(stream);
    expect(result, mode).toBe(FrameResult.FAILED);
    expect(h.parser.closeCodes[0], mode).toBe(code);
    expect(h.messages(), mode).toEqual(delivered);
    expect(h.writes(), mode).toEqual([]);
    expect(h.finals(), mode).toHaveLength(1);
    expect(h.finals()[0], mode).toMatch(serverClose(code));
    expect(h.parser.partialBytes(0), mode).toBe(0);
  }
}

describe('the RFC 6455 examples (section 5.7)', () => {
  it('a single-frame masked text message "Hello"', () => {
    const h = new Harness();
    expect(h.push(bytesOf('81 85 37 fa 21 3d 7f 9f 4d 51 58'))).toBe(FrameResult.OK);
    expect(h.messages()).toEqual([[hex(utf8('Hello')), true]]);
    expect(h.writes()).toEqual([]);
  });

  it('a single-frame unmasked text message is refused from a client: 1002', () => {
    expectFailure(bytesOf('81 05 48 65 6c 6c 6f'), 1002);
  });

  it('the server encodes "Hello" exactly as the RFC’s unmasked example', () => {
    expect(hex(encodeFrame(utf8('Hello'), true))).toBe('810548656c6c6f');
  });

  it('a fragmented text message ("Hel" then "lo"), masked as a client sends it', () => {
    const h = new Harness();
    h.push(clientFrame({ opcode: 1, fin: false, payload: utf8('Hel') }), clientFrame({ opcode: 0, payload: utf8('lo') }));
    expect(h.messages()).toEqual([[hex(utf8('Hello')), true]]);
  });

  it('a masked ping "Hello" is answered by an unmasked pong with the same payload (the RFC’s ping example, reversed)', () => {
    const h = new Harness();
    h.push(clientFrame({ opcode: 9, payload: utf8('Hello') }));
    expect(h.writes()).toEqual(['8a0548656c6c6f']);
    expect(h.messages()).toEqual([]);
  });

  it('the RFC’s masked pong is ignored', () => {
    const h = new Harness();
    expect(h.push(bytesOf('8a 85 37 fa 21 3d 7f 9f 4d 51 58'))).toBe(FrameResult.OK);
    expect(h.events).toEqual([]);
  });

  it('an unmasked ping (the RFC’s, which a server sends) is refused from a client: 1002', () => {
    expectFailure(bytesOf('89 05 48 65 6c 6c 6f'), 1002);
  });

  it('256 bytes binary in one frame: the 16-bit length 0x7e 0x0100', () => {
    const payload = new Uint8Array(256).map((_, i) => i);
    expect(hex(encodeFrame(payload, false).subarray(0, 4))).toBe('827e0100');
    const frame = binary(payload);
    expect(hex(frame.subarray(0, 4))).toBe('82fe0100');
    const h = new Harness();
    h.push(frame);
    expect(h.messages()).toEqual([[hex(payload), false]]);
  });

  it('64 KiB binary in one frame: the 64-bit length 0x7f 0x0000000000010000', () => {
    const payload = new Uint8Array(65536).map((_, i) => i * 7);
    expect(hex(encodeFrame(payload, false).subarray(0, 10))).toBe('827f0000000000010000');
    const h = new Harness();
    h.push(binary(payload));
    expect(h.messages()).toEqual([[hex(payload), false]]);
  });
});

describe('the encoders (server frames: unmasked, one frame per message)', () => {
  it.each([
    [0, '8200'],
    [125, '827d'],
    [126, '827e007e'],
    [65535, '827effff'],
    [65536, '827f0000000000010000'],
    [2 ** 32 + 5, '827f0000000100000005'],
  ])('a %i-byte binary header is %s', (length, expected) => {
    expect(hex(frameHeader(length, false))).toBe(expected);
    expect(frameHeaderLength(length)).toBe(expected.length / 2);
  });

  it('a text header has opcode 1', () => {
    expect(hex(frameHeader(3, true))).toBe('8103');
  });

  it('encodeFrame is frameHeader followed by the payload', () => {
    for (const length of [0, 1, 125, 126, 300, 65535, 65536, 70000]) {
      const payload = new Uint8Array(length).map((_, i) => i ^ 0x5a);
      expect(hex(encodeFrame(payload, length % 2 === 0))).toBe(hex(frameHeader(length, length % 2 === 0)) + hex(payload));
    }
  });

  it('writeFrameHeader writes at an offset and returns the header length', () => {
    const target = new Uint8Array(16).fill(0xee);
    expect(writeFrameHeader(target, 3, 0x2, 300)).toBe(4);
    expect(hex(target)).toBe('eeeeee827e012ceeeeeeeeeeeeeeeeee');
  });

  it('encodePing and encodePong carry up to 125 bytes; more throws ERR_FLAMINGO_INVALID_PAYLOAD', () => {
    expect(hex(encodePing())).toBe('8900');
    expect(hex(encodePing(Uint8Array.of(1, 2)))).toBe('89020102');
    expect(hex(encodePong(Uint8Array.of(9)))).toBe('8a0109');
    expect(encodePing(new Uint8Array(125))).toHaveLength(127);
    expect(() => encodePing(new Uint8Array(126))).toThrow(FlamingoError);
    expect(() => encodePong(new Uint8Array(126))).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_INVALID_PAYLOAD' }));
  });

  it('encodeClose: a code and a UTF-8 reason; no code gives an empty close frame', () => {
    expect(hex(encodeClose())).toBe('8800');
    expect(hex(encodeClose(1000))).toBe('880203e8');
    expect(hex(encodeClose(4000, 'bye'))).toBe(`8805${'0fa0'}${hex(utf8('bye'))}`);
    expect(hex(encodeClose(1001, 'é'))).toBe(`880403e9${hex(utf8('é'))}`);
  });

  it('encodeClose: the reason may take 123 bytes of UTF-8, not 124; invalid codes throw', () => {
    expect(encodeClose(1000, 'x'.repeat(123))).toHaveLength(127);
    expect(() => encodeClose(1000, 'x'.repeat(124))).toThrow(FlamingoError);
    expect(() => encodeClose(1000, 'é'.repeat(62))).toThrow(/123 bytes/);
    for (const code of [0, 999, 1004, 1006, 1015, 2000, 5000, 1000.5]) expect(() => encodeClose(code), String(code)).toThrow(FlamingoError);
    expect(() => encodeClose(1005, 'why')).toThrow(FlamingoError);
  });

  it('isValidCloseCode: 1000-1003, 1007-1014 and 3000-4999 only', () => {
    const valid = [];
    for (let code = 0; code < 6000; code++) if (isValidCloseCode(code)) valid.push(code);
    const expected = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014];
    for (let code = 3000; code <= 4999; code++) expected.push(code);
    expect(valid).toEqual(expected);
  });
});

describe('payload lengths', () => {
  it.each([0, 1, 125, 126, 127, 65535, 65536, 100_000])('a %i-byte binary message arrives whole, whole or cut into reads', (length) => {
    const payload = new Uint8Array(length).map((_, i) => (i * 31) & 0xff);
    const frame = binary(payload);
    for (const reads of [[frame], [frame.subarray(0, 3), frame.subarray(3)], [frame.subarray(0, frame.length - 1), frame.subarray(frame.length - 1)]]) {
      const h = new Harness();
      expect(h.push(...reads)).toBe(FrameResult.OK);
      expect(h.messages()).toEqual([[hex(payload), false]]);
    }
  });

  it('a longer length encoding than needed is accepted (16 and 64 bits for 5 bytes)', () => {
    const h = new Harness();
    h.push(text('short', { lengthBits: 16 }), text('again', { lengthBits: 64 }));
    expect(h.messages()).toEqual([
      [hex(utf8('short')), true],
      [hex(utf8('again')), true],
    ]);
  });

  it('a message of exactly maxMessageBytes is delivered; one byte more fails with 1009', () => {
    const h = new Harness(100);
    h.push(binary(new Uint8Array(100)));
    expect(h.messages()).toHaveLength(1);
    expectFailure(binary(new Uint8Array(101)), 1009, [], 100);
  });

  it('an oversize length fails with 1009 as soon as the header is read, before any payload', () => {
    const h = new Harness(1000);
    expect(h.push(clientFrame({ opcode: 2, announce: 1_000_000 }))).toBe(FrameResult.FAILED);
    expect(h.parser.closeCodes[0]).toBe(1009);
    expect(h.finals()).toEqual([hex(encodeClose(1009, 'message too big'))]);
  });

  it('a 64-bit length of 2^53 or more (or with its top bit set) fails with 1009 without buffering', () => {
    for (const announce of [2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]) {
      const h = new Harness(Number.MAX_SAFE_INTEGER);
      expect(h.push(clientFrame({ opcode: 2, announce, lengthBits: 64 })), String(announce)).toBe(FrameResult.FAILED);
      expect(h.parser.closeCodes[0]).toBe(1009);
      expect(h.parser.partialBytes(0)).toBe(0);
    }
  });

  it('2^53 - 1 is a length like any other: under a large enough limit the frame just waits for its payload', () => {
    const h = new Harness(Number.MAX_SAFE_INTEGER);
    expect(h.push(clientFrame({ opcode: 2, announce: 2n ** 53n - 1n, lengthBits: 64 }), Uint8Array.of(1, 2, 3))).toBe(FrameResult.OK);
    expect(h.parser.partialBytes(0)).toBeGreaterThan(0);
  });

  it('a fragmented message is limited as a whole: the continuation that takes it over fails with 1009', () => {
    const stream = Buffer.concat([binary(new Uint8Array(60), { fin: false }), clientFrame({ opcode: 0, payload: new Uint8Array(41) })]);
    expectFailure(stream, 1009, [], 100);
    const h = new Harness(100);
    h.push(binary(new Uint8Array(60), { fin: false }), clientFrame({ opcode: 0, fin: false, payload: new Uint8Array(30) }));
    h.push(clientFrame({ opcode: 0, payload: new Uint8Array(10) }));
    expect(h.messages()).toEqual([[hex(new Uint8Array(100)), false]]);
  });
});

describe('framing rules (1002)', () => {
  it.each([
    ['RSV1 (a compressed frame: no extension was agreed)', 0x40],
    ['RSV2', 0x20],
    ['RSV3', 0x10],
  ])('%s set fails with 1002', (_name, rsv) => {
    expectFailure(text('x', { rsv }), 1002);
    expectFailure(clientFrame({ opcode: 9, rsv }), 1002);
  });

  it.each([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf])('opcode %i is unknown: 1002', (opcode) => {
    expectFailure(clientFrame({ opcode, payload: Uint8Array.of(1) }), 1002);
  });

  it('an unmasked binary, close or pong frame fails with 1002', () => {
    expectFailure(binary(Uint8Array.of(1), { masked: false }), 1002);
    expectFailure(clientFrame({ opcode: 8, masked: false }), 1002);
    expectFailure(clientFrame({ opcode: 10, masked: false }), 1002);
  });

  it('a fragmented control frame fails with 1002', () => {
    for (const opcode of [8, 9, 10]) expectFailure(clientFrame({ opcode, fin: false }), 1002);
  });

  it('a control frame over 125 bytes fails with 1002, whatever length encoding it uses', () => {
    expectFailure(clientFrame({ opcode: 9, payload: new Uint8Array(126) }), 1002);
    expectFailure(clientFrame({ opcode: 9, payload: new Uint8Array(5), lengthBits: 16 }), 1002);
    const h = new Harness();
    h.push(clientFrame({ opcode: 9, payload: new Uint8Array(125).fill(7) }));
    expect(h.writes()).toEqual([`8a7d${'07'.repeat(125)}`]);
  });

  it('a continuation with no message started fails with 1002', () => {
    expectFailure(clientFrame({ opcode: 0, payload: utf8('x') }), 1002);
    expectFailure(Buffer.concat([text('done'), clientFrame({ opcode: 0, payload: utf8('x') })]), 1002, [[hex(utf8('done')), true]]);
  });

  it('a new text or binary frame inside a fragmented message fails with 1002', () => {
    expectFailure(Buffer.concat([text('a', { fin: false }), text('b')]), 1002);
    expectFailure(Buffer.concat([text('a', { fin: false }), binary(Uint8Array.of(1))]), 1002);
  });

  it('control frames may come between fragments: answered at once, the message intact', () => {
    const h = new Harness();
    h.push(
      text('He', { fin: false }),
      clientFrame({ opcode: 9, payload: utf8('p') }),
      clientFrame({ opcode: 0, fin: false, payload: utf8('l') }),
      clientFrame({ opcode: 10, payload: utf8('q') }),
      clientFrame({ opcode: 0, payload: utf8('lo') }),
    );
    expect(h.events).toEqual([
      { kind: 'write', hex: '8a0170' },
      { kind: 'message', hex: hex(utf8('Hello')), isText: true },
    ]);
  });

  it('empty messages and empty fragments are messages like any other', () => {
    const h = new Harness();
    h.push(text(''), binary(new Uint8Array(0)), text('', { fin: false }), clientFrame({ opcode: 0, fin: false }), clientFrame({ opcode: 0 }));
    expect(h.messages()).toEqual([
      ['', true],
      ['', false],
      ['', true],
    ]);
  });
});

describe('UTF-8 in text messages (1007)', () => {
  const invalid: Array<[string, string]> = [
    ['a lone continuation byte', '80'],
    ['an overlong encoding of "/"', 'c0af'],
    ['an overlong 3-byte form', 'e08080'],
    ['a surrogate', 'eda080'],
    ['a code point past U+10FFFF', 'f4908080'],
    ['a byte that never occurs in UTF-8', 'ff'],
    ['a character cut short at the end', 'e282'],
  ];

  it.each(invalid)('%s fails with 1007', (_name, bytes) => {
    expectFailure(clientFrame({ opcode: 1, payload: bytesOf(`41${bytes}`) }), 1007);
  });

  it('invalid UTF-8 in a binary message is just bytes', () => {
    const h = new Harness();
    h.push(binary(bytesOf('c0afff')));
    expect(h.messages()).toEqual([['c0afff', false]]);
  });

  it('valid text of 1 to 4-byte characters, short (ASCII fast path) and long, passes', () => {
    const h = new Harness();
    const samples = ['plain ascii', 'a'.repeat(500), 'é€𝄞 mixed', `${'b'.repeat(100)}€`];
    h.push(...samples.map((s) => text(s)));
    expect(h.messages()).toEqual(samples.map((s) => [hex(utf8(s)), true]));
  });

  it('a character split across fragments is valid', () => {
    const euro = utf8('€'); // e2 82 ac
    for (let cut = 1; cut < euro.length; cut++) {
      const h = new Harness();
      h.push(clientFrame({ opcode: 1, fin: false, payload: euro.subarray(0, cut) }), clientFrame({ opcode: 0, payload: euro.subarray(cut) }));
      expect(h.messages()).toEqual([[hex(euro), true]]);
    }
  });

  it('invalid UTF-8 in a first fragment fails at once, before the message ends', () => {
    const h = new Harness();
    expect(h.push(clientFrame({ opcode: 1, fin: false, payload: bytesOf('41c0') }))).toBe(FrameResult.FAILED);
    expect(h.parser.closeCodes[0]).toBe(1007);
  });

  it('a fragment ending in a prefix no character has (ED A0: a surrogate) fails at once', () => {
    const h = new Harness();
    expect(h.push(clientFrame({ opcode: 1, fin: false, payload: bytesOf('41eda0') }))).toBe(FrameResult.FAILED);
    expect(h.parser.closeCodes[0]).toBe(1007);
  });

  it('a message whose last fragment leaves a character unfinished fails with 1007', () => {
    expectFailure(Buffer.concat([clientFrame({ opcode: 1, fin: false, payload: bytesOf('41e2') }), clientFrame({ opcode: 0, payload: bytesOf('82') })]), 1007);
  });

  it('text in one frame cut into reads is checked as it arrives', () => {
    const h = new Harness();
    const frame = clientFrame({ opcode: 1, payload: bytesOf(`${'41'.repeat(50)}c0${'41'.repeat(50)}`) });
    expect(h.push(frame.subarray(0, 60))).toBe(FrameResult.FAILED);
    expect(h.parser.closeCodes[0]).toBe(1007);
  });
});

describe('the closing handshake', () => {
  it('a close with a code and reason: CLOSED, the code echoed, the reason kept', () => {
    const h = new Harness();
    expect(h.push(closeFrame(1000, utf8('bye')))).toBe(FrameResult.CLOSED);
    expect(h.parser.closeCodes[0]).toBe(1000);
    expect(h.parser.lastCloseReason).toBe('bye');
    expect(h.finals()).toEqual(['880203e8']);
    expect(h.writes()).toEqual([]);
  });

  it('an empty close: CLOSED with 1005, answered by an empty close', () => {
    const h = new Harness();
    expect(h.push(closeFrame())).toBe(FrameResult.CLOSED);
    expect(h.parser.closeCodes[0]).toBe(1005);
    expect(h.finals()).toEqual(['8800']);
  });

  it.each([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])('code %i is valid and echoed', (code) => {
    const h = new Harness();
    expect(h.push(closeFrame(code))).toBe(FrameResult.CLOSED);
    expect(h.finals()).toEqual([hex(encodeClose(code))]);
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])('code %i fails with 1002', (code) => {
    expectFailure(closeFrame(code), 1002);
  });

  it('a 1-byte close payload fails with 1002', () => {
    expectFailure(clientFrame({ opcode: 8, payload: Uint8Array.of(3) }), 1002);
  });

  it('a close reason that is not UTF-8 fails with 1007', () => {
    expectFailure(closeFrame(1000, bytesOf('c0af')), 1007);
  });

  it('after the peer’s close nothing more is delivered or answered, and push repeats CLOSED', () => {
    const h = new Harness();
    expect(h.push(Buffer.concat([text('before'), closeFrame(1000), text('after'), clientFrame({ opcode: 9 })]))).toBe(FrameResult.CLOSED);
    expect(h.push(text('later'))).toBe(FrameResult.CLOSED);
    expect(h.parser.finalBytes).toBeUndefined();
    expect(h.events).toEqual([
      { kind: 'message', hex: hex(utf8('before')), isText: true },
      { kind: 'final', hex: '880203e8' },
    ]);
  });

  it('after a failure nothing more is delivered or written, and push repeats FAILED', () => {
    const h = new Harness();
    expect(h.push(Buffer.concat([text('x', { masked: false }), text('after')]))).toBe(FrameResult.FAILED);
    expect(h.push(text('later'))).toBe(FrameResult.FAILED);
    expect(h.messages()).toEqual([]);
    expect(h.finals()).toHaveLength(1);
  });

  it('close() from this side: its frame, then messages are discarded and pings unanswered until the peer’s close', () => {
    const h = new Harness();
    expect(hex(h.parser.close(0, 1001, 'going')!)).toBe(hex(encodeClose(1001, 'going')));
    expect(h.parser.close(0, 1000)).toBeUndefined();
    expect(h.push(text('late'), clientFrame({ opcode: 9 }))).toBe(FrameResult.OK);
    expect(h.push(closeFrame(1001))).toBe(FrameResult.CLOSED);
    expect(h.parser.closeCodes[0]).toBe(1001);
    expect(h.events).toEqual([]);
  });

  it('close() with an invalid code throws and changes nothing', () => {
    const h = new Harness();
    expect(() => h.parser.close(0, 1006)).toThrow(FlamingoError);
    h.push(text('still open'));
    expect(h.messages()).toHaveLength(1);
    expect(h.parser.close(0)).toEqual(encodeClose());
  });

  it('a protocol error after close() ends the slot without a second close frame', () => {
    const h = new Harness();
    h.parser.close(0, 1000);
    expect(h.push(text('x', { masked: false }))).toBe(FrameResult.FAILED);
    expect(h.events).toEqual([]);
  });

  it('reset makes the slot open again', () => {
    const h = new Harness();
    h.push(closeFrame(1000));
    h.parser.reset(0);
    expect(h.parser.closeCodes[0]).toBe(0);
    expect(h.push(text('new'))).toBe(FrameResult.OK);
    expect(h.messages()).toEqual([[hex(utf8('new')), true]]);
  });
});

describe('buffers', () => {
  it('a frame whole in one read is unmasked in place and delivered as a view of the read', () => {
    const read = Buffer.concat([text('first'), binary(Uint8Array.of(1, 2, 3))]);
    const views: Uint8Array[] = [];
    const parser = new FrameParser(1, 1000, { message: (_s, payload) => void views.push(payload), write() {} });
    parser.push(0, read);
    expect(views.every((v) => v.buffer === read.buffer)).toBe(true);
    expect(Buffer.from(read.subarray(6, 11)).toString()).toBe('first');
  });

  it('a read that ends inside a frame is left as it was; the frame is assembled in the parser’s own buffer', () => {
    const frame = binary(Uint8Array.of(1, 2, 3, 4, 5));
    const first = Uint8Array.from(frame.subarray(0, 9));
    const second = Uint8Array.from(frame.subarray(9));
    const before = hex(first) + hex(second);
    const views: Uint8Array[] = [];
    const parser = new FrameParser(1, 1000, { message: (_s, payload) => void views.push(payload), write() {} });
    parser.push(0, first);
    parser.push(0, second);
    expect(hex(first) + hex(second)).toBe(before);
    expect(views[0]!.buffer).not.toBe(first.buffer);
    expect(hex(views[0]!)).toBe('0102030405');
  });

  it('partialBytes counts a cut header, a cut frame and a fragmented message exactly, and is 0 between messages', () => {
    const h = new Harness();
    const frame = binary(new Uint8Array(10), { fin: false });
    h.push(frame.subarray(0, 3));
    expect(h.parser.partialBytes(0)).toBe(3);
    h.push(frame.subarray(3, 10));
    expect(h.parser.partialBytes(0)).toBe(4);
    h.push(frame.subarray(10));
    expect(h.parser.partialBytes(0)).toBe(10);
    h.push(clientFrame({ opcode: 9, payload: new Uint8Array(5) }).subarray(0, 8));
    expect(h.parser.partialBytes(0)).toBe(12);
    h.push(clientFrame({ opcode: 9, payload: new Uint8Array(5) }).subarray(8));
    h.push(clientFrame({ opcode: 0, payload: new Uint8Array(1) }));
    expect(h.parser.partialBytes(0)).toBe(0);
    expect(h.messages()).toHaveLength(1);
  });

  it('slots are independent, even interleaved byte by byte', () => {
    const seen: Array<[number, string]> = [];
    const parser = new FrameParser(3, 1000, { message: (slot, payload) => void seen.push([slot, Buffer.from(payload).toString()]), write() {} });
    const a = Buffer.concat([text('alpha', { fin: false }), clientFrame({ opcode: 0, payload: utf8('-one') })]);
    const b = Buffer.concat([text('beta'), text('gamma')]);
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i < a.length) parser.push(1, a.subarray(i, i + 1));
      if (i < b.length) parser.push(2, b.subarray(i, i + 1));
    }
    expect(seen.filter(([slot]) => slot === 1)).toEqual([[1, 'alpha-one']]);
    expect(seen.filter(([slot]) => slot === 2)).toEqual([
      [2, 'beta'],
      [2, 'gamma'],
    ]);
  });
});
