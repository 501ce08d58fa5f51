// The request side of RESP, the Redis protocol, for protocol modules that
// run in Flamingo's I/O workers: RespFramer cuts each connection's bytes
// into whole requests as Redis's processMultibulkBuffer() and
// processInlineBuffer() do, refuses what Redis refuses with Redis's own
// protocol errors, and counts requests and replies so that what the worker
// writes on its own (a PONG, a protocol error) goes out in its place among
// the application's replies. resp.ts (the key-value example's protocol) and
// ../pubsub/protocol.ts are built on it. Only type imports from the
// package, so a worker that loads it loads nothing else.

import type { ProtocolHost } from '../../src/main/index.ts';
import { splitInline } from './resp-inline.ts';

export interface RespOptions {
  /** Arguments one request may have; more closes the connection with Redis's 'invalid multibulk length'. Default 2^31 - 1, as Redis. */
  maxArguments?: number;
}

const CR = 13;
const LF = 10;
const NUL = 0;
const STAR = 42;
const DOLLAR = 36;
/** Redis's largest argument count (INT_MAX) and bulk string (proto-max-bulk-len, 512 MB). */
const MAX_ARGUMENTS = 2 ** 31 - 1;
const MAX_BULK_BYTES = 512 * 1024 * 1024;
/**
 * Redis's PROTO_INLINE_MAX_SIZE: the longest inline command, and the longest
 * `*<count>` or `$<length>` line. Redis applies it to what it has buffered, so
 * its verdict on a line just past it depends on how its reads fell; here a
 * line longer than this is refused however the stream is split.
 */
const MAX_LINE_BYTES = 64 * 1024;

const CRLF = Buffer.from('\r\n');
const NO_BYTES: readonly Uint8Array[] = Object.freeze([]);

/** A request that breaks the protocol; the message is Redis's, sent as `-ERR Protocol error: <message>`. */
class RespError extends Error {}

/** A request longer than maxFrameBytes. */
class TooLarge extends Error {}

/** How a parse step ended. */
const INCOMPLETE = 0;
const REQUEST = 1;
/** A request with no arguments (`*0\r\n`, an empty line): consumed, never delivered nor answered, as in Redis. */
const EMPTY = 2;

/**
 * Where the parse of one request stands, as offsets into the bytes that
 * hold it: resumed where it stopped when more bytes come, so a request
 * dribbled in small reads is scanned once.
 */
class Progress {
  /** Where the request starts. */
  start = 0;
  /** Where parsing resumes. */
  at = 0;
  /** Bulk strings still to read; -1 before the count line has been read (or for an inline command). */
  argsLeft = -1;
  /** The length of the bulk string whose data comes next; -1 when its `$` line comes next. */
  bulk = -1;
  /** After REQUEST or EMPTY: where the request ends. */
  end = 0;
  /** After REQUEST for an inline command: its arguments. */
  inline: Buffer[] | undefined = undefined;
  /** Where the search for the end of the current line resumes, so a line dribbled byte by byte is scanned once. */
  scan = 0;
  /** The current line has a NUL before its end: Redis never finds that end. */
  blocked = false;

  reset(start: number): void {
    this.start = start;
    this.at = start;
    this.argsLeft = -1;
    this.bulk = -1;
    this.inline = undefined;
    this.scan = start;
    this.blocked = false;
  }

  /** The offsets, moved back by `by` bytes (the request's bytes moved to the front of a buffer of their own). */
  rebase(by: number): void {
    this.start -= by;
    this.at -= by;
    this.scan -= by;
  }

  /**
   * Where the line starting at `lineStart` ends (the index of `byte`), or
   * -1 until it does. Redis looks for the end with strchr(), which stops at
   * a NUL: a NUL before the end hides it for good.
   */
  lineEnd(input: Buffer, end: number, lineStart: number, byte: number): number {
    if (this.scan < lineStart) {
      this.scan = lineStart;
      this.blocked = false;
    }
    if (this.blocked) return -1;
    for (let i = this.scan; i < end; i++) {
      const b = input[i]!;
      if (b === byte) {
        this.scan = i;
        return i;
      }
      if (b === NUL) {
        this.blocked = true;
        return -1;
      }
    }
    this.scan = end;
    return -1;
  }
}

