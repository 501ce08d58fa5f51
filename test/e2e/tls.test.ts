// TLS terminated in every I/O worker, against clients no one here wrote: the
// real `openssl s_client` binary, and Node's tls.connect against every
// framing with every byte checked, 200 at once, behind a full event ring,
// and half-closed. Each client checks the server's certificate (the test
// certificate, for localhost).

import { spawn } from 'node:child_process';
import type tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { type Server, type ServerOptions, encodeLengthPrefixed } from '../../src/main/index.ts';
import { Received, closeAll, converse, echoLengthPrefixed, prng, randomBytes, waitFor } from '../helpers/clients.ts';
import type { TestCert } from '../helpers/tls-cert.ts';
import { tlsConnect, useTlsServers } from '../helpers/tls-clients.ts';

/** `count` lines of random bytes (no '\n'), each ending in '\n', as one stream. */
function randomLines(seed: number, count: number, maxLength: number): Buffer {
  const random = prng(seed);
  const lines: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const line = Buffer.alloc(Math.floor(random() * maxLength) + 1);
    for (let j = 0; j < line.length - 1; j++) line[j] = 11 + Math.floor(random() * 245);
    line[line.length - 1] = 10;
    lines.push(line);
  }
  return Buffer.concat(lines);
}

/** Writes `stream` in pieces of random size (frames cut across TLS records) and checks that exactly it comes back. */
async function echoStream(socket: tls.TLSSocket, stream: Buffer, seed: number): Promise<void> {
  const random = prng(seed);
  const received = new Received(socket);
  for (let at = 0; at < stream.length; ) {
    const end = Math.min(stream.length, at + 1 + Math.floor(random() * 5000));
    socket.write(stream.subarray(at, end));
    at = end;
  }
  await received.until(stream.length, 20_000);
  expect(received.bytes().equals(stream)).toBe(true);
}

