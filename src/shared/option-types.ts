// The types of a server's options: what a user passes (ServerOptions, with
// the doc comments editors show) and what the server runs with once every
// default is filled in (ResolvedOptions: plain data, posted to the I/O
// workers as is). option-table.ts checks at compile time that both agree
// with the one table of options.

import type { ClusterOptions, ResolvedCluster } from './cluster-options.ts';
import type { FramingSpec } from './framing/index.ts';
import type { BuiltinProtocolName, ProtocolModuleOption } from './protocols/protocol.ts';
import type { ResolvedProtocol } from './protocols/spec.ts';
import type { ResolvedTls, TlsOptions } from './tls-options.ts';

export interface ServerOptions {
  /** Address to listen on. Default '127.0.0.1'. */
  host?: string;
  /** Port to listen on; 0 picks a free one (reported as server.port). Default 0. */
  port?: number;
  /** Number of I/O worker threads. Default: one per core. */
  workers?: number;
  /** Listen backlog of each worker's listener (the kernel caps it at net.core.somaxconn). Default 4096. */
  backlog?: number;
  /** 'raw' (chunks as read), 'delimiter' or 'length-prefix'. Default 'raw'. */
  framing?: 'raw' | 'delimiter' | 'length-prefix';
  /**
   * What runs in the I/O workers between the bytes and the application: a
   * built-in protocol by name (the framings, as `framing` takes them, and
   * 'websocket'), or a module of your own: `{ module: 'file:///abs/path.js'
   * | URL, options }`, loaded by every I/O worker, whose default export is a
   * ProtocolFactory. Default: the `framing`.
   */
  protocol?: BuiltinProtocolName | ProtocolModuleOption;
  /** The delimiter for framing 'delimiter', one or more bytes. Default '\n'. */
  delimiter?: string | Uint8Array;
  /** Keep the delimiter at the end of each frame. Default true. */
  keepDelimiter?: boolean;
  /** Length header size for 'length-prefix': 1, 2, 4 or 8 bytes. Default 4. */
  lengthBytes?: number;
  /** Length header byte order for 'length-prefix'. Default false (big-endian). */
  littleEndian?: boolean;
  /** The length counts the header too. Default false (payload only). */
  lengthIncludesHeader?: boolean;
  /** Keep the length header at the start of each frame. Default true. */
  keepHeader?: boolean;
  /** protocol 'websocket': the subprotocols the server speaks; the first the client offers that is listed is agreed. Default none. */
  subprotocols?: readonly string[];
  /** protocol 'websocket': the upgrade request headers the open event carries, any case. Default origin, cookie, authorization. */
  captureHeaders?: readonly string[];
  /**
   * protocol 'websocket': a connection that sent nothing for one to two
   * intervals gets a ping; if another interval passes with nothing from it,
   * it closes with 'idle-timeout'. 0 = off. Default 30000.
   */
  pingIntervalMs?: number;
  /** protocol 'websocket': an upgrade not completed within this closes the connection (counted in closedBeforeOpen); 0 = never. Default 10000. */
  handshakeTimeoutMs?: number;
  /** Largest frame, delimiter or length header included; a larger one closes the connection with 'frame-too-large'. Default 1 MiB. */
  maxFrameBytes?: number;
  /** Bytes in each worker's event ring (power of two). Default 4 MiB. */
  eventRingBytes?: number;
  /** Bytes in each (producer, worker) command ring (power of two). Default 4 MiB. */
  commandRingBytes?: number;
  /** Connection slots per worker; a connection over it is closed at once and counted as rejected. Default 1,048,576. */
  maxConnectionsPerWorker?: number;
  /**
   * Node number written into every id, for routing across processes and
   * machines; 'auto' leases a free one from Redis at start (needs
   * `cluster`), renewed while the server runs and freed at shutdown. Default 0.
   */
  node?: number | 'auto';
  /** Route ids and topics between nodes through Redis (see ClusterOptions). Default: off, one process, no Redis. */
  cluster?: ClusterOptions;
  /** Disable Nagle on accepted sockets. Default true. */
  noDelay?: boolean;
  /** TCP keep-alive initial delay in ms on accepted sockets; 0 = off. Default 0. */
  keepAliveMs?: number;
  /**
   * Terminate TLS in every I/O worker, for every protocol ('websocket'
   * becomes wss://): { key, cert } in PEM (strings or bytes), and any other
   * data option tls.createSecureContext() takes. A connection opens (its
   * open event) once its handshake is done. server.setSecureContext()
   * replaces the certificates at run time. Default: off.
   */
  tls?: TlsOptions;
  /** With tls: a TLS handshake not done within this closes the connection (counted in tlsHandshakeErrors); 0 = never. Default 10000. */
  tlsHandshakeTimeoutMs?: number;
  /** With host '::', accept IPv6 only (true) or IPv4 too (false). Default false. */
  ipv6Only?: boolean;
  /**
   * Let other processes of the same application (same user) listen on this
   * port too, the kernel spreading connections over all of them (reusePort
   * across processes); every server on the port must set it. Default false:
   * a port that any other socket holds is refused with ERR_FLAMINGO_LISTEN
   * (EADDRINUSE), and a later server that sets sharePort cannot join it.
   */
  sharePort?: boolean;
  /** Close a connection with no data in or out for this long ('idle-timeout'); 0 = never. Default 0. */
  idleTimeoutMs?: number;
  /** Close a connection whose incomplete frame has waited this long ('frame-timeout'); 0 = never. Default 30000. */
  frameTimeoutMs?: number;
  /**
   * The longest a closing connection may take to write what was sent to it:
   * after close(id), or after the peer half-closed (its write side stays
   * open for replies). Then the socket is destroyed and its unsent bytes
   * are counted in abandonedBytes. Default 5000.
   */
  closeTimeoutMs?: number;
  /** Server-wide cap on open connections; one over it is accepted, closed at once and counted as rejected. Default: no cap beyond the slots. */
  maxConnections?: number;
  /** Bytes queued for one connection's socket before the slowConsumer policy applies. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Past maxBufferedBytes: close the connection ('slow-consumer') or drop the send and count it. Default 'close'. */
  slowConsumer?: 'close' | 'drop';
  /** Serve Prometheus metrics on GET /metrics at this port (0 picks one; needs prom-client). Default: off. */
  metricsPort?: number;
  /** Address for the metrics endpoint. Default '127.0.0.1'. */
  metricsHost?: string;
  /** Who drains the event rings: the main thread ('main') or a pipeline opened elsewhere ('external'). Default 'main'. */
  consumer?: 'main' | 'external';
}

