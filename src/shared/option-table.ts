// OPTIONS is the one list of options a server takes: each option's name,
// the values it accepts, its default and what it means. resolveOptions,
// the unknown-option check and the framing cross-checks walk it, and the
// demo's flags and --help and the README's options table are rendered from
// it. A type check at the end of this file fails to compile while the
// table and the ServerOptions / ResolvedOptions types disagree on a name or
// a type.

import { availableParallelism } from 'node:os';
import type { ClusterOptions } from './cluster-options.ts';
import type { FramingSpec } from './framing/index.ts';
import type { BuiltinProtocolName, ProtocolModuleOption } from './protocols/protocol.ts';
import { MAX_SLOTS, MAX_WORKERS } from './id.ts';
import type { ResolvedOptions, ServerOptions } from './option-types.ts';
import { maxRecordPayload } from './ring.ts';
import type { TlsOptions } from './tls-options.ts';

/**
 * The options whose values bound another option (maxFrameBytes is at most
 * what the event ring holds and at least the delimiter or length header);
 * resolveOptions resolves them before the rest.
 */
export const RESOLVED_FIRST = ['eventRingBytes', 'framing'] as const satisfies readonly (keyof ResolvedOptions)[];
export type ResolvedFirst = Pick<ResolvedOptions, (typeof RESOLVED_FIRST)[number]>;

/** A bound or default that is a constant, or computed from the options resolved first. */
export type Computed = number | ((resolved: ResolvedFirst) => number);

/** A framing that has options of its own. */
type FramingWithOptions = Exclude<FramingSpec['kind'], 'raw'>;

interface OptionText {
  /** The key in ServerOptions; the demo's flag is its kebab-case. */
  readonly name: string;
  /** What the option does, one line of markdown: the README table's and --help's wording. */
  readonly meaning: string;
  /** The default as a reader should see it, in markdown; when absent, the default value as code. */
  readonly shownDefault?: string;
  /** The framing this option configures; with any other framing, setting it is refused. It goes into ResolvedOptions.framing. */
  readonly framing?: FramingWithOptions;
  /**
   * The built-in protocol this option configures (a WebSocket heartbeat, say);
   * with any other protocol, setting it is refused. It stays at the top of
   * ResolvedOptions, where the protocol's factory reads it.
   */
  readonly protocol?: BuiltinProtocolName;
}

/** One option: its name, the values it accepts, its default, and what it means. */
export type OptionDescriptor = OptionText &
  (
    | { readonly kind: 'integer'; readonly min: Computed; readonly max: Computed; readonly default: Computed }
    /** A ring's size: a power of two from MIN_RING_BYTES to MAX_RING_BYTES. */
    | { readonly kind: 'ringBytes'; readonly default: number }
    | { readonly kind: 'boolean'; readonly default: boolean }
    | { readonly kind: 'oneOf'; readonly allowed: readonly string[] | readonly number[]; readonly default: string | number }
    /** A host name or IP address, 1 to 255 characters. */
    | { readonly kind: 'host'; readonly default: string }
    /** A string (its UTF-8 bytes) or Uint8Array of 1 to maxBytes bytes, resolved to a Uint8Array copy. */
    | { readonly kind: 'delimiter'; readonly maxBytes: number; readonly default: string }
    /** A node number from 0 to MAX_NODES - 1, or 'auto' (leased from Redis; needs `cluster`). */
    | { readonly kind: 'node'; readonly default: number }
    /** The cluster option, an object of its own (cluster-options.ts); null when absent. */
    | { readonly kind: 'cluster'; readonly default: null }
    /** A built-in protocol's name or a module's URL with its options (protocols/spec.ts); absent, the framing's own protocol. */
    | { readonly kind: 'protocol'; readonly default: null }
    /** A list of HTTP tokens (header names, subprotocol names), resolved to a copy. */
    | { readonly kind: 'tokens'; readonly default: readonly string[] }
    /** The tls option, an object of its own (tls-options.ts); null when absent. */
    | { readonly kind: 'tls'; readonly default: null }
  );

const MiB = 1024 * 1024;
const DAY_MS = 86_400_000;

/** The shortest frame maxFrameBytes may allow: one that holds its delimiter or length header. */
function shortestFrame(framing: FramingSpec): number {
  return framing.kind === 'delimiter' ? framing.delimiter.length : framing.kind === 'length-prefix' ? framing.lengthBytes : 1;
}

