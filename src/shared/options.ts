// The option schema: every option a server takes, its default, and the
// check that turns user input into ResolvedOptions (plain data, so it can
// be posted to the I/O workers as is). A wrong type, a value out of range
// or an unknown key throws ERR_FLAMINGO_INVALID_OPTION / _UNKNOWN_OPTION
// naming the option and what it accepts.
//
// OPTIONS is the one list of options: resolveOptions, the unknown-option
// check and the framing cross-checks walk it, and the demo's flags and
// --help and the README's options table are rendered from it. The
// ServerOptions interface below keeps the types and doc comments users see;
// a type check at the end of this file fails to compile while the two
// disagree on a name or a type.

import { availableParallelism } from 'node:os';
import { FlamingoError, invalidOption } from './errors.ts';
import type { FramingSpec } from './framing/index.ts';
import { MAX_NODES, MAX_SLOTS, MAX_WORKERS } from './id.ts';
import { MAX_RING_BYTES, MIN_RING_BYTES, maxRecordPayload } from './ring.ts';

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
  /** Largest frame, delimiter or length header included; a larger one closes the connection with 'frame-too-large'. Default 1 MiB. */
  maxFrameBytes?: number;
  /** Bytes in each worker's event ring (power of two). Default 4 MiB. */
  eventRingBytes?: number;
  /** Bytes in each (producer, worker) command ring (power of two). Default 4 MiB. */
  commandRingBytes?: number;
  /** Connection slots per worker; a connection over it is closed at once and counted as rejected. Default 1,048,576. */
  maxConnectionsPerWorker?: number;
  /** Node number written into every id, for routing across machines. Default 0. */
  node?: number;
  /** Disable Nagle on accepted sockets. Default true. */
  noDelay?: boolean;
  /** TCP keep-alive initial delay in ms on accepted sockets; 0 = off. Default 0. */
  keepAliveMs?: number;
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
  framing: FramingSpec;
  maxFrameBytes: number;
  eventRingBytes: number;
  commandRingBytes: number;
  maxConnectionsPerWorker: number;
  node: number;
  noDelay: boolean;
  keepAliveMs: number;
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

/**
 * The options whose values bound another option (maxFrameBytes is at most
 * what the event ring holds and at least the delimiter or length header);
 * resolveOptions resolves them before the rest.
 */
const RESOLVED_FIRST = ['eventRingBytes', 'framing'] as const satisfies readonly (keyof ResolvedOptions)[];
type ResolvedFirst = Pick<ResolvedOptions, (typeof RESOLVED_FIRST)[number]>;

/** A bound or default that is a constant, or computed from the options resolved first. */
type Computed = number | ((resolved: ResolvedFirst) => number);

/** A framing that has options of its own. */
type FramingWithOptions = Exclude<FramingSpec['kind'], 'raw'>;

interface OptionText {
  /** The key in ServerOptions; the demo's flag is its kebab-case. */
  readonly name: string;
  /** What the option does, one line of markdown: the README table's and --help's wording. */
  readonly meaning: string;
  /** The default as a reader should see it, in markdown; when absent, the default value as code. */
  readonly shownDefault?: string;
  /** The framing this option configures; with any other framing, setting it is refused. */
  readonly framing?: FramingWithOptions;
}

