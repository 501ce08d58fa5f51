// The server side of RFC 6455 as a pure, synchronous codec for the I/O
// worker: bytes of many connections in, each identified by its slot;
// handshake answers, open events, whole messages and control replies out.
// No sockets and no timers: the caller feeds reads, writes what the codec
// hands it, ends connections when told, and runs the handshake timeout and
// the ping heartbeat on its own clock (encodePing makes the ping).
//
// Contract:
// - push(slot, chunk) feeds one read. Until the slot's handshake is done it
//   collects the request head (websocket-handshake.ts); then it writes the
//   101 through sink.write, calls sink.open with the request, and parses
//   the bytes that followed the head as frames (websocket-parser.ts, whose
//   contract covers messages, replies, limits and in-place unmasking).
// - The result says whether the connection goes on: OK; REFUSED (the
//   handshake failed; closeCode is the HTTP status: 400, 426 or 431);
//   CLOSED (the peer sent a close frame; closeCode is its code, 1005 for
//   none); FAILED (the peer broke the protocol; closeCode is 1002, 1007 or
//   1009). On anything but OK, finalBytes holds what to write last (the
//   HTTP error response, or the close frame answering or failing; none when
//   this side had closed first) and the caller ends the socket once it is
//   flushed (they are handed back rather than written so that the caller
//   can pass them to a close that writes them, then ends the socket). The
//   slot then yields nothing more and repeats its result, with no final
//   bytes, until reset.
// - close(slot, code, reason) is this side closing: it returns the close
//   frame to write (or undefined if there is none to write: the slot is
//   closing already, or never opened, when the socket is simply ended).
// - Outgoing messages need no per-connection state: encodeFrame, or
//   frameHeader before the payload (see websocket-frames.ts).
//
// Per connection at rest: a byte of phase here plus the parser's three
// bytes, in typed arrays indexed by slot; partial heads, frames and
// fragmented messages live in Maps only while they are incomplete.

import { FlamingoError, describe, invalidOption } from '../../shared/errors.ts';
import { FrameParser, FrameResult, type FrameSink } from './websocket-parser.ts';
import { HEAD_TOO_LARGE, HeadReader, type UpgradeRequest, answerUpgrade, headText, isToken, refusal } from './websocket-handshake.ts';

export {
  CloseStatus,
  Opcode,
  encodeClose,
  encodeFrame,
  encodePing,
  encodePong,
  frameHeader,
  frameHeaderLength,
  isValidCloseCode,
  writeFrameHeader,
} from './websocket-frames.ts';
export { acceptKey, type UpgradeRequest } from './websocket-handshake.ts';

export interface WebSocketOptions {
  /** The largest message, in payload bytes, reassembled from its fragments; larger ones close with 1009. */
  readonly maxMessageBytes: number;
  /** The longest upgrade request head, request line to blank line; longer ones get 431. Default 8192. */
  readonly maxHeadBytes?: number;
  /** Subprotocols the server speaks, any order; the client's order of preference decides. Default none. */
  readonly subprotocols?: readonly string[];
  /** Request headers to hand to the application, any case. Default Origin, Cookie, Authorization. */
  readonly captureHeaders?: readonly string[];
}

export const DEFAULT_MAX_HEAD_BYTES = 8192;
export const DEFAULT_CAPTURE_HEADERS: readonly string[] = ['origin', 'cookie', 'authorization'];
/** The shortest head cap worth having: a minimal valid upgrade request is about 150 bytes. */
const MIN_HEAD_BYTES = 256;

export interface WebSocketSink extends FrameSink {
  /** The handshake succeeded (its 101 is written); messages may follow in the same push. */
  open(slot: number, request: UpgradeRequest): void;
}

export const CodecResult = { OK: 0, REFUSED: 1, CLOSED: 2, FAILED: 3 } as const;
export type CodecResult = (typeof CodecResult)[keyof typeof CodecResult];

/** A slot's phase; the refused ones name their status. */
const Phase = { HANDSHAKE: 0, OPEN: 1, REFUSED_400: 2, REFUSED_426: 3, REFUSED_431: 4 } as const;
const REFUSED_STATUS = [0, 0, 400, 426, 431] as const;

export class WebSocketCodec {
  readonly #sink: WebSocketSink;
  readonly #heads: HeadReader;
  readonly #frames: FrameParser;
  readonly #phase: Uint8Array;
  readonly #settings: { subprotocols: ReadonlySet<string>; captureHeaders: ReadonlySet<string> };
  #finalBytes: Uint8Array | undefined = undefined;

