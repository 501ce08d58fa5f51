// Flamingo's public entry point. Everything exported here is API; nothing
// else is.

import './runtime-check.ts';

export { listen, Server } from './server.ts';
export type { ServerEvents, ServerStats, ShutdownOptions } from './server.ts';
export { openPipeline, Pipeline } from './pipeline.ts';
export type { PipelineEvent, PipelineHandle } from './pipeline.ts';
export type { OpenInfo } from './decode.ts';
export { copyBytes } from './decode.ts';
export type { OpenEvent, DataEvent, CloseEvent } from './pull-queues.ts';
export type { ResolvedOptions, ServerOptions } from '../shared/options.ts';
export type {
  BuiltinProtocolName,
  Farewell,
  OpenRequest,
  Protocol,
  ProtocolCloseReason,
  ProtocolFactory,
  ProtocolHost,
  ProtocolModuleOption,
} from '../shared/protocols/protocol.ts';
export { BUILTIN_PROTOCOL_NAMES, PROTOCOL_CLOSE_REASONS } from '../shared/protocols/protocol.ts';
export type { ResolvedProtocol } from '../shared/protocols/spec.ts';
export type { Pem, ResolvedTls, TlsOptions, TlsVersion } from '../shared/tls-options.ts';
export type { CloseReason } from '../shared/records.ts';
export { CLOSE_REASONS } from '../shared/records.ts';
export type { WorkerStats } from '../shared/stats.ts';
export type { ShutdownReport, ConnectionInfo, IdPage } from '../shared/control.ts';
export { registerMetrics, METRIC_NAMES } from './metrics.ts';
export { FlamingoError } from '../shared/errors.ts';
export type { FlamingoErrorCode } from '../shared/errors.ts';
export { encodeLengthPrefixed } from '../shared/framing/length-prefix.ts';
export { decodeId, formatId, parseId, isWellFormedId } from '../shared/id.ts';
export type { IdParts } from '../shared/id.ts';
