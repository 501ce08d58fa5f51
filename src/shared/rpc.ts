// The control plane's transport: comlink over worker_threads message ports.
// One import site, so both sides use the same comlink entry points.

import type { Endpoint } from 'comlink';
import adapter from 'comlink/dist/umd/node-adapter.js';

export { expose, wrap, releaseProxy, type Remote } from 'comlink';

type NodeEndpointFactory = (port: import('comlink/dist/umd/node-adapter.js').NodeEndpoint) => Endpoint;

// The UMD build's module.exports is the adapter function itself; its typings
// describe an ES default export. Accept either shape.
const loaded = adapter as unknown as NodeEndpointFactory | { default: NodeEndpointFactory };
export const nodeEndpoint: NodeEndpointFactory = typeof loaded === 'function' ? loaded : loaded.default;
