// The option schema: every option a server takes, its default, and the
// check that turns user input into ResolvedOptions (plain data, so it can
// be posted to the I/O workers as is). A wrong type, a value out of range
// or an unknown key throws ERR_FLAMINGO_INVALID_OPTION / _UNKNOWN_OPTION
// naming the option and what it accepts.

import { availableParallelism } from 'node:os';
import { FlamingoError, invalidOption } from './errors.ts';
import type { FramingSpec } from './framing.ts';
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

const KNOWN = new Set<string>([
  'host', 'port', 'workers', 'backlog', 'framing', 'delimiter', 'keepDelimiter', 'maxFrameBytes',
  'eventRingBytes', 'commandRingBytes', 'maxConnectionsPerWorker', 'node', 'noDelay', 'consumer',
  'lengthBytes', 'littleEndian', 'lengthIncludesHeader', 'keepHeader', 'keepAliveMs', 'ipv6Only',
  'idleTimeoutMs', 'frameTimeoutMs', 'maxConnections', 'maxBufferedBytes', 'slowConsumer',
  'metricsPort', 'metricsHost', 'sharePort', 'closeTimeoutMs',
]);

const FRAMING_OPTIONS: Record<string, readonly string[]> = {
  raw: [],
  delimiter: ['delimiter', 'keepDelimiter'],
  'length-prefix': ['lengthBytes', 'littleEndian', 'lengthIncludesHeader', 'keepHeader'],
};
const DAY_MS = 86_400_000;

const MiB = 1024 * 1024;

export function resolveOptions(input: ServerOptions = {}): ResolvedOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidOption('options', 'an object', input);
  }
  for (const key of Object.keys(input)) {
    if (!KNOWN.has(key)) {
      throw new FlamingoError('ERR_FLAMINGO_UNKNOWN_OPTION', `unknown option "${key}"; known options: ${[...KNOWN].join(', ')}`);
    }
  }
  const eventRingBytes = powerOfTwo(input, 'eventRingBytes', 4 * MiB);
  const commandRingBytes = powerOfTwo(input, 'commandRingBytes', 4 * MiB);
  const frameLimit = maxRecordPayload(eventRingBytes);
  const framing = framingOption(input);
  const minFrame = framing.kind === 'delimiter' ? framing.delimiter.length : framing.kind === 'length-prefix' ? framing.lengthBytes : 1;
  return {
    host: hostOption(input.host, 'host'),
    port: integer(input, 'port', 0, 0, 65535),
    workers: integer(input, 'workers', Math.min(availableParallelism(), MAX_WORKERS), 1, MAX_WORKERS),
    backlog: integer(input, 'backlog', 4096, 1, 65535),
    framing,
    maxFrameBytes: integer(input, 'maxFrameBytes', Math.min(MiB, frameLimit), minFrame, frameLimit),
    eventRingBytes,
    commandRingBytes,
    maxConnectionsPerWorker: integer(input, 'maxConnectionsPerWorker', 2 ** 20, 1, MAX_SLOTS),
    node: integer(input, 'node', 0, 0, MAX_NODES - 1),
    noDelay: boolean(input, 'noDelay', true),
    keepAliveMs: integer(input, 'keepAliveMs', 0, 0, DAY_MS),
    ipv6Only: boolean(input, 'ipv6Only', false),
    sharePort: boolean(input, 'sharePort', false),
    idleTimeoutMs: integer(input, 'idleTimeoutMs', 0, 0, DAY_MS),
    frameTimeoutMs: integer(input, 'frameTimeoutMs', 30_000, 0, DAY_MS),
    closeTimeoutMs: integer(input, 'closeTimeoutMs', 5000, 1, DAY_MS),
    maxConnections: integer(input, 'maxConnections', 2 ** 31 - 1, 1, 2 ** 31 - 1),
    maxBufferedBytes: integer(input, 'maxBufferedBytes', MiB, 1, 2 ** 40),
    slowConsumer: oneOf(input, 'slowConsumer', ['close', 'drop'] as const, 'close'),
    metricsPort: integer(input, 'metricsPort', -1, 0, 65535),
    metricsHost: hostOption(input.metricsHost, 'metricsHost'),
    consumer: oneOf(input, 'consumer', ['main', 'external'] as const, 'main'),
  };
}

function integer(input: ServerOptions, name: keyof ServerOptions, fallback: number, min: number, max: number): number {
  const value = input[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

function powerOfTwo(input: ServerOptions, name: keyof ServerOptions, fallback: number): number {
  const value = input[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_RING_BYTES || value > MAX_RING_BYTES || (value & (value - 1)) !== 0) {
    throw invalidOption(name, `a power of two from ${MIN_RING_BYTES} to ${MAX_RING_BYTES}`, value);
  }
  return value;
}

function boolean(input: ServerOptions, name: keyof ServerOptions, fallback: boolean): boolean {
  const value = input[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(name, 'true or false', value);
  return value;
}

function oneOf<T extends string>(input: ServerOptions, name: keyof ServerOptions, allowed: readonly T[], fallback: T): T {
  const value = input[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw invalidOption(name, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
  }
  return value as T;
}

function hostOption(value: unknown, name: string): string {
  if (value === undefined) return '127.0.0.1';
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) {
    throw invalidOption(name, 'a non-empty host name or IP address', value);
  }
  return value;
}

function framingOption(input: ServerOptions): FramingSpec {
  const kind = oneOf(input, 'framing', ['raw', 'delimiter', 'length-prefix'] as const, 'raw');
  for (const [other, names] of Object.entries(FRAMING_OPTIONS)) {
    if (other === kind) continue;
    for (const name of names) {
      const value = input[name as keyof ServerOptions];
      if (value !== undefined && !FRAMING_OPTIONS[kind]!.includes(name)) {
        throw invalidOption(name, `unset unless framing is "${other}"`, value);
      }
    }
  }
  if (kind === 'raw') return { kind };
  if (kind === 'length-prefix') {
    const lengthBytes = input.lengthBytes === undefined ? 4 : input.lengthBytes;
    if (![1, 2, 4, 8].includes(lengthBytes as number)) throw invalidOption('lengthBytes', '1, 2, 4 or 8', input.lengthBytes);
    return {
      kind,
      lengthBytes,
      littleEndian: boolean(input, 'littleEndian', false),
      lengthIncludesHeader: boolean(input, 'lengthIncludesHeader', false),
      keepHeader: boolean(input, 'keepHeader', true),
    };
  }
  const raw = input.delimiter === undefined ? '\n' : input.delimiter;
  let delimiter: Uint8Array;
  if (typeof raw === 'string') delimiter = new Uint8Array(Buffer.from(raw, 'utf8'));
  else if (raw instanceof Uint8Array) delimiter = new Uint8Array(raw);
  else throw invalidOption('delimiter', 'a string or Uint8Array of 1 to 16 bytes', raw);
  if (delimiter.length < 1 || delimiter.length > 16) {
    throw invalidOption('delimiter', 'a string or Uint8Array of 1 to 16 bytes', raw);
  }
  return { kind, delimiter, keepDelimiter: boolean(input, 'keepDelimiter', true) };
}
