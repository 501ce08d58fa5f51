// The protocol interface: what runs in every I/O worker between a
// connection's bytes and the application's messages. The built-in framings
// ('raw', 'delimiter', 'length-prefix') are protocols on this interface, and
// so is a user's own module (`protocol: { module: url, options }`).
//
// Contract, in full:
//
// - A protocol module's default export is a ProtocolFactory. Each I/O
//   worker imports the module and calls the factory once, with its host and
//   the `options` given to the server (structured-cloned to the worker). The
//   Protocol it returns serves every connection of that worker; connections
//   are told apart by `slot`, an integer below maxConnectionsPerWorker that
//   is reused once a connection has ended. Keep per-connection state
//   slot-indexed (typed arrays, or a Map holding an entry only while it is
//   needed) and forget it in disconnect(slot): an idle connection should cost
//   nothing but array entries.
// - Every call is synchronous and runs on the worker's thread. The host's
//   methods act only on the slot being served: call them from inside
//   connect, read, encode or timeout, for that call's slot. A call from
//   anywhere else (a timer of your own, a promise) is ignored and counted as
//   a protocol error.
// - A call that throws, or that hands the host something it cannot use (a
//   message that is not a Uint8Array, an unknown close reason, another slot,
//   a message before the connection is open), closes that one connection
//   with reason 'error' and counts `protocolErrors` in the server's stats;
//   the first one in each worker is also printed as a process warning. The
//   worker and every other connection carry on. encode() that throws or
//   returns anything but bytes does the same, and the message is not sent.
//   closing() that throws or returns anything but a Farewell is counted the
//   same way, and the connection closes as asked, with no final bytes.
// - Bytes handed to read() are valid only during the call: copy what you
//   keep. They are the protocol's to spend: it may overwrite them (a
//   WebSocket parser unmasks frames in place). A message handed to
//   deliver() is copied into the event ring at once, so it may be a view of
//   the read or of a buffer you reuse. Bytes given to write() or to close()
//   are copied too, and so are a Farewell's. What encode() returns goes to
//   the socket as is, and the socket may hold it until the kernel takes it:
//   return new bytes (or `payload` itself, which is yours to send but not to
//   change: one copy may serve many connections), never a buffer you will
//   reuse.
// - Ordering: connect(slot) comes first, then reads and encodes in the order
//   the socket and the application produce them, then disconnect(slot)
//   exactly once, after which the slot may be given to a new connection.
//   Once you close the connection, or a limit or a timeout does, no more
//   read() or timeout() calls come for it. When the application closes it
//   (close(id)) or the server shuts down, closing(slot) comes first, once,
//   if the connection is open and not closing already. Once the peer has
//   ended its side no timeout() comes; once the application has closed it,
//   reads may still come until the socket is gone, but write() sends nothing.
// - Limits stay the server's: a message longer than host.maxFrameBytes
//   closes the connection with 'frame-too-large' instead of being
//   delivered; write() and encoded sends count against maxBufferedBytes and
//   its slowConsumer policy like any send; frameTimeoutMs applies while
//   pendingBytes(slot) is above 0; idleTimeoutMs applies throughout.

/** The built-in protocols, by name: the three framings and RFC 6455 WebSocket. */
export const BUILTIN_PROTOCOL_NAMES = ['raw', 'delimiter', 'length-prefix', 'websocket'] as const;
export type BuiltinProtocolName = (typeof BUILTIN_PROTOCOL_NAMES)[number];

/** The close reasons a protocol may give; the application's close event carries the one given. */
export const PROTOCOL_CLOSE_REASONS = ['peer', 'error', 'frame-too-large', 'frame-timeout', 'idle-timeout'] as const;
/**
 * 'peer': the peer asked to close (a close frame, a QUIT); 'error': the peer
 * broke the protocol; 'frame-too-large': a message over the limit;
 * 'frame-timeout': a message or a handshake that did not complete in time;
 * 'idle-timeout': the peer stopped answering (a heartbeat went unanswered).
 */
export type ProtocolCloseReason = (typeof PROTOCOL_CLOSE_REASONS)[number];

/**
 * What a handshake learnt about a connection, handed to the application
 * with its open event (OpenInfo.path, OpenInfo.headers). At most 16 KiB
 * once serialised as JSON.
 */
export interface OpenRequest {
  /** The request path, with its query (a WebSocket upgrade's `GET /chat?room=1`). */
  path?: string;
  /** Header names (lower case by convention) and their values, only those the application asked for. */
  headers?: Readonly<Record<string, string>>;
  /** The subprotocol the handshake agreed on (a WebSocket's `Sec-WebSocket-Protocol`); absent when none was. */
  protocol?: string;
}

/** The largest close code a protocol may report (a u16 travels with the close event). */
export const MAX_PROTOCOL_CLOSE_CODE = 0xffff;

