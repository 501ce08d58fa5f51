// The option schema: every option a server takes, its default, and the
// check that turns user input into ResolvedOptions (plain data, so it can
// be posted to the I/O workers as is). A wrong type, a value out of range
// or an unknown key throws ERR_FLAMINGO_INVALID_OPTION / _UNKNOWN_OPTION
// naming the option and what it accepts.
//
// The table of options is in option-table.ts, their types in option-types.ts.

import { resolveCluster } from './cluster-options.ts';
import { FlamingoError, invalidOption } from './errors.ts';
import { MAX_NODES } from './id.ts';
import type { FramingSpec } from './framing/index.ts';
import { type ResolvedProtocol, resolveProtocol } from './protocols/spec.ts';
import { type Computed, OPTIONS, type OptionDescriptor, RESOLVED_FIRST, type ResolvedFirst } from './option-table.ts';
import type { ResolvedOptions, ServerOptions } from './option-types.ts';
import { MAX_RING_BYTES, MIN_RING_BYTES } from './ring.ts';
import { resolveTls } from './tls-options.ts';

export type { ResolvedOptions, ServerOptions } from './option-types.ts';
export { OPTIONS, type OptionDescriptor, type OptionName, shownDefault } from './option-table.ts';

/** An HTTP token (RFC 9110 section 5.6.2): a header's name, a WebSocket subprotocol's. */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** OPTIONS seen as descriptors, for code that walks the list. */
const DESCRIPTORS: readonly OptionDescriptor[] = OPTIONS;
const BY_NAME = new Map(DESCRIPTORS.map((option) => [option.name, option]));
/** The built-in framings: the values `framing` takes, each also a built-in protocol. */
const FRAMINGS = (BY_NAME.get('framing') as Extract<OptionDescriptor, { kind: 'oneOf' }>).allowed as readonly string[];
/** The options ResolvedOptions holds at its top level: all but a framing's own, which go into its `framing`. */
const UNFRAMED = DESCRIPTORS.filter((option) => option.framing === undefined);
const RESOLUTION_ORDER = [
  ...RESOLVED_FIRST.map((name) => BY_NAME.get(name)!),
  ...UNFRAMED.filter((option) => !(RESOLVED_FIRST as readonly string[]).includes(option.name)),
];

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
    // Resolved together with the framing, which it may set.
    if (option.kind === 'protocol') continue;
    const value = resolveValue(option, given[option.name], first);
    if (option.name === 'framing') {
      const { kind, protocol } = framingAndProtocol(given, value as FramingSpec['kind']);
      resolved.framing = framingSpec(given, kind, first);
      resolved.protocol = protocol;
    } else {
      resolved[option.name] = value;
    }
  }
  refuseOtherProtocols(given, resolved.protocol as ResolvedProtocol);
  if (resolved.tls === null && given.tlsHandshakeTimeoutMs !== undefined) {
    throw invalidOption('tlsHandshakeTimeoutMs', 'unset unless tls is set', given.tlsHandshakeTimeoutMs);
  }
  const autoNode = resolved.node === 'auto';
  resolved.cluster = resolveCluster(given.cluster, autoNode);
  // Until the lease is taken at start; the server then posts the leased number to its workers.
  if (autoNode) resolved.node = 0;
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
    case 'node':
      if (value !== 'auto' && (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= MAX_NODES)) {
        throw invalidOption(name, `an integer from 0 to ${MAX_NODES - 1}, or "auto"`, value);
      }
      return value;
    case 'cluster':
      return value;
    case 'tls':
      return resolveTls(value);
    case 'protocol':
      return resolveProtocol(value);
    case 'tokens':
      if (!Array.isArray(value) || !value.every((token) => typeof token === 'string' && HTTP_TOKEN.test(token))) {
        throw invalidOption(name, "an array of HTTP tokens (letters, digits and !#$%&'*+-.^_`|~)", value);
      }
      return [...value];
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
 * The framing and the protocol, which name the same thing for the built-in
 * framings: `protocol: 'delimiter'` is `framing: 'delimiter'`. A protocol
 * that frames for itself (a module, 'websocket') runs over the raw framing,
 * and then `framing` must stay unset.
 */
function framingAndProtocol(given: Readonly<Record<string, unknown>>, framing: FramingSpec['kind']): { kind: FramingSpec['kind']; protocol: ResolvedProtocol } {
  const protocol = resolveProtocol(given.protocol);
  if (protocol === undefined) return { kind: framing, protocol: { kind: 'builtin', name: framing } };
  const framingGiven = given.framing !== undefined;
  if (protocol.kind === 'builtin' && FRAMINGS.includes(protocol.name)) {
    if (framingGiven && framing !== protocol.name) throw invalidOption('protocol', `the same as framing ("${framing}"), or unset`, given.protocol);
    return { kind: protocol.name as FramingSpec['kind'], protocol };
  }
  if (framingGiven) {
    const what = protocol.kind === 'module' ? 'a module' : `"${protocol.name}"`;
    throw invalidOption('framing', `unset when protocol is ${what}, which does its own framing`, given.framing);
  }
  return { kind: 'raw', protocol };
}

/** An option that configures a built-in protocol is refused with any other protocol, so a forgotten `protocol` is not silently ignored. */
function refuseOtherProtocols(given: Readonly<Record<string, unknown>>, protocol: ResolvedProtocol): void {
  for (const option of DESCRIPTORS) {
    const value = given[option.name];
    if (option.protocol === undefined || value === undefined) continue;
    if (protocol.kind !== 'builtin' || protocol.name !== option.protocol)
      throw invalidOption(option.name, `unset unless protocol is "${option.protocol}"`, value);
  }
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
