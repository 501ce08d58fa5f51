// The built-in protocols, by the name the `protocol` option takes. Adding
// one is one line here and its name in BUILTIN_PROTOCOL_NAMES. A built-in
// protocol's factory gets the server's resolved options and takes its own
// from them.

import { framingProtocol } from '../../shared/framing/protocol.ts';
import type { ResolvedOptions } from '../../shared/options.ts';
import type { BuiltinProtocolName, ProtocolFactory } from '../../shared/protocols/protocol.ts';
import { websocketProtocol } from './websocket.ts';

export const BUILTIN_PROTOCOLS: { readonly [Name in BuiltinProtocolName]?: ProtocolFactory<ResolvedOptions> } = {
  raw: framingProtocol,
  delimiter: framingProtocol,
  'length-prefix': framingProtocol,
  websocket: websocketProtocol,
};

/** The built-in protocols run unchecked on the per-message path (see driver.ts); a user's module is checked. */
export const TRUSTED_PROTOCOLS: ReadonlySet<BuiltinProtocolName> = new Set(['raw', 'delimiter', 'length-prefix', 'websocket']);
