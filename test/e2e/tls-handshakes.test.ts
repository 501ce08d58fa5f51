// TLS handshakes that do not finish: a client that never sends a
// ClientHello, one that stops halfway, garbage, a FIN, a version the server
// refuses. Each closes only its own connection, is counted in
// tlsHandshakeErrors, and is never an event. A pending handshake holds its
// place under maxConnections from the TCP accept, so the connection caps
// bound pending handshakes, and tlsHandshakeTimeoutMs frees the place.

import type net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import type { Server, ServerOptions } from '../../src/main/index.ts';
import { Received, closeAll, connect, converse, waitFor } from '../helpers/clients.ts';
import { tlsConnect, useTlsServers } from '../helpers/tls-clients.ts';

/** Resolves with how long the server took to close this socket, in ms. */
function closedAfter(socket: net.Socket, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return reject(new Error('closed already'));
    const timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', () => {});
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
  });
}

/** A real ClientHello, as Node's TLS client writes it first: caught on a stream that goes nowhere. */
function captureClientHello(): Promise<Buffer> {
  return new Promise((resolve) => {
    const nowhere = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        resolve(Buffer.from(chunk));
        done();
        // Written from inside tls.connect(): the client exists once it returns.
        setImmediate(() => client.destroy());
      },
    });
    const client = tls.connect({ socket: nowhere, servername: 'localhost', rejectUnauthorized: false });
    client.on('error', () => {});
  });
}

/** A client that sends its ClientHello, sees the server answer, and goes no further. */
async function stopAfterClientHello(port: number): Promise<net.Socket> {
  const socket = await connect(port);
  const received = new Received(socket);
  socket.write(await captureClientHello());
  await received.until(1, 5000);
  return socket;
}

/** The start of a TLS handshake record that announces 512 bytes: the server waits for the rest. */
const HALF_A_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);

describe('TLS handshakes that do not finish', () => {
  const fixture = useTlsServers();

  async function echoServer(options: ServerOptions = {}): Promise<{ server: Server; events: string[] }> {
    const s = await fixture.listen(options);
    const events: string[] = [];
    s.on('open', () => events.push('open'));
    s.on('close', () => events.push('close'));
    s.on('data', (id, data) => s.send(id, data));
    return { server: s, events };
  }

  it('a client that never sends a ClientHello, and one that stops halfway through, are closed by tlsHandshakeTimeoutMs and counted', async () => {
    const { server: s, events } = await echoServer({ tlsHandshakeTimeoutMs: 400 });
    const silent = await connect(s.port);
    const halfway = await connect(s.port);
    halfway.write(HALF_A_CLIENT_HELLO);
    const waited = await Promise.all([closedAfter(silent), closedAfter(halfway)]);
    for (const ms of waited) {
      expect(ms).toBeGreaterThan(350);
      // The deadline is on the worker's timing wheel (100 ms ticks): at most about three ticks late.
      expect(ms).toBeLessThan(2000);
    }
    await waitFor(() => s.stats().tlsHandshakeErrors === 2, 2000, 'both counted');
    expect(s.stats()).toMatchObject({ opened: 0, closedBeforeOpen: 0 });
    expect(events).toEqual([]);
  });

  it('garbage instead of a ClientHello, and a FIN before one, close only that connection, at once', async () => {
    const { server: s, events } = await echoServer();
    const good = await tlsConnect(s.port, fixture.cert);
    await converse(good, 1, 10);
    const garbage = await connect(s.port);
    garbage.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const ended = await connect(s.port);
    ended.end();
    // Both long before the 10 s handshake deadline.
    for (const ms of await Promise.all([closedAfter(garbage), closedAfter(ended)])) expect(ms).toBeLessThan(2000);
    await waitFor(() => s.stats().tlsHandshakeErrors === 2, 2000, 'both counted');
    await converse(good, 2, 10);
    expect(events).toEqual(['open']);
    await closeAll([good]);
  });

  it('a client whose TLS versions the server does not take (minVersion) fails its handshake, counted', async () => {
    const { server: s } = await echoServer({ tls: { key: fixture.cert.key, cert: fixture.cert.cert, minVersion: 'TLSv1.3' } });
    await expect(tlsConnect(s.port, fixture.cert, { maxVersion: 'TLSv1.2' })).rejects.toThrow(/protocol version|alert/i);
    await waitFor(() => s.stats().tlsHandshakeErrors === 1, 2000, 'the failed handshake counted');
    const ok = await tlsConnect(s.port, fixture.cert);
    expect(ok.getProtocol()).toBe('TLSv1.3');
    await closeAll([ok]);
  });

  it('pending handshakes hold their places under maxConnections from the TCP accept: a client over the cap is refused until the deadline frees one', async () => {
    const { server: s } = await echoServer({ maxConnections: 2, tlsHandshakeTimeoutMs: 1000 });
    // Each has its place once the server has answered its ClientHello.
    const stalled = [await stopAfterClientHello(s.port), await stopAfterClientHello(s.port)];
    const freed = Promise.all(stalled.map((socket) => closedAfter(socket)));
    // A third connection finds no place: closed at accept, its handshake never begins.
    await expect(tlsConnect(s.port, fixture.cert)).rejects.toThrow();
    expect(s.stats().rejected).toBe(1);
    expect(s.stats().tlsHandshakeErrors).toBe(0);
    await freed;
    await waitFor(() => s.stats().tlsHandshakeErrors === 2, 2000, 'the deadlines counted');
    const admitted = await tlsConnect(s.port, fixture.cert);
    await converse(admitted, 3, 5);
    await closeAll([admitted]);
  });
});