/** One option: its name, the values it accepts, its default, and what it means. */
export type OptionDescriptor = OptionText & (
  | { readonly kind: 'integer'; readonly min: Computed; readonly max: Computed; readonly default: Computed }
  /** A ring's size: a power of two from MIN_RING_BYTES to MAX_RING_BYTES. */
  | { readonly kind: 'ringBytes'; readonly default: number }
  | { readonly kind: 'boolean'; readonly default: boolean }
  | { readonly kind: 'oneOf'; readonly allowed: readonly string[] | readonly number[]; readonly default: string | number }
  /** A host name or IP address, 1 to 255 characters. */
  | { readonly kind: 'host'; readonly default: string }
  /** A string (its UTF-8 bytes) or Uint8Array of 1 to maxBytes bytes, resolved to a Uint8Array copy. */
  | { readonly kind: 'delimiter'; readonly maxBytes: number; readonly default: string }
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
    name: 'sharePort', kind: 'boolean', default: false,
    meaning: 'let other processes of the same application (same user) listen on this port too, the kernel spreading connections over all of them; every server on the port must set it. Without it a port any other socket holds is refused with `ERR_FLAMINGO_LISTEN` (EADDRINUSE), as plain `net` refuses it, and a later server that sets `sharePort` cannot join',
  },
  {
    name: 'backlog', kind: 'integer', min: 1, max: 65535, default: 4096,
    meaning: "listen backlog of each worker's listener (capped by the kernel's `somaxconn`): a reconnect storm after a deploy should queue, not be dropped",
  },
  {
    name: 'workers', kind: 'integer', min: 1, max: MAX_WORKERS, default: () => Math.min(availableParallelism(), MAX_WORKERS),
    shownDefault: `cores (max ${MAX_WORKERS})`, meaning: 'I/O worker threads',
  },
  {
    name: 'framing', kind: 'oneOf', allowed: ['raw', 'delimiter', 'length-prefix'], default: 'raw',
    meaning: "`'raw'` (chunks as read), `'delimiter'` or `'length-prefix'`",
  },
  { name: 'delimiter', framing: 'delimiter', kind: 'delimiter', maxBytes: 16, default: '\n', meaning: "1 to 16 bytes, for `'delimiter'` (`'\\r\\n'` works)" },
  { name: 'keepDelimiter', framing: 'delimiter', kind: 'boolean', default: true, meaning: 'keep the delimiter at the end of each frame' },
  {
    name: 'lengthBytes', framing: 'length-prefix', kind: 'oneOf', allowed: [1, 2, 4, 8], default: 4,
    meaning: "length header of `'length-prefix'`: 1, 2, 4 or 8 bytes, unsigned",
  },
  { name: 'littleEndian', framing: 'length-prefix', kind: 'boolean', default: false, meaning: 'length header byte order' },
  { name: 'lengthIncludesHeader', framing: 'length-prefix', kind: 'boolean', default: false, meaning: 'the length counts the header too' },
  { name: 'keepHeader', framing: 'length-prefix', kind: 'boolean', default: true, meaning: 'keep the header at the start of each frame' },
  {
    name: 'maxFrameBytes', kind: 'integer',
    min: (resolved) => shortestFrame(resolved.framing),
    max: (resolved) => maxRecordPayload(resolved.eventRingBytes),
    default: (resolved) => Math.min(MiB, maxRecordPayload(resolved.eventRingBytes)),
    shownDefault: '1 MiB (at most half the event ring)',
    meaning: 'largest frame on the wire, delimiter or header included; larger closes the connection with `frame-too-large` (a length header is checked as soon as it is complete); raw chunks are cut to it',
  },
  {
    name: 'frameTimeoutMs', kind: 'integer', min: 0, max: DAY_MS, default: 30_000,
    meaning: 'an incomplete frame older than this closes the connection with `frame-timeout` (0 = never; not for raw)',
  },
  {
    name: 'idleTimeoutMs', kind: 'integer', min: 0, max: DAY_MS, default: 0, shownDefault: '`0` (never)',
    meaning: 'no data in or out for this long closes the connection with `idle-timeout`',
  },
  {
    name: 'closeTimeoutMs', kind: 'integer', min: 1, max: DAY_MS, default: 5000,
    meaning: 'the longest a closing connection may take to write what was sent to it, after `close(id)` or after the peer half-closed; then the socket is destroyed and its unsent bytes counted in `abandonedBytes`',
  },
  {
    name: 'maxConnections', kind: 'integer', min: 1, max: 2 ** 31 - 1, default: 2 ** 31 - 1, shownDefault: 'no cap',
    meaning: 'server-wide cap; a connection over it is accepted, closed at once, counted in `rejected`, never delivered as open',
  },
  {
    name: 'maxConnectionsPerWorker', kind: 'integer', min: 1, max: MAX_SLOTS, default: 2 ** 20, shownDefault: '1,048,576',
    meaning: 'slots per worker, the same rule per worker',
  },
  {
    name: 'maxBufferedBytes', kind: 'integer', min: 1, max: 2 ** 40, default: MiB, shownDefault: '1 MiB',
    meaning: "bytes one connection's socket may have queued: a message that would take it past this applies `slowConsumer`; it is also the largest single message (`send` of more throws `ERR_FLAMINGO_PAYLOAD_TOO_LARGE`), since no socket could ever take it",
  },
  {
    name: 'slowConsumer', kind: 'oneOf', allowed: ['close', 'drop'], default: 'close',
    meaning: "past `maxBufferedBytes`: `'close'` the connection (reason `slow-consumer`) or `'drop'` the whole message and count it (`droppedSends`)",
  },
  { name: 'noDelay', kind: 'boolean', default: true, meaning: 'disable Nagle on accepted sockets' },
  {
    name: 'keepAliveMs', kind: 'integer', min: 0, max: DAY_MS, default: 0, shownDefault: '`0` (off)',
    meaning: 'TCP keep-alive initial delay on accepted sockets',
  },
  { name: 'eventRingBytes', kind: 'ringBytes', default: 4 * MiB, shownDefault: '4 MiB', meaning: "each worker's event ring (power of two)" },
  { name: 'commandRingBytes', kind: 'ringBytes', default: 4 * MiB, shownDefault: '4 MiB', meaning: 'each (producer thread, worker) command ring (power of two)' },
  { name: 'node', kind: 'integer', min: 0, max: MAX_NODES - 1, default: 0, meaning: 'node number (0 to 255) written into every id' },
  {
    name: 'metricsPort', kind: 'integer', min: 0, max: 65535, default: -1, shownDefault: 'off',
    meaning: 'serve Prometheus `GET /metrics` on this port (0 picks one; needs `prom-client`)',
  },
  { name: 'metricsHost', kind: 'host', default: '127.0.0.1', meaning: 'address of the metrics endpoint' },
  {
    name: 'consumer', kind: 'oneOf', allowed: ['main', 'external'], default: 'main',
    meaning: "`'main'`: events drained on the main thread; `'external'`: by a pipeline from `pipelineHandle({ consume: true })`",
  },
] as const satisfies readonly OptionDescriptor[];

