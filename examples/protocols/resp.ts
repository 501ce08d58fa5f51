// A protocol module, written only against Flamingo's public interface: the
// request side of RESP, the Redis protocol. Every I/O worker loads it by URL:
//
//   listen({ protocol: { module: new URL('./protocols/resp.ts', import.meta.url), options: { maxArguments: 64 } } })
//
// In the worker, per connection:
// - each whole request (an array of bulk strings, `*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`)
//   is delivered as one message, however the client's writes split it;
// - PING is answered with +PONG here, without a trip to the application,
//   in its place among the replies: at once when every earlier request has
//   its reply, else right after the reply that completes them (the
//   application answers each request with one send, in order, as a Redis
//   server does);
// - a malformed request closes the connection with 'error' after an -ERR
//   reply; one longer than maxFrameBytes closes it with 'frame-too-large';
// - a reply the application sends is framed here: bytes as a bulk string
//   (`$5\r\nhello\r\n`), a string as a reply line the application wrote
//   itself (`+OK`, `-ERR no such key`, `:3`, `$-1` for nil), CRLF appended.
//
// On the application's side, parseRequest() (below) splits a delivered
// request into its arguments. The module is plain TypeScript with only type
// imports from the package, so the worker loads nothing else.

import type { Protocol, ProtocolFactory, ProtocolHost } from '../../src/main/index.ts';

export interface RespOptions {
  /** Arguments one request may have; more closes the connection with 'error'. Default 1024. */
  maxArguments?: number;
}

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;
/** The longest `*<count>` or `$<length>` line, CRLF included. */
const MAX_HEADER_LINE = 22;
const INCOMPLETE = -1;
const PONG = Buffer.from('+PONG\r\n');
const CRLF = Buffer.from('\r\n');

/** Thrown by the parser for a request that breaks the protocol; the message goes to the client as -ERR. */
class RespError extends Error {}

class RespRequests implements Protocol {
  readonly #host: ProtocolHost;
  readonly #maxArguments: number;
  /** Each connection's incomplete request, only while there is one. */
  readonly #partial = new Map<number, Buffer>();
  /** Per slot: requests delivered to the application, and replies it has sent. */
  readonly #delivered: Uint32Array;
  readonly #replied: Uint32Array;
  /** Per slot, only while some wait: for each PONG held back, the reply count it goes out after. */
  readonly #pongsAfter = new Map<number, number[]>();

  constructor(host: ProtocolHost, options: RespOptions) {
    this.#host = host;
    this.#maxArguments = options.maxArguments ?? 1024;
    this.#delivered = new Uint32Array(host.slotCount);
    this.#replied = new Uint32Array(host.slotCount);
  }

  read(slot: number, bytes: Uint8Array): void {
    const held = this.#partial.get(slot);
    // What read() is given is valid only during the call: a remainder is copied.
    const input = held === undefined ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length) : Buffer.concat([held, bytes]);
    this.#partial.delete(slot);
    let at = 0;
    while (at < input.length) {
      let length: number;
      try {
        length = requestLength(input, at, this.#maxArguments);
      } catch (error) {
        if (!(error instanceof RespError)) throw error;
        this.#host.close(slot, 'error', Buffer.from(`-ERR Protocol error: ${error.message}\r\n`));
        return;
      }
      if (length === INCOMPLETE) break;
      if (length > this.#host.maxFrameBytes) {
        this.#host.close(slot, 'frame-too-large');
        return;
      }
      const request = input.subarray(at, at + length);
      if (isPing(request)) this.#pong(slot);
      else {
        this.#delivered[slot]!++;
        this.#host.deliver(slot, request);
      }
      at += length;
    }
    if (at === input.length) return;
    if (input.length - at > this.#host.maxFrameBytes) {
      this.#host.close(slot, 'frame-too-large');
      return;
    }
    this.#partial.set(slot, Buffer.from(input.subarray(at)));
  }