/** Every option, in the order the README and --help list them. */
export const OPTIONS = [
  { name: 'host', kind: 'host', default: '127.0.0.1', meaning: "address to listen on: IPv4, IPv6, or `'::'` for dual stack" },
  { name: 'port', kind: 'integer', min: 0, max: 65535, default: 0, meaning: 'port; 0 picks a free one (`server.port`)' },
  { name: 'ipv6Only', kind: 'boolean', default: false, meaning: "with `host: '::'`, refuse IPv4 clients" },
  {
    name: 'sharePort',
    kind: 'boolean',
    default: false,
    meaning:
      'let other processes of the same application (same user) listen on this port too, the kernel spreading connections over all of them; every server on the port must set it. Without it a port any other socket holds is refused with `ERR_FLAMINGO_LISTEN` (EADDRINUSE), as plain `net` refuses it, and a later server that sets `sharePort` cannot join',
  },
  {
    name: 'backlog',
    kind: 'integer',
    min: 1,
    max: 65535,
    default: 4096,
    meaning: "listen backlog of each worker's listener (capped by the kernel's `somaxconn`): a reconnect storm after a deploy should queue, not be dropped",
  },
  {
    name: 'workers',
    kind: 'integer',
    min: 1,
    max: MAX_WORKERS,
    default: () => Math.min(availableParallelism(), MAX_WORKERS),
    shownDefault: `cores (max ${MAX_WORKERS})`,
    meaning: 'I/O worker threads',
  },
  {
    name: 'framing',
    kind: 'oneOf',
    allowed: ['raw', 'delimiter', 'length-prefix'],
    default: 'raw',
    meaning: "`'raw'` (chunks as read), `'delimiter'` or `'length-prefix'`",
  },
  {
    name: 'protocol',
    kind: 'protocol',
    default: null,
    shownDefault: 'the `framing`',
    meaning:
      "what runs in the I/O workers between bytes and messages: a built-in protocol (`'raw'`, `'delimiter'` and `'length-prefix'`, the framings; `'websocket'`), or your own module, `{ module: 'file:///abs/path.js' | URL, options }`, loaded by every I/O worker (see [Protocols](#protocols))",
  },
  { name: 'delimiter', framing: 'delimiter', kind: 'delimiter', maxBytes: 16, default: '\n', meaning: "1 to 16 bytes, for `'delimiter'` (`'\\r\\n'` works)" },
  { name: 'keepDelimiter', framing: 'delimiter', kind: 'boolean', default: true, meaning: 'keep the delimiter at the end of each frame' },
  {
    name: 'lengthBytes',
    framing: 'length-prefix',
    kind: 'oneOf',
    allowed: [1, 2, 4, 8],
    default: 4,
    meaning: "length header of `'length-prefix'`: 1, 2, 4 or 8 bytes, unsigned",
  },
  { name: 'littleEndian', framing: 'length-prefix', kind: 'boolean', default: false, meaning: 'length header byte order' },
  { name: 'lengthIncludesHeader', framing: 'length-prefix', kind: 'boolean', default: false, meaning: 'the length counts the header too' },
  { name: 'keepHeader', framing: 'length-prefix', kind: 'boolean', default: true, meaning: 'keep the header at the start of each frame' },
  {
    name: 'subprotocols',
    protocol: 'websocket',
    kind: 'tokens',
    default: [],
    shownDefault: 'none',
    meaning: "WebSocket subprotocols the server speaks; the first one the client offers that is listed here is agreed (the open event's `protocol`)",
  },
  {
    name: 'captureHeaders',
    protocol: 'websocket',
    kind: 'tokens',
    default: ['origin', 'cookie', 'authorization'],
    shownDefault: '`origin`, `cookie`, `authorization`',
    meaning: 'headers of the WebSocket upgrade request the open event carries (its `headers`, by lower-case name)',
  },
  {
    name: 'pingIntervalMs',
    protocol: 'websocket',
    kind: 'integer',
    min: 0,
    max: DAY_MS,
    default: 30_000,
    meaning:
      'WebSocket heartbeat: a connection that sent nothing for one to two intervals gets a ping, and closes with `idle-timeout` if another interval passes with nothing from it (0 = off)',
  },
  {
    name: 'handshakeTimeoutMs',
    protocol: 'websocket',
    kind: 'integer',
    min: 0,
    max: DAY_MS,
    default: 10_000,
    meaning: 'a WebSocket upgrade not completed within this closes the connection, counted in `closedBeforeOpen` (0 = never)',
  },
  {
    name: 'maxFrameBytes',
    kind: 'integer',
    min: (resolved) => shortestFrame(resolved.framing),
    max: (resolved) => maxRecordPayload(resolved.eventRingBytes),
    default: (resolved) => Math.min(MiB, maxRecordPayload(resolved.eventRingBytes)),
    shownDefault: '1 MiB (at most half the event ring)',
    meaning:
      "largest frame on the wire, delimiter or header included; larger closes the connection with `frame-too-large` (a length header is checked as soon as it is complete); raw chunks are cut to it. For `'websocket'`, the largest message, its fragments put together (larger closes with 1009)",
  },
  {
    name: 'frameTimeoutMs',
    kind: 'integer',
    min: 0,
    max: DAY_MS,
    default: 30_000,
    meaning:
      'an incomplete frame older than this closes the connection with `frame-timeout` (0 = never; not for raw, nor for a protocol that reports no pending bytes)',
  },
  {
    name: 'idleTimeoutMs',
    kind: 'integer',
    min: 0,
    max: DAY_MS,
    default: 0,
    shownDefault: '`0` (never)',
    meaning: 'no data in or out for this long closes the connection with `idle-timeout`',
  },
  {
    name: 'closeTimeoutMs',
    kind: 'integer',
    min: 1,
    max: DAY_MS,
    default: 5000,
    meaning:
      'the longest a closing connection may take to write what was sent to it, after `close(id)` or after the peer half-closed; then the socket is destroyed and its unsent bytes counted in `abandonedBytes`',
  },
  {
    name: 'maxConnections',
    kind: 'integer',
    min: 1,
    max: 2 ** 31 - 1,
    default: 2 ** 31 - 1,
    shownDefault: 'no cap',
    meaning: 'server-wide cap; a connection over it is accepted, closed at once, counted in `rejected`, never delivered as open',
  },
  {
    name: 'maxConnectionsPerWorker',
    kind: 'integer',
    min: 1,
    max: MAX_SLOTS,
    default: 2 ** 20,
    shownDefault: '1,048,576',
    meaning: 'slots per worker, the same rule per worker',
  },
  {
    name: 'maxBufferedBytes',
    kind: 'integer',
    min: 1,
    max: 2 ** 40,
    default: MiB,
    shownDefault: '1 MiB',
    meaning:
      "bytes one connection's socket may have queued: a message that would take it past this applies `slowConsumer`; it is also the largest single message (`send` of more throws `ERR_FLAMINGO_PAYLOAD_TOO_LARGE`), since no socket could ever take it",
  },
  {
    name: 'slowConsumer',
    kind: 'oneOf',
    allowed: ['close', 'drop'],
    default: 'close',
    meaning: "past `maxBufferedBytes`: `'close'` the connection (reason `slow-consumer`) or `'drop'` the whole message and count it (`droppedSends`)",
  },
  { name: 'noDelay', kind: 'boolean', default: true, meaning: 'disable Nagle on accepted sockets' },
  {
    name: 'keepAliveMs',
    kind: 'integer',
    min: 0,
    max: DAY_MS,
    default: 0,
    shownDefault: '`0` (off)',
    meaning: 'TCP keep-alive initial delay on accepted sockets',
  },
  {
    name: 'tls',
    kind: 'tls',
    default: null,
    shownDefault: 'off',
    meaning:
      "terminate TLS in every I/O worker, for every protocol (`'websocket'` becomes `wss://`): `{ key, cert }` in PEM (strings or bytes), and any other data option of `tls.createSecureContext()` (`ca`, `passphrase`, `ciphers`, `minVersion`, ...); see [TLS](#tls)",
  },
  {
    name: 'tlsHandshakeTimeoutMs',
    kind: 'integer',
    min: 0,
    max: DAY_MS,
    default: 10_000,
    meaning: 'with `tls`: a TLS handshake not done within this closes the connection, counted in `tlsHandshakeErrors` (0 = never)',
  },
  { name: 'eventRingBytes', kind: 'ringBytes', default: 4 * MiB, shownDefault: '4 MiB', meaning: "each worker's event ring (power of two)" },
  {
    name: 'commandRingBytes',
    kind: 'ringBytes',
    default: 4 * MiB,
    shownDefault: '4 MiB',
    meaning: 'each (producer thread, worker) command ring (power of two)',
  },
  {
    name: 'node',
    kind: 'node',
    default: 0,
    meaning: "node number (0 to 255) written into every id; `'auto'` leases a free one from Redis (needs `cluster`)",
  },
  {
    name: 'cluster',
    kind: 'cluster',
    default: null,
    shownDefault: 'off',
    meaning: 'route ids and topics between nodes through Redis: `{ redis, prefix, leaseMs, routeBufferBytes }` (see [Past one process](#past-one-process))',
  },
  {
    name: 'metricsPort',
    kind: 'integer',
    min: 0,
    max: 65535,
    default: -1,
    shownDefault: 'off',
    meaning: 'serve Prometheus `GET /metrics` on this port (0 picks one; needs `prom-client`)',
  },
  { name: 'metricsHost', kind: 'host', default: '127.0.0.1', meaning: 'address of the metrics endpoint' },
  {
    name: 'consumer',
    kind: 'oneOf',
    allowed: ['main', 'external'],
    default: 'main',
    meaning: "`'main'`: events drained on the main thread; `'external'`: by a pipeline from `pipelineHandle({ consume: true })`",
  },
] as const satisfies readonly OptionDescriptor[];

