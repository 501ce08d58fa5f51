// The acceptor as a part, on real loopback sockets in one thread: admission
// under the shared maxConnections words, refusal, the back-off when no
// file descriptor can be had (the probe stood in for, so the test controls
// when descriptors run out; accept-errors.test.ts runs out of them for real),
// and the TLS wrap of what it admits.

import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMITTED_ALL, StatField, admittedBy, createAdmissionStorage, createStatsStorage, statsView } from '../../src/shared/stats.ts';
import { Acceptor, type AcceptorParts, BACKOFF_MS, descriptorShortage } from '../../src/worker/acceptor.ts';
import { TlsTermination } from '../../src/worker/tls-termination.ts';
import { connect, waitFor } from '../helpers/clients.ts';
import { makeTestCert } from '../helpers/tls-cert.ts';
import { fingerprintOf, peerFingerprint, tlsConnect } from '../helpers/tls-clients.ts';

const options = { host: '127.0.0.1', backlog: 511, ipv6Only: false, maxConnections: 3 };

/** Resolves 'connected', or the error code that ended the attempt. */
function attempt(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

describe('Acceptor', () => {
  const acceptors: Acceptor[] = [];
  const sockets: net.Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    sockets.length = 0;
    await Promise.all(acceptors.map((a) => a.stop()));
    acceptors.length = 0;
  });

  function acceptor(parts: Partial<AcceptorParts> & Pick<AcceptorParts, 'admission' | 'worker'>): {
    acceptor: Acceptor;
    taken: net.Socket[];
    stats: Float64Array;
  } {
    const taken: net.Socket[] = [];
    const stats = statsView(createStatsStorage());
    const a = new Acceptor({
      options,
      stats,
      take: (socket) => {
        taken.push(socket);
        sockets.push(socket);
        return true;
      },
      ...parts,
    });
    acceptors.push(a);
    return { acceptor: a, taken, stats };
  }

  it('admits up to maxConnections over two workers sharing the admission words, refuses and counts the rest, and admits again once a place is released', async () => {
    const admission = createAdmissionStorage();
    const words = new Int32Array(admission);
    const a = acceptor({ admission, worker: 0 });
    const b = acceptor({ admission, worker: 1 });
    const portA = await a.acceptor.listen(0);
    const portB = await b.acceptor.listen(0);
    for (const port of [portA, portA, portB, portB]) sockets.push(await connect(port));
    await waitFor(() => a.taken.length + b.taken.length + a.stats[StatField.REJECTED]! + b.stats[StatField.REJECTED]! === 4, 5000, 'four connections handled');
    expect(a.taken.length + b.taken.length).toBe(3);
    expect(a.stats[StatField.REJECTED]! + b.stats[StatField.REJECTED]!).toBe(1);
    expect(Atomics.load(words, ADMITTED_ALL)).toBe(3);
    expect(Atomics.load(words, admittedBy(0)) + Atomics.load(words, admittedBy(1))).toBe(3);

    // A connection goes: its worker gives its place back, and the next one is admitted.
    const gone = a.taken.length > 0 ? a : b;
    gone.taken.shift()!.destroy();
    gone.acceptor.release();
    sockets.push(await connect(portA));
    await waitFor(() => a.taken.length + b.taken.length === 3 && Atomics.load(words, ADMITTED_ALL) === 3, 5000, 'the freed place taken');
  });

  it('refuses a socket that its worker has no room for, and gives its place back', async () => {
    const admission = createAdmissionStorage();
    const stats = statsView(createStatsStorage());
    const a = new Acceptor({ options, admission, worker: 0, stats, take: () => false });
    acceptors.push(a);
    const port = await a.listen(0);
    sockets.push(await connect(port));
    await waitFor(() => stats[StatField.REJECTED] === 1, 5000, 'the refusal');
    expect(Atomics.load(new Int32Array(admission), ADMITTED_ALL)).toBe(0);
  });

  it('a probe that finds no descriptor closes the listener and counts an error every back-off, and the same port listens again once one is free', async () => {
    let shortage: string | undefined;
    const a = acceptor({ admission: createAdmissionStorage(), worker: 0, probe: () => shortage });
    const port = await a.acceptor.listen(0);
    expect(a.acceptor.errors).toEqual({ count: 0, lastCode: null, listening: true });

    shortage = 'EMFILE';
    await waitFor(() => !a.acceptor.errors.listening, 2000, 'the listener to close');
    expect(a.acceptor.errors.lastCode).toBe('EMFILE');
    expect(await attempt(port)).toBe('ECONNREFUSED');
    const first = a.acceptor.errors.count;
    await new Promise((resolve) => setTimeout(resolve, 3 * BACKOFF_MS + 50));
    expect(a.acceptor.errors.count).toBeGreaterThanOrEqual(first + 2);
    expect(a.acceptor.errors.listening).toBe(false);

    shortage = undefined;
    await waitFor(() => a.acceptor.errors.listening, 2000, 'the listener to come back');
    sockets.push(await connect(port));
    await waitFor(() => a.taken.length === 1, 5000, 'a connection on the same port');
  });

  it('stop() during a back-off ends it: no listener comes back', async () => {
    let shortage: string | undefined = undefined;
    const a = acceptor({ admission: createAdmissionStorage(), worker: 0, probe: () => shortage });
    const port = await a.acceptor.listen(0);
    shortage = 'ENFILE';
    await waitFor(() => !a.acceptor.errors.listening, 2000, 'the listener to close');
    await a.acceptor.stop();
    shortage = undefined;
    await new Promise((resolve) => setTimeout(resolve, 3 * BACKOFF_MS));
    expect(a.acceptor.errors).toMatchObject({ lastCode: 'ENFILE', listening: false });
    expect(await attempt(port)).toBe('ECONNREFUSED');
  });

  it('with TLS, a listener reopened after a back-off serves the certificates given meanwhile, and one over maxConnections is refused before it is wrapped', async () => {
    const [first, second] = [makeTestCert(), makeTestCert()];
    try {
      let shortage: string | undefined;
      const termination = new TlsTermination({ key: first.key, cert: first.cert });
      const admission = createAdmissionStorage();
      const a = acceptor({ admission, worker: 0, probe: () => shortage, tls: termination });
      const port = await a.acceptor.listen(0);
      const before = await tlsConnect(port, first);
      expect(peerFingerprint(before)).toBe(fingerprintOf(first));
      expect(a.taken[0]).toBeInstanceOf(tls.TLSSocket);

      shortage = 'EMFILE';
      await waitFor(() => !a.acceptor.errors.listening, 2000, 'the listener to close');
      termination.replace({ key: second.key, cert: second.cert });
      shortage = undefined;
      await waitFor(() => a.acceptor.errors.listening, 2000, 'the listener to come back');
      const after = await tlsConnect(port, second);
      expect(peerFingerprint(after)).toBe(fingerprintOf(second));
      // The connection from before the back-off keeps its certificate.
      expect(peerFingerprint(before)).toBe(fingerprintOf(first));

      // Over maxConnections (3): refused on the raw socket, before any TLS.
      Atomics.store(new Int32Array(admission), ADMITTED_ALL, 3);
      const taken = a.taken.length;
      const refused = await connect(port);
      sockets.push(before, after, refused);
      await waitFor(() => a.stats[StatField.REJECTED] === 1, 5000, 'the refusal');
      expect(a.taken.length).toBe(taken);
    } finally {
      first.remove();
      second.remove();
    }
  });

  it('descriptorShortage() finds none while descriptors are to be had', () => {
    expect(descriptorShortage()).toBeUndefined();
  });
});
