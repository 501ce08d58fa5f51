// What the pub/sub application sends its protocol in the I/O workers
// (protocol.ts), besides replies. Every send reaches the protocol's
// encode() in the order it was made, so state the application sets there
// (a connection's RESP version, its patterns) applies from that point of
// the connection's output on. A payload starting with a RESP type byte is
// one request's reply, written as is; one starting with a tag below is for
// the protocol:
//
// | tag            | rest of the payload                          | the protocol                                              |
// |----------------|----------------------------------------------|-----------------------------------------------------------|
// | MESSAGE        | a RESP2 `message` frame                      | writes it (as a RESP3 push on a RESP3 connection)          |
// | FEED           | MESSAGE and its frame                        | writes a `pmessage` for each of the connection's patterns the channel matches |
// | HOLD           | nothing                                      | holds MESSAGE and FEED deliveries back                    |
// | RELEASE        | one request's reply                          | writes the reply, then the deliveries held back           |
// | RESP_VERSION   | one byte, 2 or 3                             | formats deliveries in that version from now on            |
// | ADD_PATTERN    | a pattern                                    | matches FEED deliveries against it too                    |
// | REMOVE_PATTERN | a pattern                                    | no longer                                                 |
// | CLEAR_PATTERNS | nothing                                      | forgets every pattern                                     |
//
// One publish is one buffer, [FEED, MESSAGE, frame], built once: its
// channel's topic gets it from MESSAGE on, the pattern feed whole, and the
// protocol turns it into what each connection needs without copying it.

/** The tags; none is a RESP type byte, so a reply is never mistaken for one. */
export const Tag = {
  MESSAGE: 0x01,
  FEED: 0x02,
  HOLD: 0x03,
  RELEASE: 0x04,
  RESP_VERSION: 0x05,
  ADD_PATTERN: 0x06,
  REMOVE_PATTERN: 0x07,
  CLEAR_PATTERNS: 0x08,
} as const;

/** The start of every RESP2 `message` frame. */
export const MESSAGE_HEAD = Buffer.from('*3\r\n$7\r\nmessage\r\n');

const CRLF_LENGTH = 2;

/** The bytes of `$<length>\r\n<bytes>\r\n`. */
function bulkLength(length: number): number {
  return 1 + String(length).length + CRLF_LENGTH + length + CRLF_LENGTH;
}

function writeBulk(into: Buffer, at: number, bytes: Uint8Array): number {
  at += into.write(`$${bytes.length}\r\n`, at, 'latin1');
  into.set(bytes, at);
  at += bytes.length;
  into[at++] = 0x0d;
  into[at++] = 0x0a;
  return at;
}

/** One publish, framed once: [FEED, MESSAGE, `*3 message <channel> <message>`]. */
export function publication(channel: Uint8Array, message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(2 + MESSAGE_HEAD.length + bulkLength(channel.length) + bulkLength(message.length));
  out[0] = Tag.FEED;
  out[1] = Tag.MESSAGE;
  MESSAGE_HEAD.copy(out, 2);
  writeBulk(out, writeBulk(out, 2 + MESSAGE_HEAD.length, channel), message);
  return out;
}

/** What a publication's channel topic carries: the MESSAGE tag and the frame. */
export function channelDelivery(publication: Buffer): Buffer {
  return publication.subarray(1);
}

/** A tag alone, or followed by bytes. */
export function tagged(tag: number, bytes?: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + (bytes?.length ?? 0));
  out[0] = tag;
  if (bytes !== undefined) out.set(bytes, 1);
  return out;
}

/**
 * The channel of a `message` frame (a view of it), or undefined if the
 * frame is not one: frames also arrive from other nodes through Redis, so
 * they are checked, never trusted.
 */
export function channelOf(frame: Uint8Array): Uint8Array | undefined {
  if (frame.length < MESSAGE_HEAD.length + 4 || !MESSAGE_HEAD.equals(frame.subarray(0, MESSAGE_HEAD.length))) return undefined;
  let at = MESSAGE_HEAD.length;
  if (frame[at] !== 0x24) return undefined;
  let length = 0;
  for (at++; at < frame.length && frame[at] !== 0x0d; at++) {
    const digit = frame[at]! - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    length = length * 10 + digit;
  }
  const start = at + 2;
  if (start + length > frame.length) return undefined;
  return frame.subarray(start, start + length);
}
