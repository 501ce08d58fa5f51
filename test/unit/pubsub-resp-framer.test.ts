// The RESP request framer both RESP examples share (examples/protocols/resp-framer.ts),
// as a part, against a recording host: whole requests however the stream is
// split, inline commands as Redis splits them, requests Redis ignores, and
// Redis's own protocol errors, each after the replies to the requests
// before it.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RespFramer, parseRequest } from '../../examples/protocols/resp-framer.ts';
import { splitAt, splits } from '../helpers/framer-harness.ts';
import { RecordingHost, command } from '../helpers/pubsub-host.ts';

function framer(host: RecordingHost, options = {}): RespFramer {
  const resp: RespFramer = new RespFramer(host, options, (slot, request) => resp.deliver(slot, request));
  return resp;
}

const args = (host: RecordingHost, slot = 0): string[][] => host.deliveredTo(slot).map((r) => parseRequest(r).map((a) => a.toString('latin1')));

/** The connection's last bytes and how it closed, after `input` in one read. */
function refusal(input: string | Buffer): { reason: string; bytes: string } | undefined {
  const host = new RecordingHost();
  framer(host).read(0, typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  const close = host.closed.get(0);
  return close === undefined ? undefined : { reason: close.reason, bytes: close.finalBytes?.toString('latin1') ?? '' };
}

const argument = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));
/** A request and what it holds: an array of bulk strings, an inline command, or one Redis skips. */
const request = fc.oneof(
  fc.array(argument, { minLength: 1, maxLength: 5 }).map((list) => ({ wire: command(...list), args: list.map((a) => a.toString('latin1')) })),
  fc
    .array(fc.string({ unit: fc.constantFrom('a', 'b', 'Z', '9', '.'), minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 })
    .map((words) => ({ wire: Buffer.from(`${words.join('  ')}\r\n`), args: words })),
  fc.constantFrom('*0\r\n', '*-1\r\n', '\r\n', '\n', '   \r\n').map((text) => ({ wire: Buffer.from(text), args: undefined })),
);

describe('the RESP request framer', () => {
  it('delivers every request whole however the stream is split, inline commands as arrays, and skips empty ones', () => {
    fc.assert(
      fc.property(fc.array(request, { maxLength: 12 }), splits, (requests, { cuts, byteByByte }) => {
        const host = new RecordingHost();
        const resp = framer(host);
        for (const read of splitAt(Buffer.concat(requests.map((r) => r.wire)), cuts, byteByByte)) resp.read(0, read);
        expect(args(host)).toEqual(requests.filter((r) => r.args !== undefined).map((r) => r.args));
        expect(host.closed.size).toBe(0);
        expect(resp.pendingBytes(0)).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('splits inline commands as Redis does: quotes, escapes, and blanks', () => {
    const host = new RecordingHost();
    framer(host).read(0, Buffer.from('SET "a b" \'it\\\'s\'\r\nECHO "\\x41\\n\\q"\t x\nPING\r\n', 'latin1'));
    expect(args(host)).toEqual([['SET', 'a b', "it's"], ['ECHO', 'A\nq', 'x'], ['PING']]);
  });

  it('holds an incomplete request and reports its bytes, so frameTimeoutMs applies', () => {
    const host = new RecordingHost();
    const resp = framer(host);
    resp.read(3, Buffer.from('*2\r\n$3\r\nGET\r\n$11\r\nhal'));
    expect(resp.pendingBytes(3)).toBe(21);
    resp.read(3, Buffer.from('f a lin'));
    resp.read(3, Buffer.from('e\r\n'));
    expect(args(host, 3)).toEqual([['GET', 'half a line']]);
    expect(resp.pendingBytes(3)).toBe(0);
  });

  it.each([
    ['a count that is not a number', '*x\r\n', 'invalid multibulk length'],
    ['a count with a leading zero', '*01\r\n', 'invalid multibulk length'],
    ['a count past 2^31 - 1', '*2147483648\r\n', 'invalid multibulk length'],
    ['a bulk string without its $', '*1\r\n:3\r\n', "expected '$', got ':'"],
    ['a bulk length that is not a number', '*1\r\n$x\r\n', 'invalid bulk length'],
    ['a negative bulk length', '*1\r\n$-1\r\n', 'invalid bulk length'],
    ['a 2^40-byte bulk string', '*1\r\n$1099511627776\r\n', 'invalid bulk length'],
    ['unbalanced quotes', 'SET "a\r\n', 'unbalanced quotes in request'],
    ['a quote closed inside a word', 'SET "a"b\r\n', 'unbalanced quotes in request'],
  ])("%s gets Redis's error, then the close", (_, input, message) => {
    expect(refusal(input)).toEqual({ reason: 'error', bytes: `-ERR Protocol error: ${message}\r\n` });
  });

  it('a line longer than 64 KiB is refused, however it arrives', () => {
    const host = new RecordingHost();
    const resp = framer(host);
    for (let i = 0; i < 70 && !host.closed.has(0); i++) resp.read(0, Buffer.alloc(1024, 0x61));
    expect(host.closed.get(0)?.finalBytes?.toString()).toBe('-ERR Protocol error: too big inline request\r\n');
    expect(refusal(`*${'1'.repeat(70_000)}`)?.bytes).toBe('-ERR Protocol error: too big mbulk count string\r\n');
    expect(refusal(`*1\r\n$${'1'.repeat(70_000)}`)?.bytes).toBe('-ERR Protocol error: too big bulk count string\r\n');
  });

  it('a NUL before a line end hides it, as Redis finds line ends with strchr(): the request waits, then is too big', () => {
    const host = new RecordingHost();
    const resp = framer(host);
    resp.read(0, Buffer.from('*1\r\n$\x003\r\nabc\r\n', 'latin1'));
    expect(args(host)).toEqual([]);
    expect(resp.pendingBytes(0)).toBe(14);
    for (let i = 0; i < 70 && !host.closed.has(0); i++) resp.read(0, Buffer.from('\r\n'.repeat(512)));
    expect(host.closed.get(0)?.finalBytes?.toString()).toBe('-ERR Protocol error: too big bulk count string\r\n');
  });

  it('a request dribbled one byte per read is scanned once, not once per read', () => {
    const host = new RecordingHost();
    const resp = framer(host);
    const line = Buffer.from(`ECHO ${'x'.repeat(60_000)}\r\n`);
    const bulk = command('ECHO', 'y'.repeat(60_000));
    const started = performance.now();
    for (const byte of Buffer.concat([line, bulk])) resp.read(0, Uint8Array.of(byte));
    expect(performance.now() - started).toBeLessThan(2000);
    expect(args(host).map((a) => a[1]!.length)).toEqual([60_000, 60_000]);
  });

  it('a request over maxFrameBytes closes with frame-too-large as soon as its length is known', () => {
    const host = new RecordingHost(1024);
    framer(host).read(0, Buffer.from('*2\r\n$3\r\nSET\r\n$2000\r\n'));
    expect(host.closed.get(0)).toEqual({ reason: 'frame-too-large', finalBytes: undefined });
  });

  it('a protocol error waits for the replies to the requests before it, and goes out with the last of them', () => {
    const host = new RecordingHost();
    const resp = framer(host);
    resp.read(1, Buffer.concat([command('PING'), command('ECHO', 'x'), Buffer.from('*1\r\n$?\r\n'), command('PING')]));
    expect(args(host, 1)).toEqual([['PING'], ['ECHO', 'x']]);
    expect(host.closed.has(1)).toBe(false);
    expect(Buffer.concat(resp.replied(1, [Buffer.from('+PONG\r\n')])).toString()).toBe('+PONG\r\n');
    // The last reply and the error leave together, as the connection's final bytes.
    expect(resp.replied(1, [Buffer.from('$1\r\nx\r\n')])).toEqual([]);
    expect(host.closed.get(1)?.finalBytes?.toString()).toBe('$1\r\nx\r\n-ERR Protocol error: invalid bulk length\r\n');
  });

  it("answer() keeps a reply of its own in its place among the application's", () => {
    const host = new RecordingHost();
    const resp: RespFramer = new RespFramer(host, {}, (slot, request) => {
      if (parseRequest(request)[0]!.toString() === 'PING') resp.answer(slot, Buffer.from('+PONG\r\n'));
      else resp.deliver(slot, request);
    });
    resp.read(0, Buffer.concat([command('PING'), command('GET', 'a'), command('PING'), command('GET', 'b'), command('PING')]));
    expect(host.writtenTo(0).toString()).toBe('+PONG\r\n');
    expect(Buffer.concat(resp.replied(0, [Buffer.from(':1\r\n')])).toString()).toBe(':1\r\n+PONG\r\n');
    expect(Buffer.concat(resp.replied(0, [Buffer.from(':2\r\n')])).toString()).toBe(':2\r\n+PONG\r\n');
  });

  it('forgets a connection on disconnect: its slot starts afresh', () => {
    const host = new RecordingHost();
    const resp = framer(host);
    resp.read(2, Buffer.from('*2\r\n$3\r\nGET'));
    resp.disconnect(2);
    expect(resp.pendingBytes(2)).toBe(0);
    resp.read(2, command('PING'));
    expect(args(host, 2)).toEqual([['PING']]);
  });
});
