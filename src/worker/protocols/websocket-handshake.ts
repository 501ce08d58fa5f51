// The server side of the WebSocket opening handshake (RFC 6455 section 4.2):
// collecting a connection's HTTP/1.1 upgrade request as it arrives in
// pieces, judging it, and writing the answer, a 101 or an HTTP error.
//
// Contract:
// - HeadReader finds the end of a request head (the first CRLF CRLF) in a
//   connection's reads. It holds bytes for a slot only while that slot's
//   head is incomplete, never more than maxHeadBytes of them: a head that has
//   not ended within maxHeadBytes is refused (431) at once. A head that ends
//   inside one read is not copied. The bytes after the head (a client may
//   send its first frame right behind the request) stay in the read, from the
//   index push returns.
// - answerUpgrade judges a complete head and returns either the accepted
//   request (path with query, captured headers, the chosen subprotocol) with
//   its 101 response, or a refusal with its status (400 for a malformed or
//   non-WebSocket request, 426 with `Sec-WebSocket-Version: 13` for another
//   protocol version, 431 for a head over the cap) and its response. Both
//   are pure; the caller writes the response and, after a refusal, closes.
// - Extensions are always declined: `Sec-WebSocket-Extensions` is never
//   echoed, so a client offering permessage-deflate gets plain frames.
//
// Judgement calls, so a reader knows they were made: the request line must
// say exactly `GET <origin-form target> HTTP/1.1`; lines end with CRLF (a
// bare LF is not a line end, so such a request runs into the cap or a 400);
// `Host` is not required (RFC 6455 asks clients for it, but nothing here
// needs it); a request announcing a body (Content-Length other than 0, or
// Transfer-Encoding) gets a 400, since what follows the head is frames; a
// missing `Sec-WebSocket-Version` gets the 426, like a wrong one; header
// values are read as latin1, as Node's HTTP parser does.

import { createHash } from 'node:crypto';
import { Partial } from '../../shared/framing/partial-frame.ts';

/** Appended to a client's key before hashing (RFC 6455 section 1.3). */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** A key is 16 random bytes in base64: 22 significant characters and `==`. */
const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;
/** An HTTP token (RFC 9110 section 5.6.2): header names, subprotocol names, Upgrade values. */
const TOKEN_PATTERN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header field value: visible characters, spaces, tabs and obs-text; no other control character. */
const VALUE_PATTERN = /^[\t\x20-\x7e\x80-\xff]*$/;
/** An origin-form request target: a path starting with `/`, an optional query, visible ASCII only. */
const TARGET_PATTERN = /^\/[\x21-\x7e]*$/;

export function isToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

/** `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`. */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + WEBSOCKET_GUID, 'latin1')
    .digest('base64');
}

/** What the handshake needs to know, resolved and validated once per worker. */
export interface HandshakeSettings {
  /** Subprotocols the server speaks; the first the client lists that is here is chosen. */
  readonly subprotocols: ReadonlySet<string>;
  /** Lower-case names of the request headers to hand to the application. */
  readonly captureHeaders: ReadonlySet<string>;
}

/** The upgrade request as the application sees it in the open event. */
export interface UpgradeRequest {
  /** The request target as sent, path and query: `/chat?room=7`. */
  readonly path: string;
  /**
   * The captured headers the request carried, by lower-case name, values
   * trimmed; a repeated header's values joined with `, ` (`; ` for Cookie).
   */
  readonly headers: Readonly<Record<string, string>>;
  /** The subprotocol chosen, or '' when none was (the 101 then names none). */
  readonly subprotocol: string;
}

export type HandshakeStatus = 400 | 426 | 431;

export type HandshakeAnswer =
  | { readonly accepted: true; readonly request: UpgradeRequest; readonly response: Buffer }
  | { readonly accepted: false; readonly status: HandshakeStatus; readonly reason: string; readonly response: Buffer };

const STATUS_TEXT: Record<HandshakeStatus, string> = {
  400: 'Bad Request',
  426: 'Upgrade Required',
  431: 'Request Header Fields Too Large',
};