/** An incomplete request's bytes, kept between reads; grows by doubling. */
class Pending {
  buffer: Buffer;
  length: number;
  readonly progress = new Progress();

  constructor(bytes: Uint8Array, progress: Progress) {
    this.buffer = Buffer.allocUnsafe(Math.max(64, bytes.length * 2));
    this.buffer.set(bytes);
    this.length = bytes.length;
    Object.assign(this.progress, progress);
    this.progress.rebase(progress.start);
  }

  append(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes.length));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }
}

/** Bytes to write once the application has sent `after` replies; with `close`, the connection then closes with 'error'. */
interface Queued {
  after: number;
  bytes: Uint8Array;
  close: boolean;
}

/**
 * The request side of RESP for every connection of one I/O worker, and the
 * count of requests and replies that keeps anything the worker writes on
 * its own (a PONG, a protocol error) in its place among the application's
 * replies. A protocol built on it hands it its reads, gives each request
 * to deliver() or answer(), and passes each reply of the application's
 * through replied().
 */
export class RespFramer {
  readonly #host: ProtocolHost;
  readonly #maxArguments: number;
  readonly #onRequest: (slot: number, request: Uint8Array) => void;
  /** Each connection's incomplete request, only while there is one. */
  readonly #pending = new Map<number, Pending>();
  /** Per slot: requests delivered to the application, and replies it has sent. */
  readonly #delivered: Uint32Array;
  readonly #replied: Uint32Array;
  /** Per slot, only while some wait: bytes of the worker's own that go out after a given reply. */
  readonly #queued = new Map<number, Queued[]>();
  /** Slots whose protocol error waits for earlier replies: nothing more is read from them. */
  readonly #failed = new Set<number>();
  /** Scratch for the parse of the read in hand. */
  readonly #progress = new Progress();

  /** `onRequest` gets each whole request, a view valid during the call; it calls deliver() or answer() for it. */
  constructor(host: ProtocolHost, options: RespOptions, onRequest: (slot: number, request: Uint8Array) => void) {
    this.#host = host;
    this.#maxArguments = Math.min(options.maxArguments ?? MAX_ARGUMENTS, MAX_ARGUMENTS);
    this.#onRequest = onRequest;
    this.#delivered = new Uint32Array(host.slotCount);
    this.#replied = new Uint32Array(host.slotCount);
  }

