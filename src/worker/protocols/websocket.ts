// The built-in 'websocket' protocol: the RFC 6455 codec (websocket-codec.ts)
// on the protocol interface. The codec judges the upgrade, cuts frames,
// answers pings and the closing handshake; this file connects it to the
// host and runs the two clocks the codec leaves to its caller, on the
// slot's one protocol timer:
//
// - Until the handshake is done, the timer is the handshake deadline
//   (handshakeTimeoutMs): a connection still without its upgrade then closes
//   with 'frame-timeout'. It never opened, so the application hears nothing;
//   closedBeforeOpen counts it.
// - Once open, it is the heartbeat (pingIntervalMs), the dead-peer check a
//   `ws` user writes by hand: each interval, a connection that sent
//   anything since the last one is left alone; one that sent nothing gets a
//   ping; one that sent nothing since its ping closes with 'idle-timeout'.
//   Any read is proof of life (the codec does not report pongs, and a peer
//   that sends messages is alive), so the heartbeat costs one store per read
//   and one timer per interval, and a busy connection is never pinged.
//
// Close codes reach the application with the close event: the peer's (1000,
// 1001, 4xxx...; 1005 when its close frame had none), the one a failure
// sends (1002, 1007, 1009), and the one this side sends when the application
// closes (1000) or the server shuts down (1001). A refused handshake, a
// heartbeat or a limit of the server's has none.
//
// Per connection at rest: the codec's few bytes and one byte of heartbeat
// state here, in typed arrays indexed by slot.

import type { ResolvedOptions } from '../../shared/options.ts';
import type { Farewell, Protocol, ProtocolCloseReason, ProtocolHost } from '../../shared/protocols/protocol.ts';
import { CloseStatus, CodecResult, type UpgradeRequest, WebSocketCodec, encodePing, frameHeader } from './websocket-codec.ts';

/** Heartbeat state of an open connection (WebSocketProtocol.#heartbeat). */
const Heartbeat = {
  /** Nothing read since the last interval began. */
  QUIET: 0,
  /** Something was read since the last interval began. */
  HEARD: 1,
  /** A ping went out and nothing has been read since. */
  PINGED: 2,
} as const;

type WebSocketOptions = Pick<ResolvedOptions, 'subprotocols' | 'captureHeaders' | 'pingIntervalMs' | 'handshakeTimeoutMs'>;

class WebSocketProtocol implements Protocol {
  readonly handshake = true;
  readonly #host: ProtocolHost;
  readonly #codec: WebSocketCodec;
  readonly #pingIntervalMs: number;
  readonly #handshakeTimeoutMs: number;
  readonly #heartbeat: Uint8Array;
  readonly pendingBytes: (slot: number) => number;

  constructor(host: ProtocolHost, options: WebSocketOptions) {
    this.#host = host;
    this.#pingIntervalMs = options.pingIntervalMs;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs;
    this.#heartbeat = new Uint8Array(host.slotCount);
    this.#codec = new WebSocketCodec(
      host.slotCount,
      { maxMessageBytes: host.maxFrameBytes, subprotocols: options.subprotocols, captureHeaders: options.captureHeaders },
      {
        open: (slot, request) => this.#opened(slot, request),
        message: (slot, payload, isText) => host.deliver(slot, payload, isText),
        write: (slot, bytes) => host.write(slot, bytes),
      },
    );
    const codec = this.#codec;
    this.pendingBytes = (slot) => codec.partialBytes(slot);
  }

  connect(slot: number): void {
    this.#heartbeat[slot] = Heartbeat.QUIET;
    if (this.#handshakeTimeoutMs > 0) this.#host.setTimer(slot, this.#handshakeTimeoutMs);
  }

  read(slot: number, bytes: Uint8Array): void {
    this.#heartbeat[slot] = Heartbeat.HEARD;
    const codec = this.#codec;
    const result = codec.push(slot, bytes);
    if (result === CodecResult.OK) return;
    const code = codec.closeCode(slot);
    // A refused handshake's code is an HTTP status, which the application never sees: it never opened.
    this.#host.close(slot, closeReason(result, code), codec.finalBytes, result === CodecResult.REFUSED ? undefined : code);
  }

  encode(_slot: number, payload: Uint8Array, text: boolean): readonly Uint8Array[] {
    return [frameHeader(payload.length, text), payload];
  }

  timeout(slot: number): void {
    const host = this.#host;
    if (!this.#codec.isOpen(slot)) {
      host.close(slot, 'frame-timeout');
      return;
    }
    const state = this.#heartbeat[slot];
    if (state === Heartbeat.PINGED) {
      // The peer is gone or stuck: nobody reads a close frame there.
      host.close(slot, 'idle-timeout');
      return;
    }
    if (state === Heartbeat.QUIET) host.write(slot, PING);
    this.#heartbeat[slot] = state === Heartbeat.QUIET ? Heartbeat.PINGED : Heartbeat.QUIET;
    host.setTimer(slot, this.#pingIntervalMs);
  }

  closing(slot: number, reason: 'local' | 'shutdown'): Farewell | undefined {
    const code = reason === 'shutdown' ? CloseStatus.GOING_AWAY : CloseStatus.NORMAL;
    const frame = this.#codec.close(slot, code);
    return frame === undefined ? undefined : { finalBytes: frame, code };
  }

  disconnect(slot: number): void {
    this.#codec.reset(slot);
    this.#heartbeat[slot] = Heartbeat.QUIET;
  }

  #opened(slot: number, request: UpgradeRequest): void {
    const host = this.#host;
    host.open(slot, { path: request.path, headers: request.headers, ...(request.subprotocol === '' ? {} : { protocol: request.subprotocol }) });
    this.#heartbeat[slot] = Heartbeat.QUIET;
    if (this.#pingIntervalMs > 0) host.setTimer(slot, this.#pingIntervalMs);
    else host.clearTimer(slot);
  }
}

/** Every ping is the same empty one; host.write copies it. */
const PING = encodePing();

/** The close reason for a push that ended its connection, and the codec's code for it. */
function closeReason(result: CodecResult, code: number): ProtocolCloseReason {
  if (result === CodecResult.CLOSED) return 'peer';
  if (result === CodecResult.FAILED && code === CloseStatus.MESSAGE_TOO_BIG) return 'frame-too-large';
  return 'error';
}

/** The factory of the built-in 'websocket' protocol: its options are the server's resolved ones. */
export function websocketProtocol(host: ProtocolHost, options: WebSocketOptions): Protocol {
  return new WebSocketProtocol(host, options);
}
