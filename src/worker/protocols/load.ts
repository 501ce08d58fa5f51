// Sets up the worker's protocol from the resolved `protocol` option: a
// built-in factory, or a user's module imported by URL. Everything that can
// go wrong here (a module that does not load, a default export that is not
// a factory, a factory that throws or returns no protocol) throws
// ERR_FLAMINGO_PROTOCOL, and the worker's listen() fails with it.

import { FlamingoError, describe } from '../../shared/errors.ts';
import type { ResolvedOptions } from '../../shared/options.ts';
import type { ProtocolFactory } from '../../shared/protocols/protocol.ts';
import { BUILTIN_PROTOCOLS, TRUSTED_PROTOCOLS } from './builtin.ts';
import { type DriverSetup, ProtocolDriver } from './driver.ts';

export async function loadProtocol(options: ResolvedOptions, limits: Pick<DriverSetup, 'maxRequestBytes' | 'stats'>): Promise<ProtocolDriver> {
  const spec = options.protocol;
  const common = { maxFrameBytes: options.maxFrameBytes, slotCount: options.maxConnectionsPerWorker, ...limits };
  if (spec.kind === 'builtin') {
    const label = `built-in protocol '${spec.name}'`;
    const factory = BUILTIN_PROTOCOLS[spec.name];
    if (factory === undefined) throw new FlamingoError('ERR_FLAMINGO_PROTOCOL', `${label} is not part of this build`);
    return new ProtocolDriver({ ...common, factory: factory as ProtocolFactory<unknown>, options, trusted: TRUSTED_PROTOCOLS.has(spec.name), label });
  }
  const label = `protocol module ${spec.url}`;
  let module: { default?: unknown };
  try {
    module = (await import(spec.url)) as { default?: unknown };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new FlamingoError('ERR_FLAMINGO_PROTOCOL', `${label} could not be loaded: ${why}`, { cause: error });
  }
  if (typeof module.default !== 'function') {
    throw new FlamingoError(
      'ERR_FLAMINGO_PROTOCOL',
      `${label} must have a default export that is a protocol factory, (host, options) => protocol; its default export is ${describe(module.default)}`,
    );
  }
  return new ProtocolDriver({ ...common, factory: module.default as ProtocolFactory<unknown>, options: spec.options, trusted: false, label });
}