  read(slot: number, bytes: Uint8Array): void {
    if (this.#failed.has(slot)) return;
    const pending = this.#pending.get(slot);
    let input: Buffer;
    let end: number;
    const progress = pending === undefined ? this.#progress : pending.progress;
    if (pending === undefined) {
      input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      end = input.length;
      progress.reset(0);
    } else {
      pending.append(bytes);
      input = pending.buffer;
      end = pending.length;
    }
    try {
      while (progress.start < end) {
        const step = this.#parse(input, end, progress);
        if (step === INCOMPLETE) break;
        if (step === REQUEST) {
          const request = progress.inline === undefined ? input.subarray(progress.start, progress.end) : arrayOf(progress.inline);
          this.#onRequest(slot, request);
        }
        progress.reset(progress.end);
      }
    } catch (error) {
      this.#pending.delete(slot);
      if (error instanceof TooLarge) this.#host.close(slot, 'frame-too-large');
      else if (error instanceof RespError) this.#fail(slot, error.message);
      else throw error;
      return;
    }
    if (progress.start === end) {
      this.#pending.delete(slot);
      return;
    }
    // What read() is given is valid only during the call: an incomplete request is copied.
    if (pending === undefined) this.#pending.set(slot, new Pending(input.subarray(progress.start, end), progress));
    else if (progress.start > 0) this.#pending.set(slot, new Pending(input.subarray(progress.start, end), progress));
  }

  /** Hands the request to the application, which will send one reply for it. */
  deliver(slot: number, request: Uint8Array): void {
    // Counted first: delivering may run the worker's command loop, and so replied(), for this slot.
    this.#delivered[slot]!++;
    this.#host.deliver(slot, request);
  }

  /** Answers a request in the worker: `reply` goes out now, or once every request before it has its reply. */
  answer(slot: number, reply: Uint8Array): void {
    const delivered = this.#delivered[slot]!;
    if (this.#replied[slot] === delivered) this.#host.write(slot, reply);
    else this.#queue(slot, { after: delivered, bytes: reply, close: false });
  }

  /** The application's reply to its oldest unanswered request: the bytes to write, followed by what waited for it. */
  replied(slot: number, reply: Uint8Array[]): readonly Uint8Array[] {
    const replied = ++this.#replied[slot]!;
    const waiting = this.#queued.get(slot);
    if (waiting === undefined) return reply;
    while (waiting.length > 0 && waiting[0]!.after <= replied) {
      const { bytes, close } = waiting.shift()!;
      reply.push(bytes);
      if (close) {
        // The protocol error's turn: the replies before it and the error are the connection's last bytes.
        this.#queued.delete(slot);
        this.#host.close(slot, 'error', Buffer.concat(reply));
        return NO_BYTES;
      }
    }
    if (waiting.length === 0) this.#queued.delete(slot);
    return reply;
  }

  pendingBytes(slot: number): number {
    return this.#pending.get(slot)?.length ?? 0;
  }

  disconnect(slot: number): void {
    this.#pending.delete(slot);
    this.#queued.delete(slot);
    this.#failed.delete(slot);
    this.#delivered[slot] = 0;
    this.#replied[slot] = 0;
  }

  /** Redis's answer to a protocol error: the error reply in its place, then the close. */
  #fail(slot: number, message: string): void {
    const reply = Buffer.from(`-ERR Protocol error: ${message.replace(/[\r\n]/g, ' ')}\r\n`, 'latin1');
    const delivered = this.#delivered[slot]!;
    if (this.#replied[slot] === delivered) {
      this.#host.close(slot, 'error', reply);
      return;
    }
    this.#failed.add(slot);
    this.#queue(slot, { after: delivered, bytes: reply, close: true });
  }

  #queue(slot: number, entry: Queued): void {
    const waiting = this.#queued.get(slot);
    if (waiting === undefined) this.#queued.set(slot, [entry]);
    else waiting.push(entry);
  }

