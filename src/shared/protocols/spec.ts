// The `protocol` option, checked and resolved to plain data that is posted
// to every I/O worker: a built-in protocol's name, or a module's URL with
// the options its factory gets. The worker turns it into a running protocol
// (src/worker/protocols/).

import { invalidOption } from '../errors.ts';
import { BUILTIN_PROTOCOL_NAMES, type BuiltinProtocolName, type ProtocolModuleOption } from './protocol.ts';

export type ResolvedProtocol =
  | { readonly kind: 'builtin'; readonly name: BuiltinProtocolName }
  | { readonly kind: 'module'; readonly url: string; readonly options: unknown };

/**
 * The `name` of the error an I/O worker's listen() rejects with when its
 * protocol could not be set up: the control plane keeps an error's name and
 * message, not its class, and the server rethrows it as
 * ERR_FLAMINGO_PROTOCOL.
 */
export const PROTOCOL_FAILURE = 'FlamingoProtocolFailure';

const MODULE_SCHEMES = ['file:', 'data:'];
const EXPECTED = `one of ${BUILTIN_PROTOCOL_NAMES.map((name) => `"${name}"`).join(', ')}, or { module: 'file:///abs/path.js' | URL, options }`;

export function isBuiltinProtocol(value: unknown): value is BuiltinProtocolName {
  return (BUILTIN_PROTOCOL_NAMES as readonly unknown[]).includes(value);
}

/** Checks the `protocol` option's value; undefined stays undefined (the `framing` decides). */
export function resolveProtocol(value: unknown): ResolvedProtocol | undefined {
  if (value === undefined) return undefined;
  if (isBuiltinProtocol(value)) return { kind: 'builtin', name: value };
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof URL) throw invalidOption('protocol', EXPECTED, value);
  const given = value as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (key !== 'module' && key !== 'options') throw invalidOption('protocol', `${EXPECTED}; "${key}" is not one of its keys`, value);
  }
  const { module, options } = given as Partial<ProtocolModuleOption>;
  return { kind: 'module', url: moduleUrl(module), options: cloneable(options) };
}

function moduleUrl(module: unknown): string {
  const expected = "an absolute file: or data: URL of an ES module, as a string or URL (pathToFileURL('/abs/path.js') makes one)";
  if (!(module instanceof URL) && typeof module !== 'string') throw invalidOption('protocol.module', expected, module);
  let url: URL;
  try {
    url = new URL(String(module));
  } catch {
    throw invalidOption('protocol.module', expected, module);
  }
  if (!MODULE_SCHEMES.includes(url.protocol)) throw invalidOption('protocol.module', expected, module);
  return url.href;
}

/** The options as a worker will receive them: a structured clone, taken now so a later change by the caller changes nothing. */
function cloneable(options: unknown): unknown {
  try {
    return structuredClone(options);
  } catch {
    throw invalidOption('protocol.options', 'structured-cloneable data (no functions or symbols): every I/O worker gets a copy', options);
  }
}
