// The WebSocket opening handshake (src/worker/protocols/websocket-handshake.ts)
// through the codec's push: the upgrade request collected from reads cut
// anywhere, judged rule by rule (400, 426 with the version header, 431 past
// the head cap), the 101 with its Accept key and chosen subprotocol, the
// extensions declined, the path and captured headers handed to open, and the
// bytes behind the head handed on to the frame parser.
//
// Accept keys are checked against the RFC's example and against SHA-1 from
// node:crypto computed here, independently of the code under test.

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecResult, type UpgradeRequest, WebSocketCodec, type WebSocketOptions, acceptKey } from '../../src/worker/protocols/websocket-codec.ts';
import { HEAD_INCOMPLETE, HEAD_TOO_LARGE, HeadReader } from '../../src/worker/protocols/websocket-handshake.ts';
import { FlamingoError } from '../../src/shared/errors.ts';
import { splitAt, splits } from '../helpers/framer-harness.ts';

const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

type Event =
  | { kind: 'open'; slot: number; request: UpgradeRequest }
  | { kind: 'message'; slot: number; text: string }
  | { kind: 'write'; slot: number; text: string };

class Recorder {
  readonly events: Event[] = [];
  readonly sink = {
    open: (slot: number, request: UpgradeRequest): void => void this.events.push({ kind: 'open', slot, request: structuredClone(request) }),
    message: (slot: number, payload: Uint8Array): void => void this.events.push({ kind: 'message', slot, text: Buffer.from(payload).toString('latin1') }),
    write: (slot: number, bytes: Uint8Array): void => void this.events.push({ kind: 'write', slot, text: Buffer.from(bytes).toString('latin1') }),
  };
  writes(slot = 0): string[] {
    return this.events.flatMap((e) => (e.kind === 'write' && e.slot === slot ? [e.text] : []));
  }
  opens(slot = 0): UpgradeRequest[] {
    return this.events.flatMap((e) => (e.kind === 'open' && e.slot === slot ? [e.request] : []));
  }
}

function codecWith(options: Partial<WebSocketOptions> = {}) {
  const recorder = new Recorder();
  const codec = new WebSocketCodec(8, { maxMessageBytes: 1 << 20, ...options }, recorder.sink);
  return { codec, recorder };
}

const DEFAULT_HEADERS: Record<string, string> = {
  Host: 'server.example.com',
  Upgrade: 'websocket',
  Connection: 'Upgrade',
  'Sec-WebSocket-Key': RFC_KEY,
  'Sec-WebSocket-Version': '13',
};

/** An upgrade request head: the defaults with `changes` applied (undefined removes a header), then `extra` lines. */
function request(changes: Record<string, string | undefined> = {}, requestLine = 'GET /chat HTTP/1.1', extra: string[] = []): Buffer {
  const headers = { ...DEFAULT_HEADERS, ...changes };
  const lines = [requestLine, ...Object.entries(headers).flatMap(([name, value]) => (value === undefined ? [] : [`${name}: ${value}`])), ...extra];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

interface Response {
  status: number;
  headers: Map<string, string>;
  body: string;
}

function parseResponse(text: string): Response {
  const end = text.indexOf('\r\n\r\n');
  expect(end, 'a response head ends with a blank line').toBeGreaterThan(0);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  expect(statusLine).toMatch(/^HTTP\/1\.1 \d{3} [A-Za-z ]+$/);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4) };
}

/** Feeds `bytes` to slot 0 in the given reads; returns the last result. */
function feed(codec: WebSocketCodec, reads: readonly Uint8Array[], slot = 0): number {
  let result: number = CodecResult.OK;
  for (const read of reads) result = codec.push(slot, Uint8Array.from(read));
  return result;
}