/** Writes `request`, ends its side (TLS close_notify, then FIN), and collects what comes back until the server's end. */
function requestThenHalfClose(port: number, cert: TestCert, request: Uint8Array, maxVersion: tls.SecureVersion): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    tlsConnect(port, cert, { allowHalfOpen: true, maxVersion }).then((socket) => {
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no end within 10 s; got ${Buffer.concat(chunks).length} bytes`));
      }, 10_000);
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
      socket.end(request);
    }, reject);
  });
}

describe('TLS in the I/O workers', () => {
  const fixture = useTlsServers();

  async function echoServer(options: ServerOptions = {}): Promise<Server> {
    const s = await fixture.listen(options);
    s.on('data', (id, data) => s.send(id, data));
    return s;
  }

  it('the openssl s_client binary verifies the certificate, sends a line and gets its echo', async () => {
    const s = await echoServer({ framing: 'delimiter' });
    const client = spawn(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${s.port}`, '-servername', 'localhost', '-CAfile', fixture.cert.certFile, '-verify_return_error', '-quiet'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    client.stdout.on('data', (chunk) => (stdout += chunk));
    client.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<void>((resolve) => client.once('exit', () => resolve()));
    try {
      client.stdin.write('hello from openssl s_client\n');
      await waitFor(() => stdout.includes('hello from openssl s_client\n'), 10_000, `the echo (stderr: ${stderr})`);
      expect(stderr).toContain('verify return:1');
      expect(s.stats().opened).toBe(1);
    } finally {
      client.kill('SIGTERM');
      await exited;
    }
  });

  it('raw: Node tls clients get every byte back, messages up to 100 KB', async () => {
    const s = await echoServer({ framing: 'raw' });
    const sockets = await Promise.all([1, 2, 3].map(() => tlsConnect(s.port, fixture.cert)));
    const verified = await Promise.all(sockets.map((socket, i) => converse(socket, 100 + i, 40, i === 2 ? 100_000 : 2000)));
    expect(verified.every((bytes) => bytes > 0)).toBe(true);
    await closeAll(sockets);
  });

  it('delimiter: lines cut across TLS records come back byte for byte', async () => {
    const s = await echoServer({ framing: 'delimiter' });
    const sockets = await Promise.all([1, 2, 3].map(() => tlsConnect(s.port, fixture.cert)));
    await Promise.all(sockets.map((socket, i) => echoStream(socket, randomLines(200 + i, 500, 600), 300 + i)));
    expect(s.stats().framesIn).toBe(3 * 500);
    await closeAll(sockets);
  });

  it('length-prefix: frames written 7 bytes at a time come back byte for byte', async () => {
    const s = await echoServer({ framing: 'length-prefix' });
    const sockets = await Promise.all([1, 2, 3].map(() => tlsConnect(s.port, fixture.cert)));
    await Promise.all(sockets.map((socket, i) => echoLengthPrefixed(socket, 400 + i, 150, 3000, i === 0 ? 7 : 4096)));
    expect(s.stats().framesIn).toBe(3 * 150);
    await closeAll(sockets);
  });

  it('200 TLS clients at once each get their own bytes back, and each opens and closes once', async () => {
    const s = await echoServer({ framing: 'raw' });
    const opens = new Set<number>();
    const closes: string[] = [];
    s.on('open', (id) => opens.add(id));
    s.on('close', (_id, reason) => closes.push(reason));
    const sockets = await Promise.all(Array.from({ length: 200 }, () => tlsConnect(s.port, fixture.cert)));
    await Promise.all(sockets.map((socket, i) => converse(socket, 1000 + i, 8, 1500)));
    expect(opens.size).toBe(200);
    await closeAll(sockets);
    await waitFor(() => closes.length === 200, 10_000, 'every close');
    expect(new Set(closes)).toEqual(new Set(['peer']));
    expect(s.stats().tlsHandshakeErrors).toBe(0);
  });

  it('a 4 KiB event ring under 50 streaming TLS clients: reads pause, and every byte comes back in order', async () => {
    const s = await echoServer({ framing: 'raw', eventRingBytes: 4096 });
    const sockets = await Promise.all(Array.from({ length: 50 }, () => tlsConnect(s.port, fixture.cert)));
    const received = sockets.map((socket) => new Received(socket));
    const payloads = sockets.map((_, i) => randomBytes(prng(500 + i), 200_000));
    sockets.forEach((socket, i) => {
      socket.write(payloads[i]!);
    });
    await Promise.all(received.map((r) => r.until(200_000, 30_000)));
    received.forEach((r, i) => {
      expect(r.bytes().equals(payloads[i]!)).toBe(true);
    });
    expect(s.stats().pausedReads).toBeGreaterThan(0);
    await closeAll(sockets);
  });

  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${maxVersion}: a client that sends its request and ends its side still gets the reply, in every framing`, async () => {
      const requests: Array<{ options: ServerOptions; request: Uint8Array }> = [
        { options: { framing: 'raw' }, request: Buffer.from('hello') },
        { options: { framing: 'delimiter' }, request: Buffer.from('hello\n') },
        {
          options: { framing: 'length-prefix' },
          request: encodeLengthPrefixed({ lengthBytes: 4, littleEndian: false, lengthIncludesHeader: false }, Buffer.from('hello')),
        },
      ];
      for (const { options, request } of requests) {
        const s = await echoServer(options);
        const closes: string[] = [];
        s.on('close', (_id, reason) => closes.push(reason));
        const replies = await Promise.all([1, 2, 3].map(() => requestThenHalfClose(s.port, fixture.cert, request, maxVersion)));
        for (const reply of replies) expect(reply.equals(Buffer.from(request))).toBe(true);
        await waitFor(() => closes.length === 3, 5000, 'the closes');
        expect(closes).toEqual(['peer', 'peer', 'peer']);
        await s.shutdown({ drainMs: 1000 });
      }
    });
  }
});