export type OptionName = (typeof OPTIONS)[number]['name'];

/** The default as a reader should see it, in markdown: `shownDefault`, or the default value as code. */
export function shownDefault(option: OptionDescriptor): string {
  if (option.shownDefault !== undefined) return option.shownDefault;
  const value = option.default;
  if (typeof value === 'function') throw new Error(`option ${option.name} computes its default, so it needs a shownDefault`);
  return typeof value === 'string' ? `\`'${JSON.stringify(value).slice(1, -1)}'\`` : `\`${value}\``;
}

// Type checks that keep ServerOptions, ResolvedOptions, FramingSpec and
// OPTIONS in step. Each resolves to `never` when they agree; otherwise tsc
// reports "Type '"someOption"' does not satisfy the constraint 'never'",
// naming the option at fault.

type Descriptor = (typeof OPTIONS)[number];
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** The type a user passes for a descriptor (numbers for a numeric one-of: ServerOptions says `number`). */
type GivenType<D> = D extends { kind: 'integer' | 'ringBytes' }
  ? number
  : D extends { kind: 'boolean' }
    ? boolean
    : D extends { kind: 'oneOf'; allowed: readonly (infer V)[] }
      ? V extends number
        ? number
        : V
      : D extends { kind: 'host' }
        ? string
        : D extends { kind: 'delimiter' }
          ? string | Uint8Array
          : D extends { kind: 'node' }
            ? number | 'auto'
            : D extends { kind: 'cluster' }
              ? ClusterOptions
              : D extends { kind: 'protocol' }
                ? BuiltinProtocolName | ProtocolModuleOption
                : D extends { kind: 'tokens' }
                  ? readonly string[]
                  : D extends { kind: 'tls' }
                    ? TlsOptions
                    : never;