export type OptionName = (typeof OPTIONS)[number]['name'];

/** OPTIONS seen as descriptors, for code that walks the list. */
const DESCRIPTORS: readonly OptionDescriptor[] = OPTIONS;
const BY_NAME = new Map(DESCRIPTORS.map((option) => [option.name, option]));
/** The options ResolvedOptions holds at its top level: all but a framing's own, which go into its `framing`. */
const UNFRAMED = DESCRIPTORS.filter((option) => option.framing === undefined);
const RESOLUTION_ORDER = [
  ...RESOLVED_FIRST.map((name) => BY_NAME.get(name)!),
  ...UNFRAMED.filter((option) => !(RESOLVED_FIRST as readonly string[]).includes(option.name)),
];

/** The default as a reader should see it, in markdown: `shownDefault`, or the default value as code. */
export function shownDefault(option: OptionDescriptor): string {
  if (option.shownDefault !== undefined) return option.shownDefault;
  const value = option.default;
  if (typeof value === 'function') throw new Error(`option ${option.name} computes its default, so it needs a shownDefault`);
  return typeof value === 'string' ? `\`'${JSON.stringify(value).slice(1, -1)}'\`` : `\`${value}\``;
}

export function resolveOptions(input: ServerOptions = {}): ResolvedOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidOption('options', 'an object', input);
  }
  for (const key of Object.keys(input)) {
    if (!BY_NAME.has(key)) {
      throw new FlamingoError('ERR_FLAMINGO_UNKNOWN_OPTION', `unknown option "${key}"; known options: ${[...BY_NAME.keys()].join(', ')}`);
    }
  }
  const given = input as Readonly<Record<string, unknown>>;
  const resolved: Record<string, unknown> = {};
  const first = resolved as unknown as ResolvedFirst;
  for (const option of RESOLUTION_ORDER) {
    const value = resolveValue(option, given[option.name], first);
    resolved[option.name] = option.name === 'framing' ? framingSpec(given, value as FramingSpec['kind'], first) : value;
  }
  // In OPTIONS order, whatever order they were resolved in.
  return Object.fromEntries(UNFRAMED.map((option) => [option.name, resolved[option.name]])) as unknown as ResolvedOptions;
}

/** Checks one option's value against its descriptor; undefined means its default. */
function resolveValue(option: OptionDescriptor, value: unknown, first: ResolvedFirst): unknown {
  if (option.kind === 'delimiter') return delimiterBytes(option.name, option.maxBytes, value === undefined ? option.default : value);
  if (value === undefined) return typeof option.default === 'function' ? option.default(first) : option.default;
  const { name } = option;
  switch (option.kind) {
    case 'integer': {
      const min = computed(option.min, first);
      const max = computed(option.max, first);
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        throw invalidOption(name, `an integer from ${min} to ${max}`, value);
      }
      return value;
    }
    case 'ringBytes':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_RING_BYTES || value > MAX_RING_BYTES || (value & (value - 1)) !== 0) {
        throw invalidOption(name, `a power of two from ${MIN_RING_BYTES} to ${MAX_RING_BYTES}`, value);
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw invalidOption(name, 'true or false', value);
      return value;
    case 'oneOf':
      if (!(option.allowed as readonly unknown[]).includes(value)) throw invalidOption(name, oneOfText(option.allowed), value);
      return value;
    case 'host':
      if (typeof value !== 'string' || value.length === 0 || value.length > 255) {
        throw invalidOption(name, 'a non-empty host name or IP address', value);
      }
      return value;
  }
}