/** What a protocol writes last when the application or a shutdown closes a connection (Protocol.closing). */
export interface Farewell {
  /** Written after everything sent before; the socket ends once they are flushed (within closeTimeoutMs). */
  finalBytes: Uint8Array;
  /** The close code they carry (a WebSocket close code, 0 to 65535), handed to the application with the close event. */
  code?: number;
}

/** What the I/O worker offers a protocol. Every method acts on the slot being served (see the contract above). */
export interface ProtocolHost {
  /** The server's maxFrameBytes: a message longer than this is refused (closes with 'frame-too-large'). */
  readonly maxFrameBytes: number;
  /** Slots are integers from 0 to slotCount - 1 (the server's maxConnectionsPerWorker): the size of slot-indexed typed arrays. */
  readonly slotCount: number;
  /** Hands one whole message to the application as a data event; `text` marks it as text (a WebSocket text frame). */
  deliver(slot: number, message: Uint8Array, text?: boolean): void;
  /**
   * Writes bytes to the connection's socket now, without the application: a
   * handshake reply, a pong. They go ahead of any reply the application has
   * not sent yet (a request/reply protocol that must keep order holds them
   * back itself, see examples/protocols/resp.ts). Copied.
   */
  write(slot: number, bytes: Uint8Array): void;
  /**
   * Only for a protocol with `handshake: true`: the connection is now open
   * for the application, whose open event carries `request`. Until then it
   * sees nothing of the connection, and a connection that ends before it is
   * counted in `closedBeforeOpen`, with no open or close event.
   */
  open(slot: number, request?: OpenRequest): void;
  /**
   * Closes the connection with `reason`. With `finalBytes` (a WebSocket close
   * frame, an error reply), they are written after everything written
   * before and the socket ends once it has flushed them (within
   * closeTimeoutMs); without, it is destroyed at once and anything still
   * buffered for it is abandoned. `code` (0 to 65535) says more than the
   * reason in the protocol's own terms (a WebSocket close code, the peer's
   * or the one sent); the application's close event carries it.
   */
  close(slot: number, reason: ProtocolCloseReason, finalBytes?: Uint8Array, code?: number): void;
  /**
   * Calls timeout(slot) once, `delayMs` (0 to 86,400,000) from now, replacing
   * the slot's earlier timer: one timer per connection, on the worker's
   * timing wheel (no timer object per connection; it fires up to about
   * 300 ms late). Needs a timeout method.
   */
  setTimer(slot: number, delayMs: number): void;
  /** Cancels the slot's timer, if any. */
  clearTimer(slot: number): void;
}

/** One protocol instance per I/O worker, serving all of its connections. Only read() is required. */
export interface Protocol {
  /**
   * True when the protocol decides when a connection opens (it completes a
   * handshake, then calls host.open). False or absent: the connection is
   * open for the application as soon as it is accepted, before connect().
   */
  readonly handshake?: boolean;
  /** A new connection in `slot`: set up its state, maybe write a greeting or set a handshake timer. */
  connect?(slot: number): void;
  /** Bytes read from the connection: deliver each whole message, answer control traffic, keep what is incomplete. */
  read(slot: number, bytes: Uint8Array): void;
  /**
   * Frames one outgoing message sent by the application (`send`, `sendMany`,
   * `publish`): `text` is true when `send` or `sendMany` was given a string
   * (a publish, or a send routed from another node, arrives as bytes).
   * Return the bytes to write, one array or several in order. Absent:
   * payloads are written as they are.
   */
  encode?(slot: number, payload: Uint8Array, text: boolean): Uint8Array | readonly Uint8Array[];
  /** The slot's timer (host.setTimer) is due. */
  timeout?(slot: number): void;
  /**
   * The application closes the connection (`close(id)`, reason 'local') or
   * the server shuts down ('shutdown'): return the bytes to write last (a
   * WebSocket close frame), or nothing to end the socket as it is.
   */
  closing?(slot: number, reason: 'local' | 'shutdown'): Farewell | undefined;
  /** Bytes held for an incomplete message: frameTimeoutMs runs while above 0, and a close with some counts as truncated. */
  pendingBytes?(slot: number): number;
  /** The connection is gone, for any reason: forget its state. No host call is possible for it any more. */
  disconnect?(slot: number): void;
}

/** A protocol module's default export: called once per I/O worker with the host and the server's `protocol.options`. */
export type ProtocolFactory<Options = unknown> = (host: ProtocolHost, options: Options) => Protocol;

/** The `protocol` server option for a user's module. */
export interface ProtocolModuleOption {
  /** An absolute `file:` or `data:` URL of an ES module whose default export is a ProtocolFactory. */
  module: string | URL;
  /** Passed to the factory in every I/O worker: structured-cloneable data. */
  options?: unknown;
}