  /** Parses on from `p.at`, as Redis's processMultibulkBuffer and processInlineBuffer do. */
  #parse(input: Buffer, end: number, p: Progress): number {
    if (input[p.start] !== STAR) return this.#parseInline(input, end, p);
    if (p.argsLeft === -1) {
      const cr = p.lineEnd(input, end, p.start + 1, CR);
      if (cr === -1 || cr - p.start > MAX_LINE_BYTES) {
        if (cr === -1 && end - p.start <= MAX_LINE_BYTES) return this.#incomplete(end, p);
        throw new RespError('too big mbulk count string');
      }
      // Redis wants one byte after the CR, and skips it whatever it is.
      if (cr + 1 >= end) return this.#incomplete(end, p);
      const count = decimal(input, p.start + 1, cr);
      if (count === undefined || count > this.#maxArguments) throw new RespError('invalid multibulk length');
      p.at = cr + 2;
      if (count <= 0) {
        p.end = p.at;
        return EMPTY;
      }
      p.argsLeft = count;
    }
    while (p.argsLeft > 0) {
      if (p.bulk === -1) {
        const cr = p.lineEnd(input, end, p.at, CR);
        if (cr === -1 || cr - p.at > MAX_LINE_BYTES) {
          if (cr === -1 && end - p.at <= MAX_LINE_BYTES) return this.#incomplete(end, p);
          throw new RespError('too big bulk count string');
        }
        if (cr + 1 >= end) return this.#incomplete(end, p);
        if (input[p.at] !== DOLLAR) throw new RespError(`expected '$', got '${String.fromCharCode(input[p.at]!)}'`);
        const length = decimal(input, p.at + 1, cr);
        if (length === undefined || length < 0 || length > MAX_BULK_BYTES) throw new RespError('invalid bulk length');
        p.at = cr + 2;
        p.bulk = length;
      }
      // Known as soon as the length line is: a request that cannot fit is refused before its bytes come.
      if (p.at + p.bulk + 2 - p.start > this.#host.maxFrameBytes) throw new TooLarge();
      // Redis skips the two bytes after a bulk string without looking at them.
      if (end - p.at < p.bulk + 2) return this.#incomplete(end, p);
      p.at += p.bulk + 2;
      p.bulk = -1;
      p.argsLeft--;
    }
    p.end = p.at;
    return REQUEST;
  }

  #parseInline(input: Buffer, end: number, p: Progress): number {
    const lf = p.lineEnd(input, end, p.start, LF);
    if (lf === -1 || lf - p.start > MAX_LINE_BYTES) {
      if (lf === -1 && end - p.start <= MAX_LINE_BYTES) return this.#incomplete(end, p);
      throw new RespError('too big inline request');
    }
    const stop = lf > p.start && input[lf - 1] === CR ? lf - 1 : lf;
    const args = splitInline(input, p.start, stop);
    if (args === undefined) throw new RespError('unbalanced quotes in request');
    p.end = lf + 1;
    if (args.length === 0) return EMPTY;
    p.inline = args;
    return REQUEST;
  }

  /** Out of bytes mid-request: fine unless what is held is already over maxFrameBytes. */
  #incomplete(end: number, p: Progress): number {
    if (end - p.start > this.#host.maxFrameBytes) throw new TooLarge();
    return INCOMPLETE;
  }
}

/** The integer in input[from, to) as Redis's string2ll() reads it (no sign but '-', no leading zeros, no spaces, within a long long), or undefined. */
function decimal(input: Buffer, from: number, to: number): number | undefined {
  // string2ll refuses 21 characters or more.
  if (to <= from || to - from >= 21) return undefined;
  let at = from;
  const negative = input[at] === 0x2d;
  if (negative) at++;
  const digits = to - at;
  if (digits < 1) return undefined;
  if (input[at] === 0x30) return digits === 1 && !negative ? 0 : undefined;
  let value = 0;
  for (let i = at; i < to; i++) {
    const digit = input[i]! - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  // Past 2^53 the value is inexact, but far past any count or length allowed; only whether it fits a long long matters.
  if (digits >= 19) {
    const text = input.toString('latin1', at, to);
    const limit = negative ? '9223372036854775808' : '9223372036854775807';
    if (digits > 19 || text > limit) return undefined;
  }
  return negative ? -value : value;
}

/** An inline command's arguments as the array of bulk strings a client would have sent. */
function arrayOf(args: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) parts.push(Buffer.from(`$${arg.length}\r\n`), arg, CRLF);
  return Buffer.concat(parts);
}

/**
 * Splits a delivered request into its arguments (views of `request`: copy
 * what you keep past a data handler). Every request a RespFramer delivers
 * is an array of bulk strings, read here by the same rules it was checked by.
 */
export function parseRequest(request: Uint8Array): Buffer[] {
  const input = Buffer.from(request.buffer, request.byteOffset, request.length);
  let cr = input.indexOf(CR, 1);
  const count = decimal(input, 1, cr)!;
  const args: Buffer[] = new Array(count);
  let at = cr + 2;
  for (let i = 0; i < count; i++) {
    cr = input.indexOf(CR, at + 1);
    const length = decimal(input, at + 1, cr)!;
    args[i] = input.subarray(cr + 2, cr + 2 + length);
    at = cr + 2 + length + 2;
  }
  return args;
}