  /** `capacity`: how many slots there are (the connection table's). */
  constructor(capacity: number, options: WebSocketOptions, sink: WebSocketSink) {
    const maxHeadBytes = options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
    if (!Number.isSafeInteger(options.maxMessageBytes) || options.maxMessageBytes < 0) {
      throw invalidOption('maxMessageBytes', 'a whole number of bytes, 0 or more', options.maxMessageBytes);
    }
    if (!Number.isSafeInteger(maxHeadBytes) || maxHeadBytes < MIN_HEAD_BYTES) {
      throw invalidOption('maxHeadBytes', `a whole number of bytes, at least ${MIN_HEAD_BYTES}`, maxHeadBytes);
    }
    this.#settings = {
      subprotocols: new Set(tokens('subprotocols', options.subprotocols ?? [])),
      captureHeaders: new Set(tokens('captureHeaders', options.captureHeaders ?? DEFAULT_CAPTURE_HEADERS).map((name) => name.toLowerCase())),
    };
    this.#sink = sink;
    this.#heads = new HeadReader(maxHeadBytes);
    this.#frames = new FrameParser(capacity, options.maxMessageBytes, sink);
    this.#phase = new Uint8Array(capacity);
  }

  push(slot: number, chunk: Uint8Array): CodecResult {
    this.#finalBytes = undefined;
    const phase = this.#phase[slot]!;
    if (phase === Phase.OPEN) return this.#pushFrames(slot, chunk);
    if (phase !== Phase.HANDSHAKE) return CodecResult.REFUSED;
    const headEnd = this.#heads.push(slot, chunk);
    if (headEnd < 0) {
      if (headEnd !== HEAD_TOO_LARGE) return CodecResult.OK;
      return this.#refuse(slot, refusal(431, `the request head must end within ${this.#heads.maxHeadBytes} bytes`).response, Phase.REFUSED_431);
    }
    const answer = answerUpgrade(headText(this.#heads.head), this.#settings);
    if (!answer.accepted) return this.#refuse(slot, answer.response, answer.status === 426 ? Phase.REFUSED_426 : Phase.REFUSED_400);
    this.#phase[slot] = Phase.OPEN;
    this.#sink.write(slot, answer.response);
    this.#sink.open(slot, answer.request);
    // A client may send its first frames right behind the request.
    return headEnd < chunk.length ? this.#pushFrames(slot, chunk.subarray(headEnd)) : CodecResult.OK;
  }

  /**
   * Set by a push that ends its slot: the bytes to write last, before the
   * socket ends (an HTTP error response, a close frame); undefined when there
   * are none.
   */
  get finalBytes(): Uint8Array | undefined {
    return this.#finalBytes;
  }

  /**
   * This side closes: the close frame to write, or undefined when there is
   * nothing to write (the handshake is not done, or a close was sent or
   * received already). Throws, changing nothing, on an invalid code or a
   * reason over 123 bytes.
   */
  close(slot: number, code?: number, reason?: string): Uint8Array | undefined {
    if (this.#phase[slot] !== Phase.OPEN) return undefined;
    return this.#frames.close(slot, code, reason);
  }

  /** Whether `slot`'s handshake is done: messages may be sent to it. */
  isOpen(slot: number): boolean {
    return this.#phase[slot] === Phase.OPEN;
  }

  /**
   * Why `slot` ended, once push said so: the HTTP status of a refused
   * handshake, or a WebSocket close code; 0 while it goes on.
   */
  closeCode(slot: number): number {
    const phase = this.#phase[slot]!;
    return phase === Phase.OPEN ? this.#frames.closeCodes[slot]! : REFUSED_STATUS[phase]!;
  }

  /** The reason text of the peer's close frame behind the last CLOSED result. */
  get lastCloseReason(): string {
    return this.#frames.lastCloseReason;
  }

  /** Bytes held for `slot`'s incomplete head, frame or message. */
  partialBytes(slot: number): number {
    return this.#phase[slot] === Phase.HANDSHAKE ? this.#heads.partialBytes(slot) : this.#frames.partialBytes(slot);
  }

  /** Forgets `slot` (its connection is gone); the slot's next connection starts with a handshake. */
  reset(slot: number): void {
    this.#heads.reset(slot);
    this.#frames.reset(slot);
    this.#phase[slot] = Phase.HANDSHAKE;
  }

  #pushFrames(slot: number, chunk: Uint8Array): CodecResult {
    const result = this.#frames.push(slot, chunk);
    if (result === FrameResult.OK) return CodecResult.OK;
    this.#finalBytes = this.#frames.finalBytes;
    return result === FrameResult.CLOSED ? CodecResult.CLOSED : CodecResult.FAILED;
  }

  #refuse(slot: number, response: Uint8Array, phase: number): CodecResult {
    this.#heads.reset(slot);
    this.#phase[slot] = phase;
    this.#finalBytes = response;
    return CodecResult.REFUSED;
  }
}

function tokens(option: string, names: readonly string[]): readonly string[] {
  if (!Array.isArray(names)) throw invalidOption(option, 'an array of HTTP tokens', names);
  for (const name of names) {
    if (typeof name !== 'string' || !isToken(name)) {
      throw new FlamingoError(
        'ERR_FLAMINGO_INVALID_OPTION',
        `option "${option}" must list HTTP tokens (letters, digits, !#$%&'*+-.^_\`|~); got ${describe(name)}`,
      );
    }
  }
  return names;
}