type TableTypes = { [D in Descriptor as D['name']]: GivenType<D> };
type NamesOf<D> = D extends { name: infer N } ? N : never;
type KeysDiffer<A, B> = Exclude<A, B> | Exclude<B, A>;
type InStep<T extends never> = T;

/** An option in ServerOptions without a descriptor, a descriptor without an option, or one whose type differs. */
export type ServerOptionsOutOfStep = InStep<
  | KeysDiffer<keyof ServerOptions, OptionName>
  | { [K in OptionName & keyof ServerOptions]: Equal<TableTypes[K], Exclude<ServerOptions[K], undefined>> extends true ? never : K }[OptionName &
      keyof ServerOptions]
>;
/** ResolvedOptions holds every option but the framings' own, which are in its `framing`. */
export type ResolvedOptionsOutOfStep = InStep<KeysDiffer<keyof ResolvedOptions, NamesOf<Exclude<Descriptor, { framing: string }>>>>;
/** Each framing spec holds `kind` and the options of that framing. */
export type FramingSpecOutOfStep = InStep<
  { [F in FramingWithOptions]: KeysDiffer<keyof Extract<FramingSpec, { kind: F }>, 'kind' | NamesOf<Extract<Descriptor, { framing: F }>>> }[FramingWithOptions]
>;
