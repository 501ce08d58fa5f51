// A protocol module, written only against Flamingo's public interface: the
// request side of RESP, the Redis protocol. Every I/O worker loads it by URL:
//
//   listen({ protocol: { module: new URL('./protocols/resp.ts', import.meta.url), options: { maxArguments: 64 } } })
//
// In the worker, per connection:
// - each whole request is delivered as one message, however the client's
//   writes split it: an array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`)
//   as it came, and an inline command (`GET k\r\n`, as typed into telnet or
//   sent by redis-benchmark) rewritten as that array, so the application
//   parses one form (parseRequest);
// - PING is answered with +PONG here, without a trip to the application,
//   in its place among the replies: at once when every earlier request has
//   its reply, else right after the reply that completes them (the
//   application answers each request with one send, in order, as a Redis
//   server does);
// - a malformed request gets Redis's own `-ERR Protocol error: ...` reply,
//   after the replies to the requests before it, and then its connection
//   closes with 'error'; one longer than maxFrameBytes closes it with
//   'frame-too-large' at once;
// - a reply the application sends is framed here: bytes as a bulk string
//   (`$5\r\nhello\r\n`), a string as a reply line the application wrote
//   itself (`+OK`, `-ERR no such key`, `:3`, `$-1` for nil), CRLF appended.
//
// The request framer is resp-framer.ts, which the pub/sub example's protocol
// uses too. The module is plain TypeScript with only type imports from the
// package, so the worker loads nothing else.

import type { Protocol, ProtocolFactory, ProtocolHost } from '../../src/main/index.ts';
import { RespFramer, type RespOptions } from './resp-framer.ts';

export { parseRequest, RespFramer, type RespOptions } from './resp-framer.ts';

const PONG = Buffer.from('+PONG\r\n');
const CRLF = Buffer.from('\r\n');

/** The key-value example's protocol: RESP requests, PING answered in the worker, replies framed here. */
class RespRequests implements Protocol {
  readonly #framer: RespFramer;

  constructor(host: ProtocolHost, options: RespOptions) {
    this.#framer = new RespFramer(host, options, (slot, request) => {
      if (isPing(request)) this.#framer.answer(slot, PONG);
      else this.#framer.deliver(slot, request);
    });
  }

  read(slot: number, bytes: Uint8Array): void {
    this.#framer.read(slot, bytes);
  }

  encode(slot: number, payload: Uint8Array, text: boolean): readonly Uint8Array[] {
    // `payload` may be shared by many connections (sendMany): it is sent as is, never changed.
    return this.#framer.replied(slot, text ? [payload, CRLF] : [Buffer.from(`$${payload.length}\r\n`), payload, CRLF]);
  }

  pendingBytes(slot: number): number {
    return this.#framer.pendingBytes(slot);
  }

  disconnect(slot: number): void {
    this.#framer.disconnect(slot);
  }
}

function isPing(request: Uint8Array): boolean {
  // `*1\r\n$4\r\nPING\r\n`, in any case: the one request of 14 bytes that is a PING.
  if (request.length !== 14 || request[1] !== 0x31) return false;
  return (
    Buffer.from(request.buffer, request.byteOffset + 8, 4)
      .toString('latin1')
      .toUpperCase() === 'PING'
  );
}

const createRespRequests: ProtocolFactory<RespOptions | undefined> = (host, options) => new RespRequests(host, options ?? {});
export default createRespRequests;
