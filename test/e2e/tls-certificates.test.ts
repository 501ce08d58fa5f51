// The server's certificates: checked at listen(), and replaced at run time
// with setSecureContext() on every worker without a restart. Connections
// made before keep theirs and stay up; new ones get the new certificate; a
// worker replaced after a crash starts with the latest; bad options reject
// with a code and change nothing.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FlamingoError, type Server, listen } from '../../src/main/index.ts';
import { faults } from '../../src/main/testing.ts';
import { closeAll, converse, waitFor } from '../helpers/clients.ts';
import { type TestCert, makeTestCert } from '../helpers/tls-cert.ts';
import { fingerprintOf, peerFingerprint, tlsConnect, tlsConnectAny } from '../helpers/tls-clients.ts';

function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  return expect(promise).rejects.toSatisfy((error) => error instanceof FlamingoError && error.code === code, code);
}

describe('TLS certificates', () => {
  let good: TestCert;
  let wrong: TestCert;
  let server: Server | undefined;

  beforeAll(() => {
    good = makeTestCert();
    wrong = makeTestCert({ name: 'wrong.example' });
  });

  afterAll(() => {
    good?.remove();
    wrong?.remove();
  });

  afterEach(async () => {
    await server?.shutdown({ drainMs: 1000 });
    server = undefined;
  });

  async function echoServer(workers: number, cert: TestCert): Promise<Server> {
    const s = (server = await listen({ port: 0, workers, tls: { key: cert.key, cert: cert.cert } }));
    s.on('data', (id, data) => s.send(id, data));
    return s;
  }

  it('listen() refuses a key that is not the certificate’s (ERR_FLAMINGO_TLS, with OpenSSL’s reason) and a tls option without a certificate', async () => {
    await expect(listen({ port: 0, workers: 1, tls: { key: wrong.key, cert: good.cert } })).rejects.toThrow(
      expect.objectContaining({ code: 'ERR_FLAMINGO_TLS', message: expect.stringMatching(/key values mismatch/) }),
    );
    await rejectsWith(listen({ port: 0, workers: 1, tls: { key: good.key } }), 'ERR_FLAMINGO_INVALID_OPTION');
    await rejectsWith(listen({ port: 0, workers: 1, tls: { key: good.key, cert: 'not a certificate' } }), 'ERR_FLAMINGO_TLS');
  });

  it('setSecureContext swaps a wrong certificate for a good one on every worker: earlier connections keep echoing, and a client that checks the name fails before and succeeds after', async () => {
    const s = await echoServer(2, wrong);
    const earlier = await Promise.all(Array.from({ length: 6 }, () => tlsConnectAny(s.port)));
    await Promise.all(earlier.map((socket, i) => converse(socket, 10 + i, 10)));
    // It trusts the wrong certificate as a CA, so only the name is at fault.
    await expect(tlsConnect(s.port, wrong)).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });

    await s.setSecureContext({ key: good.key, cert: good.cert });
    // Enough connections to reach both workers.
    const later = await Promise.all(Array.from({ length: 12 }, () => tlsConnect(s.port, good)));
    for (const socket of later) expect(peerFingerprint(socket)).toBe(fingerprintOf(good));
    await Promise.all(earlier.map((socket, i) => converse(socket, 20 + i, 10)));
    for (const socket of earlier) expect(peerFingerprint(socket)).toBe(fingerprintOf(wrong));
    await Promise.all(later.map((socket, i) => converse(socket, 30 + i, 5)));
    expect(s.stats()).toMatchObject({ opened: 18, connections: 18, tlsHandshakeErrors: 1 });
    await closeAll([...earlier, ...later]);
  });

  it('setSecureContext with bad options rejects with a code and changes nothing', async () => {
    const s = await echoServer(2, good);
    await rejectsWith(s.setSecureContext({ key: wrong.key, cert: good.cert }), 'ERR_FLAMINGO_TLS');
    await rejectsWith(s.setSecureContext({ cert: wrong.cert }), 'ERR_FLAMINGO_INVALID_OPTION');
    await rejectsWith(s.setSecureContext({ key: wrong.key, cert: wrong.cert, minVersion: 'SSLv3' as never }), 'ERR_FLAMINGO_INVALID_OPTION');
    await rejectsWith(s.setSecureContext({ key: wrong.key, cert: wrong.cert, bogus: 1 } as never), 'ERR_FLAMINGO_UNKNOWN_OPTION');
    const sockets = await Promise.all(Array.from({ length: 8 }, () => tlsConnect(s.port, good)));
    for (const socket of sockets) expect(peerFingerprint(socket)).toBe(fingerprintOf(good));
    await closeAll(sockets);
  });

  it('a worker replaced after its thread died starts with the latest certificates', async () => {
    const s = await echoServer(1, wrong);
    await s.setSecureContext({ key: good.key, cert: good.cert });
    await faults(s).terminate(0);
    await waitFor(() => s.stats().workerRestarts === 1, 5000, 'the restart');
    // Until the replacement listens, connections are refused.
    let socket: Awaited<ReturnType<typeof tlsConnect>> | undefined;
    for (let attempt = 0; socket === undefined; attempt++) {
      try {
        socket = await tlsConnect(s.port, good);
      } catch (error) {
        if (attempt >= 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    expect(peerFingerprint(socket)).toBe(fingerprintOf(good));
    await converse(socket, 40, 5);
    await closeAll([socket]);
  });

  it('setSecureContext on a server without tls rejects with ERR_FLAMINGO_TLS', async () => {
    const s = (server = await listen({ port: 0, workers: 1 }));
    await rejectsWith(s.setSecureContext({ key: good.key, cert: good.cert }), 'ERR_FLAMINGO_TLS');
  });
});
