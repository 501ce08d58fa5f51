// WebSocket over TLS (wss://): the same protocol, over the connection the
// I/O worker decrypted. The `ws` package as the client, checking the test
// certificate; the real browser's wss:// case is in websocket-browser.test.ts.

import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prng, randomBytes, waitFor } from '../helpers/clients.ts';
import { type TestCert, makeTestCert } from '../helpers/tls-cert.ts';
import { EchoServer, clientClosed, echoEach } from '../helpers/websocket.ts';

function openSecure(url: string, options: WebSocket.ClientOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => {
      ws.off('error', reject);
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

describe('WebSocket over TLS', () => {
  let cert: TestCert;
  let echo: EchoServer | undefined;

  beforeAll(() => {
    cert = makeTestCert();
  });

  afterAll(() => cert?.remove());

  afterEach(async () => {
    await echo?.shutdown();
    echo = undefined;
  });

  it('a ws client on wss:// that checks the certificate echoes text as text and binary as binary, and closes with 1000', async () => {
    const e = (echo = await EchoServer.start({ tls: { key: cert.key, cert: cert.cert } }));
    const ws = await openSecure(`wss://127.0.0.1:${e.port}/secure?from=ws`, { ca: cert.cert });
    const random = prng(443);
    const messages = ['hello over wss', '', 'ünïcödé 😀', randomBytes(random, 1), randomBytes(random, 200_000), Buffer.alloc(0)];
    const echoes = await echoEach(ws, messages);
    for (let i = 0; i < messages.length; i++) {
      const sent = messages[i]!;
      expect(echoes[i]!.binary).toBe(typeof sent !== 'string');
      expect(echoes[i]!.data.equals(typeof sent === 'string' ? Buffer.from(sent) : sent)).toBe(true);
    }
    const id = e.onlyId();
    expect(e.opens.get(id)!.path).toBe('/secure?from=ws');
    const closed = clientClosed(ws);
    ws.close(1000, 'done');
    expect((await closed).code).toBe(1000);
    expect(await e.closeOf(id)).toEqual({ reason: 'peer', code: 1000 });
  });

  it('a plain ws:// client at a wss:// server fails its TLS handshake, counted, and never opens', async () => {
    const e = (echo = await EchoServer.start({ tls: { key: cert.key, cert: cert.cert } }));
    await expect(openSecure(`ws://127.0.0.1:${e.port}/`, {})).rejects.toThrow();
    await waitFor(() => e.server.stats().tlsHandshakeErrors === 1, 5000, 'the failed handshake counted');
    expect(e.opens.size).toBe(0);
    expect(e.server.stats().closedBeforeOpen).toBe(0);
  });
});