  encode(slot: number, payload: Uint8Array, text: boolean): Uint8Array[] {
    // `payload` may be shared by many connections (sendMany): it is sent as is, never changed.
    const reply = text ? [payload, CRLF] : [Buffer.from(`$${payload.length}\r\n`), payload, CRLF];
    const replied = ++this.#replied[slot]!;
    const waiting = this.#pongsAfter.get(slot);
    if (waiting === undefined) return reply;
    // The PONGs whose earlier requests now all have replies follow this one.
    while (waiting.length > 0 && waiting[0]! <= replied) {
      waiting.shift();
      reply.push(PONG);
    }
    if (waiting.length === 0) this.#pongsAfter.delete(slot);
    return reply;
  }

  pendingBytes(slot: number): number {
    return this.#partial.get(slot)?.length ?? 0;
  }

  disconnect(slot: number): void {
    this.#partial.delete(slot);
    this.#pongsAfter.delete(slot);
    this.#delivered[slot] = 0;
    this.#replied[slot] = 0;
  }

  /** Answers a PING now, or once every request before it has its reply. */
  #pong(slot: number): void {
    const delivered = this.#delivered[slot]!;
    if (this.#replied[slot] === delivered) {
      this.#host.write(slot, PONG);
      return;
    }
    const waiting = this.#pongsAfter.get(slot);
    if (waiting === undefined) this.#pongsAfter.set(slot, [delivered]);
    else waiting.push(delivered);
  }
}

/** The length of the whole request at `at`, or INCOMPLETE; throws RespError for a malformed one. */
function requestLength(input: Buffer, at: number, maxArguments: number): number {
  if (input[at] !== STAR) throw new RespError("expected '*'");
  const header = headerLine(input, at);
  if (header === undefined) return INCOMPLETE;
  if (header.value > maxArguments) throw new RespError(`more than ${maxArguments} arguments`);
  let position = header.end;
  for (let i = 0; i < header.value; i++) {
    if (position >= input.length) return INCOMPLETE;
    if (input[position] !== DOLLAR) throw new RespError("expected '$'");
    const bulk = headerLine(input, position);
    if (bulk === undefined) return INCOMPLETE;
    const end = bulk.end + bulk.value + 2;
    if (end > input.length) return INCOMPLETE;
    if (input[end - 2] !== CR || input[end - 1] !== LF) throw new RespError('a bulk string does not end with CRLF');
    position = end;
  }
  return position - at;
}

/** Reads `*<n>\r\n` or `$<n>\r\n` at `at`: the number and where the line ends; undefined when the line is incomplete. */
function headerLine(input: Buffer, at: number): { value: number; end: number } | undefined {
  let value = 0;
  for (let i = at + 1; i < input.length; i++) {
    const byte = input[i]!;
    if (byte === CR) {
      if (i + 1 >= input.length) return undefined;
      if (input[i + 1] !== LF || i === at + 1) throw new RespError('a malformed length line');
      return { value, end: i + 2 };
    }
    if (byte < 48 || byte > 57 || i - at >= MAX_HEADER_LINE) throw new RespError('a malformed length line');
    value = value * 10 + (byte - 48);
  }
  return undefined;
}

function isPing(request: Buffer): boolean {
  const args = parseRequest(request);
  return args.length === 1 && args[0]!.toString('latin1').toUpperCase() === 'PING';
}

/** Splits a delivered request into its arguments (views of `request`: copy what you keep past a data handler). */
export function parseRequest(request: Uint8Array): Buffer[] {
  const input = Buffer.from(request.buffer, request.byteOffset, request.length);
  const header = headerLine(input, 0)!;
  const args: Buffer[] = [];
  let position = header.end;
  for (let i = 0; i < header.value; i++) {
    const bulk = headerLine(input, position)!;
    args.push(input.subarray(bulk.end, bulk.end + bulk.value));
    position = bulk.end + bulk.value + 2;
  }
  return args;
}

const createRespRequests: ProtocolFactory<RespOptions | undefined> = (host, options) => new RespRequests(host, options ?? {});
export default createRespRequests;