/** The response of a refused handshake, parsed: left in finalBytes, nothing written before it. */
function refusalOf(head: Uint8Array, options: Partial<WebSocketOptions> = {}): Response {
  const { codec, recorder } = codecWith(options);
  expect(codec.push(0, head)).toBe(CodecResult.REFUSED);
  expect(recorder.events).toEqual([]);
  expect(codec.finalBytes).toBeDefined();
  const response = parseResponse(Buffer.from(codec.finalBytes!).toString('latin1'));
  expect(response.headers.get('connection')).toBe('close');
  expect(Number(response.headers.get('content-length'))).toBe(Buffer.byteLength(response.body));
  return response;
}

describe('the Accept key', () => {
  it("is the RFC's example for the RFC's example key", () => {
    expect(acceptKey(RFC_KEY)).toBe(RFC_ACCEPT);
  });

  it('is base64(SHA-1(key + the RFC 6455 GUID)) for any key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (nonce) => {
        const key = Buffer.from(nonce).toString('base64');
        const expected = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        expect(acceptKey(key)).toBe(expected);
      }),
    );
  });
});

describe('an acceptable upgrade request', () => {
  it("the RFC's example request gets exactly a 101 with the example Accept key, then open", () => {
    const { codec, recorder } = codecWith();
    const head = request({ Origin: 'http://example.com', 'Sec-WebSocket-Protocol': 'chat, superchat' });
    expect(codec.push(0, head)).toBe(CodecResult.OK);
    expect(recorder.events.map((e) => e.kind)).toEqual(['write', 'open']);
    expect(recorder.writes()).toEqual([
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${RFC_ACCEPT}\r\n\r\n`,
    ]);
    expect(recorder.opens()).toEqual([{ path: '/chat', headers: { origin: 'http://example.com' }, subprotocol: '' }]);
    expect(codec.isOpen(0)).toBe(true);
    expect(codec.partialBytes(0)).toBe(0);
  });

  it('the path keeps its query exactly as sent', () => {
    const { codec, recorder } = codecWith();
    codec.push(0, request({}, 'GET /rooms/7/ws?token=a%20b&x=1 HTTP/1.1'));
    expect(recorder.opens()[0]!.path).toBe('/rooms/7/ws?token=a%20b&x=1');
  });

  it('header names and the Upgrade and Connection tokens are case-insensitive; Connection may list other tokens', () => {
    const { codec, recorder } = codecWith();
    const head = Buffer.from(
      `GET / HTTP/1.1\r\nhost: a\r\nUPGRADE: WebSocket\r\nconnection: keep-alive, Upgrade\r\nsec-websocket-key: ${RFC_KEY}\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n`,
    );
    expect(codec.push(0, head)).toBe(CodecResult.OK);
    expect(parseResponse(recorder.writes()[0]!).status).toBe(101);
  });

  it('Content-Length: 0 is no body, and is accepted', () => {
    expect(codecWith().codec.push(0, request({ 'Content-Length': '0' }))).toBe(CodecResult.OK);
  });

  it('a request without Host is accepted (nothing here needs it)', () => {
    const { codec } = codecWith();
    expect(codec.push(0, request({ Host: undefined }))).toBe(CodecResult.OK);
    expect(codec.isOpen(0)).toBe(true);
  });

  it('fed one byte per read, it is answered once, at the last byte', () => {
    const { codec, recorder } = codecWith();
    const head = request({ Cookie: 'a=1' });
    for (let i = 0; i < head.length; i++) {
      expect(codec.push(0, head.subarray(i, i + 1))).toBe(CodecResult.OK);
      expect(recorder.events).toHaveLength(i === head.length - 1 ? 2 : 0);
      expect(codec.partialBytes(0)).toBe(i === head.length - 1 ? 0 : i + 1);
    }
    expect(parseResponse(recorder.writes()[0]!).headers.get('sec-websocket-accept')).toBe(RFC_ACCEPT);
    expect(recorder.opens()[0]!.headers).toEqual({ cookie: 'a=1' });
  });

  it('cut into reads anywhere, it gets the same answer and the same open', () => {
    const whole = codecWith();
    const head = request({ Origin: 'https://a.example', Authorization: 'Bearer x', 'Sec-WebSocket-Protocol': 'v2, v1' }, 'GET /x?y=z HTTP/1.1');
    whole.codec.push(0, Uint8Array.from(head));
    fc.assert(
      fc.property(splits, ({ cuts, byteByByte }) => {
        const { codec, recorder } = codecWith({ subprotocols: ['v1', 'v2'] });
        const reference = codecWith({ subprotocols: ['v1', 'v2'] });
        reference.codec.push(0, Uint8Array.from(head));
        expect(feed(codec, splitAt(head, cuts, byteByByte))).toBe(CodecResult.OK);
        expect(recorder.events).toEqual(reference.recorder.events);
      }),
    );
  });

  it('a frame sent right behind the request, in the same read, is parsed after open', () => {
    const { codec, recorder } = codecWith();
    // The RFC's masked "Hello" text frame.
    const frame = Uint8Array.of(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58);
    expect(codec.push(0, Buffer.concat([request(), frame]))).toBe(CodecResult.OK);
    expect(recorder.events.map((e) => e.kind)).toEqual(['write', 'open', 'message']);
    expect(recorder.events[2]).toEqual({ kind: 'message', slot: 0, text: 'Hello' });
  });

  it('a frame behind a request that was cut across reads is parsed too, wherever the last cut falls', () => {
    const frame = Uint8Array.of(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58);
    const stream = Buffer.concat([request(), frame]);
    for (let cut = 1; cut < stream.length; cut++) {
      const { codec, recorder } = codecWith();
      feed(codec, [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(recorder.events.map((e) => e.kind)).toEqual(['write', 'open', 'message']);
      expect(recorder.events[2]).toEqual({ kind: 'message', slot: 0, text: 'Hello' });
    }
  });

  it('slots collect their requests independently, even interleaved byte by byte', () => {
    const { codec, recorder } = codecWith();
    const a = request({}, 'GET /a HTTP/1.1');
    const b = request({ Origin: 'o' }, 'GET /b HTTP/1.1');
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i < a.length) codec.push(1, a.subarray(i, i + 1));
      if (i < b.length) codec.push(2, b.subarray(i, i + 1));
    }
    expect(recorder.opens(1)).toEqual([{ path: '/a', headers: {}, subprotocol: '' }]);
    expect(recorder.opens(2)).toEqual([{ path: '/b', headers: { origin: 'o' }, subprotocol: '' }]);
  });

  it('after reset the slot starts over with a new handshake', () => {
    const { codec, recorder } = codecWith();
    codec.push(0, request());
    codec.reset(0);
    expect(codec.isOpen(0)).toBe(false);
    codec.push(0, request({}, 'GET /again HTTP/1.1'));
    expect(recorder.opens().map((r) => r.path)).toEqual(['/chat', '/again']);
  });
});

describe('captured headers', () => {
  it('by default Origin, Cookie and Authorization, by lower-case name, and only those present', () => {
    const { codec, recorder } = codecWith();
    codec.push(0, request({ Origin: 'https://app.example', Cookie: 'sid=1', 'User-Agent': 'test', 'X-Other': 'no' }));
    expect(recorder.opens()[0]!.headers).toEqual({ origin: 'https://app.example', cookie: 'sid=1' });
  });

  it('a configured list replaces the default, names in any case', () => {
    const { codec, recorder } = codecWith({ captureHeaders: ['X-Forwarded-For', 'user-agent'] });
    codec.push(0, request({ Origin: 'o', 'x-forwarded-for': '10.0.0.1', 'User-Agent': 'ua/1.0' }));
    expect(recorder.opens()[0]!.headers).toEqual({ 'x-forwarded-for': '10.0.0.1', 'user-agent': 'ua/1.0' });
  });

  it('a repeated header is joined with ", ", Cookie with "; "; values are trimmed of spaces and tabs', () => {
    const { codec, recorder } = codecWith({ captureHeaders: ['cookie', 'x-tag'] });
    codec.push(0, request({}, 'GET / HTTP/1.1', ['Cookie:  a=1 ', 'x-tag: one', 'Cookie:\tb=2\t', 'X-Tag: two']));
    expect(recorder.opens()[0]!.headers).toEqual({ cookie: 'a=1; b=2', 'x-tag': 'one, two' });
  });

  it('bytes above 0x7f in a value come through as latin1, like Node’s HTTP parser', () => {
    const { codec, recorder } = codecWith({ captureHeaders: ['x-name'] });
    codec.push(0, Buffer.concat([request({}, 'GET / HTTP/1.1', ['X-Name: caf\u00e9'])]));
    expect(recorder.opens()[0]!.headers).toEqual({ 'x-name': 'caf\u00e9' });
  });
});

describe('subprotocols', () => {
  it("the client's first choice that the server speaks is chosen and named in the 101", () => {
    const { codec, recorder } = codecWith({ subprotocols: ['mqtt', 'chat.v1', 'chat.v2'] });
    codec.push(0, request({ 'Sec-WebSocket-Protocol': 'chat.v2, chat.v1' }));
    expect(parseResponse(recorder.writes()[0]!).headers.get('sec-websocket-protocol')).toBe('chat.v2');
    expect(recorder.opens()[0]!.subprotocol).toBe('chat.v2');
  });

  it('offers spread over repeated headers keep their order', () => {
    const { codec, recorder } = codecWith({ subprotocols: ['b', 'a'] });
    codec.push(0, request({}, 'GET / HTTP/1.1', ['Sec-WebSocket-Protocol: x, a', 'Sec-WebSocket-Protocol: b']));
    expect(recorder.opens()[0]!.subprotocol).toBe('a');
  });

  it('none in common: accepted without a subprotocol, and the 101 names none', () => {
    const { codec, recorder } = codecWith({ subprotocols: ['chat'] });
    codec.push(0, request({ 'Sec-WebSocket-Protocol': 'other' }));
    expect(parseResponse(recorder.writes()[0]!).headers.has('sec-websocket-protocol')).toBe(false);
    expect(recorder.opens()[0]!.subprotocol).toBe('');
  });

  it('names match exactly (case-sensitive)', () => {
    const { codec, recorder } = codecWith({ subprotocols: ['chat'] });
    codec.push(0, request({ 'Sec-WebSocket-Protocol': 'Chat' }));
    expect(recorder.opens()[0]!.subprotocol).toBe('');
  });

  it('with none configured, an offer is ignored', () => {
    const { codec, recorder } = codecWith();
    codec.push(0, request({ 'Sec-WebSocket-Protocol': 'chat' }));
    expect(recorder.opens()[0]!.subprotocol).toBe('');
  });

  it('an offer that is not a list of tokens gets 400', () => {
    expect(refusalOf(request({ 'Sec-WebSocket-Protocol': 'chat, a b' }), { subprotocols: ['chat'] }).status).toBe(400);
  });
});

describe('extensions', () => {
  it('permessage-deflate is declined: the 101 never carries Sec-WebSocket-Extensions', () => {
    const { codec, recorder } = codecWith();
    codec.push(0, request({ 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' }));
    const response = parseResponse(recorder.writes()[0]!);
    expect(response.status).toBe(101);
    expect(response.headers.has('sec-websocket-extensions')).toBe(false);
  });
});

describe('a refused request gets an HTTP error, Connection: close, and nothing more', () => {
  const cases: Array<[string, Buffer, number]> = [
    ['a POST', request({}, 'POST /chat HTTP/1.1'), 400],
    ['a lower-case method', request({}, 'get /chat HTTP/1.1'), 400],
    ['HTTP/1.0', request({}, 'GET /chat HTTP/1.0'), 400],
    ['HTTP/2.0', request({}, 'GET /chat HTTP/2.0'), 400],
    ['a request line with two spaces', request({}, 'GET  /chat HTTP/1.1'), 400],
    ['a request line without a version', request({}, 'GET /chat'), 400],
    ['an absolute-form target', request({}, 'GET http://a.example/chat HTTP/1.1'), 400],
    ['an asterisk target', request({}, 'GET * HTTP/1.1'), 400],
    ['a blank request line', Buffer.from('\r\n\r\n'), 400],
    ['no Upgrade header', request({ Upgrade: undefined }), 400],
    ['Upgrade: h2c', request({ Upgrade: 'h2c' }), 400],
    ['no Connection header', request({ Connection: undefined }), 400],
    ['Connection: keep-alive', request({ Connection: 'keep-alive' }), 400],
    ['Connection: upgraded (a token, not a substring)', request({ Connection: 'upgraded' }), 400],
    ['no key', request({ 'Sec-WebSocket-Key': undefined }), 400],
    ['a key of 15 bytes', request({ 'Sec-WebSocket-Key': Buffer.alloc(15, 1).toString('base64') }), 400],
    ['a key of 17 bytes', request({ 'Sec-WebSocket-Key': Buffer.alloc(17, 1).toString('base64') }), 400],
    ['a key that is not base64', request({ 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25j!Q==' }), 400],
    ['two keys', request({}, 'GET / HTTP/1.1', [`Sec-WebSocket-Key: ${RFC_KEY}`]), 400],
    ['two versions', request({}, 'GET / HTTP/1.1', ['Sec-WebSocket-Version: 13']), 400],
    ['a header line without a colon', request({}, 'GET / HTTP/1.1', ['NoColon']), 400],
    ['a space before the colon', request({}, 'GET / HTTP/1.1', ['X-A : 1']), 400],
    ['an empty header name', request({}, 'GET / HTTP/1.1', [': 1']), 400],
    ['a folded header line', request({}, 'GET / HTTP/1.1', ['X-A: 1', ' folded']), 400],
    ['a control character in a value', request({ 'X-A': 'a\u0001b' }), 400],
    ['a bare CR in a value', request({ 'X-A': 'a\rb' }), 400],
    ['a body announced by Content-Length', request({ 'Content-Length': '5' }), 400],
    ['a body announced by Transfer-Encoding', request({ 'Transfer-Encoding': 'chunked' }), 400],
  ];

  it.each(cases)('%s: %i', (_name, head, status) => {
    expect(refusalOf(head).status).toBe(status);
  });

  it('a wrong version gets 426 naming version 13, and Upgrade: websocket', () => {
    for (const version of ['8', '12', '14', '13, 8', '']) {
      const response = refusalOf(request({ 'Sec-WebSocket-Version': version }));
      expect(response.status).toBe(426);
      expect(response.headers.get('sec-websocket-version')).toBe('13');
      expect(response.headers.get('upgrade')).toBe('websocket');
    }
  });

  it('a missing version gets 426 too', () => {
    expect(refusalOf(request({ 'Sec-WebSocket-Version': undefined })).status).toBe(426);
  });

  it('the body says what was wrong', () => {
    expect(refusalOf(request({ 'Sec-WebSocket-Key': 'short' })).body).toMatch(/Sec-WebSocket-Key/);
  });

  it('closeCode names the status, and the slot stays refused until reset, writing nothing more', () => {
    const { codec, recorder } = codecWith();
    expect(codec.push(0, request({ 'Sec-WebSocket-Version': '8' }))).toBe(CodecResult.REFUSED);
    expect(codec.closeCode(0)).toBe(426);
    expect(codec.finalBytes).toBeDefined();
    expect(codec.push(0, request())).toBe(CodecResult.REFUSED);
    expect(codec.finalBytes).toBeUndefined();
    expect(recorder.events).toEqual([]);
    expect(codec.close(0, 1000)).toBeUndefined();
    codec.reset(0);
    expect(codec.closeCode(0)).toBe(0);
    expect(codec.push(0, request())).toBe(CodecResult.OK);
  });
});

describe('the head cap (maxHeadBytes)', () => {
  const padTo = (size: number): Buffer => {
    const base = request();
    const filler = size - base.length - 'X-Pad: \r\n'.length;
    return request({}, 'GET /chat HTTP/1.1', [`X-Pad: ${'p'.repeat(filler)}`]);
  };

  it('a head of exactly maxHeadBytes is accepted; one byte more gets 431', () => {
    expect(padTo(1024)).toHaveLength(1024);
    const { codec } = codecWith({ maxHeadBytes: 1024 });
    expect(codec.push(0, padTo(1024))).toBe(CodecResult.OK);
    expect(refusalOf(padTo(1025), { maxHeadBytes: 1024 }).status).toBe(431);
  });

  it('the default cap is 8 KiB', () => {
    expect(codecWith().codec.push(0, padTo(8192))).toBe(CodecResult.OK);
    expect(refusalOf(padTo(8193)).status).toBe(431);
  });

  it('a head that never ends is refused as soon as it passes the cap, never holding more than the cap', () => {
    const { codec } = codecWith({ maxHeadBytes: 512 });
    let result: number = CodecResult.OK;
    let sent = 0;
    while (result === CodecResult.OK) {
      result = codec.push(0, Buffer.alloc(100, 0x61));
      sent += 100;
      expect(codec.partialBytes(0)).toBeLessThanOrEqual(512);
    }
    expect(result).toBe(CodecResult.REFUSED);
    expect(sent).toBe(600);
    expect(codec.closeCode(0)).toBe(431);
    expect(codec.partialBytes(0)).toBe(0);
    expect(parseResponse(Buffer.from(codec.finalBytes!).toString('latin1')).status).toBe(431);
  });

  it('a head ending past the cap is refused even when its end arrives in the same read', () => {
    const { codec } = codecWith({ maxHeadBytes: 512 });
    const head = padTo(600);
    expect(codec.push(0, head.subarray(0, 300))).toBe(CodecResult.OK);
    expect(codec.push(0, head.subarray(300))).toBe(CodecResult.REFUSED);
    expect(codec.closeCode(0)).toBe(431);
  });
});

describe('HeadReader', () => {
  it('finds a CRLF CRLF cut anywhere across reads and reports where the head ends in the last read', () => {
    const stream = Buffer.from('GET / HTTP/1.1\r\nA: b\r\n\r\nrest');
    const headLength = stream.indexOf('rest');
    for (let cut = 1; cut < stream.length; cut++) {
      const reader = new HeadReader(256);
      const first = reader.push(0, stream.subarray(0, cut));
      if (cut >= headLength) {
        expect(first).toBe(headLength);
      } else {
        expect(first).toBe(HEAD_INCOMPLETE);
        expect(reader.push(0, stream.subarray(cut))).toBe(headLength - cut);
      }
      expect(Buffer.from(reader.head).toString()).toBe(stream.subarray(0, headLength).toString());
    }
  });

  it('refuses a first read of the cap or more with no head end inside the cap', () => {
    const reader = new HeadReader(256);
    expect(reader.push(0, Buffer.alloc(256, 0x61))).toBe(HEAD_TOO_LARGE);
    expect(reader.partialBytes(0)).toBe(0);
  });
});

describe('options', () => {
  const sink = { open() {}, message() {}, write() {} };
  it.each([
    ['a subprotocol with a space', { subprotocols: ['a b'] }],
    ['an empty subprotocol', { subprotocols: [''] }],
    ['a header name with a colon', { captureHeaders: ['x:y'] }],
    ['a head cap below 256', { maxHeadBytes: 100 }],
    ['a fractional head cap', { maxHeadBytes: 1000.5 }],
    ['a negative message limit', { maxMessageBytes: -1 }],
  ])('%s is refused with ERR_FLAMINGO_INVALID_OPTION', (_name, options) => {
    expect(() => new WebSocketCodec(1, { maxMessageBytes: 10, ...options }, sink)).toThrow(FlamingoError);
    try {
      new WebSocketCodec(1, { maxMessageBytes: 10, ...options }, sink);
    } catch (error) {
      expect((error as FlamingoError).code).toBe('ERR_FLAMINGO_INVALID_OPTION');
    }
  });
});