export interface ResolvedOptions {
  host: string;
  port: number;
  workers: number;
  backlog: number;
  /** The framing in effect: the built-in framing's spec, or { kind: 'raw' } for a protocol that frames for itself. */
  framing: FramingSpec;
  protocol: ResolvedProtocol;
  /** The WebSocket protocol's options, at their defaults with any other protocol. */
  subprotocols: readonly string[];
  captureHeaders: readonly string[];
  pingIntervalMs: number;
  handshakeTimeoutMs: number;
  maxFrameBytes: number;
  eventRingBytes: number;
  commandRingBytes: number;
  maxConnectionsPerWorker: number;
  /** The node number; with node 'auto', the leased one once the server has started. */
  node: number;
  cluster: ResolvedCluster | null;
  noDelay: boolean;
  keepAliveMs: number;
  /** The certificates listen() was given; server.setSecureContext() replaces the workers' copies, not this. */
  tls: ResolvedTls | null;
  tlsHandshakeTimeoutMs: number;
  ipv6Only: boolean;
  sharePort: boolean;
  idleTimeoutMs: number;
  frameTimeoutMs: number;
  closeTimeoutMs: number;
  maxConnections: number;
  maxBufferedBytes: number;
  slowConsumer: 'close' | 'drop';
  /** -1 when off. */
  metricsPort: number;
  metricsHost: string;
  consumer: 'main' | 'external';
}
