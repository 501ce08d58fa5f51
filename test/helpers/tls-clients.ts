// TLS test clients: Node's own tls.connect over loopback, checking the
// server's certificate (the name `localhost`, signed by the test
// certificate given as the only CA) unless told otherwise.

import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type Server, type ServerOptions, listen } from '../../src/main/index.ts';
import { type TestCert, makeTestCert } from './tls-cert.ts';

/** What tls.connect takes; Node passes allowHalfOpen on to the socket, though its types do not say so. */
export type ClientOptions = tls.ConnectionOptions & { allowHalfOpen?: boolean };

/** Connects and completes the handshake; rejects with the handshake's error (a wrong certificate, say). */
export function tlsConnect(port: number, trusted: TestCert, options: ClientOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: trusted.cert, ...options });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the TLS handshake did not complete within 10 s'));
    }, 10_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.setNoDelay(true);
      resolve(socket);
    });
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
  });
}

/** Connects without checking the certificate: any certificate the server has. */
export function tlsConnectAny(port: number, options: ClientOptions = {}): Promise<tls.TLSSocket> {
  return tlsConnect(port, { cert: '' } as TestCert, { rejectUnauthorized: false, ca: undefined, ...options });
}

/** The SHA-256 fingerprint of the certificate a client was shown, as Node writes it. */
export function peerFingerprint(socket: tls.TLSSocket): string {
  return socket.getPeerCertificate().fingerprint256;
}

export function fingerprintOf(cert: TestCert): string {
  return new X509Certificate(cert.cert).fingerprint256;
}

/**
 * For a describe block: one test certificate for localhost, and Flamingo
 * servers started with it (2 workers, any other options), each shut down
 * after its test (shutdown is idempotent, so a test may shut one down itself).
 */
export function useTlsServers(): { readonly cert: TestCert; listen(options?: ServerOptions): Promise<Server> } {
  let cert: TestCert | undefined;
  const servers: Server[] = [];
  beforeAll(() => {
    cert = makeTestCert();
  });
  afterAll(() => cert?.remove());
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.shutdown({ drainMs: 1000 })));
  });
  return {
    get cert(): TestCert {
      if (cert === undefined) throw new Error('the test certificate exists only inside the describe block’s tests');
      return cert;
    },
    async listen(options: ServerOptions = {}): Promise<Server> {
      const server = await listen({ port: 0, workers: 2, tls: { key: this.cert.key, cert: this.cert.cert }, ...options });
      servers.push(server);
      return server;
    },
  };
}