/** A refusal: the status, a plain-text body saying what was wrong, and `Connection: close`. */
export function refusal(status: HandshakeStatus, reason: string): HandshakeAnswer {
  // 426 must name the protocol it wants (RFC 9110) and the version (RFC 6455 section 4.4).
  const upgrade = status === 426 ? 'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' : '';
  const response = Buffer.from(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\n${upgrade}` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
    'utf8',
  );
  return { accepted: false, status, reason, response };
}

/** The 101 response for a valid key, naming the chosen subprotocol if any. */
export function switchingProtocols(key: string, subprotocol: string): Buffer {
  const protocol = subprotocol === '' ? '' : `Sec-WebSocket-Protocol: ${subprotocol}\r\n`;
  return Buffer.from(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n${protocol}\r\n`,
    'latin1',
  );
}

/** The comma-separated elements of a list header, trimmed, empty ones dropped (RFC 9110 section 5.6.1). */
function listElements(value: string): string[] {
  const elements: string[] = [];
  for (const part of value.split(',')) {
    const element = trimWhitespace(part);
    if (element !== '') elements.push(element);
  }
  return elements;
}

/** Strips the spaces and tabs HTTP allows around a field value, and nothing else. */
function trimWhitespace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value[start] === ' ' || value[start] === '\t')) start++;
  while (end > start && (value[end - 1] === ' ' || value[end - 1] === '\t')) end--;
  return value.slice(start, end);
}

function hasToken(list: string, token: string): boolean {
  return listElements(list).some((element) => element.toLowerCase() === token);
}

/**
 * Judges a complete request head (latin1 text, up to and including the
 * blank line's CRLF or without it) and builds the answer.
 */
export function answerUpgrade(head: string, settings: HandshakeSettings): HandshakeAnswer {
  const lines = head.split('\r\n');
  while (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  const requestLine = lines[0]!.split(' ');
  if (requestLine.length !== 3) return refusal(400, 'the request line must be "GET <path> HTTP/1.1"');
  const [method, target, version] = requestLine as [string, string, string];
  if (method !== 'GET') return refusal(400, `the method must be GET, not ${method}`);
  if (version !== 'HTTP/1.1') return refusal(400, 'the HTTP version must be HTTP/1.1');
  if (!TARGET_PATTERN.test(target)) return refusal(400, 'the request target must be a path starting with "/"');

  let upgrade: string | undefined;
  let connection: string | undefined;
  let key: string | undefined;
  let wsVersion: string | undefined;
  let protocols: string | undefined;
  const captured: Record<string, string> = Object.create(null);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    // Also refuses obsolete line folding (a line starting with a space) and whitespace before the colon.
    if (!TOKEN_PATTERN.test(name)) return refusal(400, `malformed header line ${JSON.stringify(line.slice(0, 40))}`);
    const value = trimWhitespace(line.slice(colon + 1));
    if (!VALUE_PATTERN.test(value)) return refusal(400, `the ${name} header holds a control character`);
    const lower = name.toLowerCase();
    switch (lower) {
      case 'upgrade':
        upgrade = upgrade === undefined ? value : `${upgrade}, ${value}`;
        break;
      case 'connection':
        connection = connection === undefined ? value : `${connection}, ${value}`;
        break;
      case 'sec-websocket-protocol':
        protocols = protocols === undefined ? value : `${protocols}, ${value}`;
        break;
      case 'sec-websocket-key':
        if (key !== undefined) return refusal(400, 'Sec-WebSocket-Key must be sent once');
        key = value;
        break;
      case 'sec-websocket-version':
        if (wsVersion !== undefined) return refusal(400, 'Sec-WebSocket-Version must be sent once');
        wsVersion = value;
        break;
      // What follows the head is frames; a body would be read as frames, so none may be announced.
      case 'content-length':
        if (value !== '0') return refusal(400, 'an upgrade request has no body');
        break;
      case 'transfer-encoding':
        return refusal(400, 'an upgrade request has no body');
    }
    if (settings.captureHeaders.has(lower)) {
      const before = captured[lower];
      captured[lower] = before === undefined ? value : `${before}${lower === 'cookie' ? '; ' : ', '}${value}`;
    }
  }

  if (upgrade === undefined || !hasToken(upgrade, 'websocket')) return refusal(400, 'the Upgrade header must name websocket');
  if (connection === undefined || !hasToken(connection, 'upgrade')) return refusal(400, 'the Connection header must include upgrade');
  if (wsVersion !== '13') return refusal(426, 'Sec-WebSocket-Version must be 13');
  if (key === undefined || !KEY_PATTERN.test(key)) return refusal(400, 'Sec-WebSocket-Key must be the base64 encoding of 16 bytes');

  let subprotocol = '';
  if (protocols !== undefined) {
    for (const offered of listElements(protocols)) {
      if (!TOKEN_PATTERN.test(offered)) return refusal(400, 'Sec-WebSocket-Protocol must be a list of tokens');
      if (subprotocol === '' && settings.subprotocols.has(offered)) subprotocol = offered;
    }
  }
  return { accepted: true, request: { path: target, headers: captured, subprotocol }, response: switchingProtocols(key, subprotocol) };
}

