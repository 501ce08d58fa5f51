// TLS termination in an I/O worker: the worker's current certificates (one
// SecureContext, shared by every connection it accepts from now on) and the
// wrap that turns an accepted TCP socket into a server-side TLSSocket.
// Replacing the context (setSecureContext) changes nothing for connections
// already wrapped: each keeps the context it began with.
//
// Why not a tls.Server as the listener: a tls.Server wraps every accepted
// socket itself and shows the TLSSocket only once its handshake is done
// ('secureConnection'), or has failed ('tlsClientError'). A pending
// handshake would then hold no slot, so neither the connection caps nor the
// timing wheel could reach it: its deadline would be tls.Server's
// handshakeTimeout, a timer object per socket (and 0 there means the
// default, 120 s, not "off"); and a connection refused at accept would
// still get a TLSSocket and its handshake. So the acceptor keeps a plain
// net.Server, admits the raw socket as it does without TLS, and wraps it
// here, as tls.Server does inside: new TLSSocket(socket, { isServer: true,
// secureContext }). The socket's 'secure' event says the handshake is done;
// an error before it is a failed handshake (connections.ts counts both).

import type { Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import { type ResolvedTls, makeSecureContext } from '../shared/tls-options.ts';

export class TlsTermination {
  #context: SecureContext;

  /** Throws what OpenSSL says of bad options (the main thread tried the same options first). */
  constructor(options: ResolvedTls) {
    this.#context = makeSecureContext(options);
  }

  /** New certificates for every connection accepted from now on; on a throw, the current ones stay. */
  replace(options: ResolvedTls): void {
    this.#context = makeSecureContext(options);
  }

  /** The accepted socket as a server-side TLS socket; its handshake begins once the socket reads. */
  wrap(socket: Socket): TLSSocket {
    return new TLSSocket(socket, { isServer: true, secureContext: this.#context });
  }
}