function computed(value: Computed, first: ResolvedFirst): number {
  return typeof value === 'function' ? value(first) : value;
}

/** `one of "a", "b"` for names; `1, 2, 4 or 8` for numbers. */
function oneOfText(allowed: readonly string[] | readonly number[]): string {
  if (typeof allowed[0] === 'string') return `one of ${allowed.map((a) => `"${a}"`).join(', ')}`;
  return `${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}`;
}

function delimiterBytes(name: string, maxBytes: number, value: unknown): Uint8Array {
  const expected = `a string or Uint8Array of 1 to ${maxBytes} bytes`;
  let bytes: Uint8Array;
  if (typeof value === 'string') bytes = new Uint8Array(Buffer.from(value, 'utf8'));
  else if (value instanceof Uint8Array) bytes = new Uint8Array(value);
  else throw invalidOption(name, expected, value);
  if (bytes.length < 1 || bytes.length > maxBytes) throw invalidOption(name, expected, value);
  return bytes;
}

/**
 * The framing spec for `kind` from the options that belong to it. An option
 * of another framing is refused even when this framing is the default, so a
 * forgotten `framing` does not silently ignore the framing's options.
 */
function framingSpec(given: Readonly<Record<string, unknown>>, kind: FramingSpec['kind'], first: ResolvedFirst): FramingSpec {
  for (const option of DESCRIPTORS) {
    const value = given[option.name];
    if (option.framing !== undefined && option.framing !== kind && value !== undefined) {
      throw invalidOption(option.name, `unset unless framing is "${option.framing}"`, value);
    }
  }
  const spec: Record<string, unknown> = { kind };
  for (const option of DESCRIPTORS) {
    if (option.framing === kind) spec[option.name] = resolveValue(option, given[option.name], first);
  }
  return spec as unknown as FramingSpec;
}

// Type checks that keep ServerOptions, ResolvedOptions, FramingSpec and
// OPTIONS in step. Each resolves to `never` when they agree; otherwise tsc
// reports "Type '"someOption"' does not satisfy the constraint 'never'",
// naming the option at fault.

type Descriptor = (typeof OPTIONS)[number];
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** The type a user passes for a descriptor (numbers for a numeric one-of: ServerOptions says `number`). */
type GivenType<D> = D extends { kind: 'integer' | 'ringBytes' } ? number
  : D extends { kind: 'boolean' } ? boolean
  : D extends { kind: 'oneOf'; allowed: readonly (infer V)[] } ? (V extends number ? number : V)
  : D extends { kind: 'host' } ? string
  : D extends { kind: 'delimiter' } ? string | Uint8Array
  : never;
type TableTypes = { [D in Descriptor as D['name']]: GivenType<D> };
type NamesOf<D> = D extends { name: infer N } ? N : never;
type KeysDiffer<A, B> = Exclude<A, B> | Exclude<B, A>;
type InStep<T extends never> = T;

/** An option in ServerOptions without a descriptor, a descriptor without an option, or one whose type differs. */
export type ServerOptionsOutOfStep = InStep<
  | KeysDiffer<keyof ServerOptions, OptionName>
  | { [K in OptionName & keyof ServerOptions]: Equal<TableTypes[K], Exclude<ServerOptions[K], undefined>> extends true ? never : K }[OptionName & keyof ServerOptions]
>;
/** ResolvedOptions holds every option but the framings' own, which are in its `framing`. */
export type ResolvedOptionsOutOfStep = InStep<KeysDiffer<keyof ResolvedOptions, NamesOf<Exclude<Descriptor, { framing: string }>>>>;
/** Each framing spec holds `kind` and the options of that framing. */
export type FramingSpecOutOfStep = InStep<
  { [F in FramingWithOptions]: KeysDiffer<keyof Extract<FramingSpec, { kind: F }>, 'kind' | NamesOf<Extract<Descriptor, { framing: F }>>> }[FramingWithOptions]
>;