/** HeadReader.push: the head has not ended yet (its bytes so far are kept). */
export const HEAD_INCOMPLETE = -1;
/** HeadReader.push: no head end within maxHeadBytes; nothing is kept. */
export const HEAD_TOO_LARGE = -2;

/**
 * Finds where each connection's request head ends. Slot-indexed; a slot
 * owns a buffer only while its head is incomplete.
 */
export class HeadReader {
  readonly maxHeadBytes: number;
  readonly #partials = new Map<number, Partial>();
  /** The head completed by the last push that returned an index (a view, valid until the next push). */
  head: Uint8Array = new Uint8Array(0);

  constructor(maxHeadBytes: number) {
    this.maxHeadBytes = maxHeadBytes;
  }

  /**
   * Feeds one read of `slot`'s stream. Returns the index in `chunk` just
   * after the head (then `head` holds the whole head, CRLF CRLF included),
   * HEAD_INCOMPLETE or HEAD_TOO_LARGE.
   */
  push(slot: number, chunk: Uint8Array): number {
    const max = this.maxHeadBytes;
    const partial = this.#partials.get(slot);
    if (partial === undefined) {
      const end = headEnd(chunk, 0, Math.min(chunk.length, max));
      if (end >= 0) {
        this.head = chunk.subarray(0, end);
        return end;
      }
      if (chunk.length >= max) return HEAD_TOO_LARGE;
      if (chunk.length > 0) this.#partials.set(slot, new Partial(chunk, Math.min(max, Math.max(512, 2 * chunk.length))));
      return HEAD_INCOMPLETE;
    }
    const before = partial.length;
    // Only the bytes that could still end a head within the cap are taken.
    const taken = Math.min(chunk.length, max - before);
    partial.append(chunk.subarray(0, taken));
    // The terminator may begin up to 3 bytes back in what was kept.
    const end = headEnd(partial.bytes, Math.max(0, before - 3), partial.length);
    if (end >= 0) {
      this.#partials.delete(slot);
      this.head = partial.bytes.subarray(0, end);
      return end - before;
    }
    if (partial.length >= max) {
      this.#partials.delete(slot);
      return HEAD_TOO_LARGE;
    }
    return HEAD_INCOMPLETE;
  }

  /** Bytes held for `slot`'s incomplete head. */
  partialBytes(slot: number): number {
    return this.#partials.get(slot)?.length ?? 0;
  }

  /** Forgets `slot`'s incomplete head (its connection closed). */
  reset(slot: number): void {
    this.#partials.delete(slot);
  }
}

/** The index just after the first CRLF CRLF in bytes[from, to), or -1. */
function headEnd(bytes: Uint8Array, from: number, to: number): number {
  const at = Buffer.from(bytes.buffer, bytes.byteOffset, to).indexOf(HEAD_END, from);
  return at < 0 ? -1 : at + HEAD_END.length;
}

/** A head's bytes as the latin1 text answerUpgrade reads. */
export function headText(head: Uint8Array): string {
  return Buffer.from(head.buffer, head.byteOffset, head.length).toString('latin1');
}
