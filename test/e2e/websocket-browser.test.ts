// A real browser against the WebSocket protocol: Chromium (the Debian
// package, through puppeteer-core: test/helpers/browser.ts) runs
// `new WebSocket(url)` in a page, over ws:// and over wss:// (TLS in the
// I/O workers, a test certificate the browser is told to trust), echoes
// text and binary messages with every byte checked in the page, and closes
// cleanly; the server's side of the same conversation is checked here.
//
// The page comes from a loopback HTTP server, as an application's page
// would come from its own host: Chromium refuses a WebSocket to a loopback
// address from a page that is not itself local (about:blank is not).

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.ts';
import { waitFor } from '../helpers/clients.ts';
import { type TestCert, makeTestCert } from '../helpers/tls-cert.ts';
import { EchoServer } from '../helpers/websocket.ts';

/** What the page saw of one WebSocket session. */
interface PageSession {
  protocol: string;
  extensions: string;
  /** Per message sent: whether its echo came back identical and of the same type. */
  echoes: boolean[];
  closeCode: number;
  wasClean: boolean;
}

/**
 * In the page: connects to `url`, sends each message (strings as text, the
 * byte lengths as binary, filled with a pattern), waits for every echo and
 * compares it, then closes with 1000 (unless `closeFirst` is false: then it
 * waits for the server to close).
 */
function browserSession(page: Page, url: string, messages: Array<string | number>, closeFirst = true): Promise<PageSession> {
  return page.evaluate(
    async (url, messages, closeFirst) => {
      const pattern = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 31 + length) & 0xff);
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      const received: Array<string | ArrayBuffer> = [];
      let wake: () => void = () => {};
      ws.onmessage = (event) => {
        received.push(event.data as string | ArrayBuffer);
        wake();
      };
      const closed = new Promise<CloseEvent>((resolve) => {
        ws.onclose = resolve;
      });
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error('the WebSocket failed to open'));
      });
      const echoes: boolean[] = [];
      for (const message of messages) {
        const sent = typeof message === 'string' ? message : pattern(message);
        const next = received.length;
        ws.send(sent);
        while (received.length === next) await new Promise<void>((resolve) => (wake = resolve));
        const echo = received[next]!;
        if (typeof sent === 'string') echoes.push(echo === sent);
        else {
          const bytes = typeof echo === 'string' ? undefined : new Uint8Array(echo);
          echoes.push(bytes !== undefined && bytes.length === sent.length && bytes.every((b, i) => b === sent[i]));
        }
      }
      if (closeFirst) ws.close(1000, 'done');
      const close = await closed;
      return { protocol: ws.protocol, extensions: ws.extensions, echoes, closeCode: close.code, wasClean: close.wasClean };
    },
    url,
    messages,
    closeFirst,
  );
}

const MESSAGES: Array<string | number> = ['hello from chromium', 'ünïcödé ✓ 😀', 0, 1, 256, 65_536, 300_000, ''];

/** A loopback HTTP server with one empty page: the origin the browser's sessions run in. */
async function servePage(): Promise<{ url: string; close: () => Promise<void> }> {
  const http = createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><title>flamingo</title>');
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => http.close(() => resolve())) };
}

describe('a real browser (Chromium) over ws://', () => {
  let browser: Browser;
  let page: Page;
  let origin: Awaited<ReturnType<typeof servePage>>;
  let echo: EchoServer | undefined;

  beforeAll(async () => {
    origin = await servePage();
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.goto(origin.url);
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.close();
  });

  afterEach(async () => {
    await echo?.shutdown();
    echo = undefined;
  });

  it('opens with new WebSocket(), echoes text and binary byte for byte, and closes cleanly with 1000', async () => {
    const e = (echo = await EchoServer.start({ captureHeaders: ['user-agent', 'origin'] }));
    const session = await browserSession(page, `ws://127.0.0.1:${e.port}/browser?from=chromium`, MESSAGES);
    expect(session.echoes).toEqual(MESSAGES.map(() => true));
    expect(session).toMatchObject({ protocol: '', extensions: '', closeCode: 1000, wasClean: true });
    // The server's side: the path, the browser's own headers, text as text, and the close code.
    const id = e.onlyId();
    const info = e.opens.get(id)!;
    expect(info.path).toBe('/browser?from=chromium');
    expect(info.headers?.['user-agent']).toMatch(/Chrome/);
    expect(info.headers?.origin).toBe(origin.url.slice(0, -1));
    expect(e.messages.map((m) => m.text)).toEqual(MESSAGES.map((m) => typeof m === 'string'));
    expect(await e.closeOf(id)).toEqual({ reason: 'peer', code: 1000 });
  });

  it('a close from the application (close(id)) reaches the page as a clean 1000', async () => {
    const e = (echo = await EchoServer.start());
    e.server.on('data', (id) => e.server.close(id));
    const session = await browserSession(page, `ws://127.0.0.1:${e.port}/`, ['close me'], false);
    expect(session).toMatchObject({ echoes: [true], closeCode: 1000, wasClean: true });
    await waitFor(() => e.closes.size === 1, 5000, 'the close event');
    expect([...e.closes.values()]).toEqual([{ reason: 'local', code: 1000 }]);
  });
});

describe('a real browser (Chromium) over wss://', () => {
  let cert: TestCert;
  let browser: Browser;
  let page: Page;
  let origin: Awaited<ReturnType<typeof servePage>>;
  let echo: EchoServer | undefined;

  beforeAll(async () => {
    cert = makeTestCert();
    origin = await servePage();
    // It trusts exactly the test certificate's key, and no other.
    browser = await launchBrowser({ trustSpki: [cert.spki] });
    page = await browser.newPage();
    await page.goto(origin.url);
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.close();
    cert?.remove();
  });

  afterEach(async () => {
    await echo?.shutdown();
    echo = undefined;
  });

  it("opens with new WebSocket('wss://...'), echoes text and binary byte for byte, and closes cleanly with 1000", async () => {
    const e = (echo = await EchoServer.start({ tls: { key: cert.key, cert: cert.cert } }));
    const session = await browserSession(page, `wss://127.0.0.1:${e.port}/secure?from=chromium`, MESSAGES);
    expect(session.echoes).toEqual(MESSAGES.map(() => true));
    expect(session).toMatchObject({ protocol: '', extensions: '', closeCode: 1000, wasClean: true });
    const id = e.onlyId();
    expect(e.opens.get(id)!.path).toBe('/secure?from=chromium');
    expect(e.messages.map((m) => m.text)).toEqual(MESSAGES.map((m) => typeof m === 'string'));
    expect(await e.closeOf(id)).toEqual({ reason: 'peer', code: 1000 });
    expect(e.server.stats().tlsHandshakeErrors).toBe(0);
  });

  it('refuses a certificate it was not told to trust: the handshake fails, no open event', async () => {
    const untrusted = makeTestCert();
    try {
      const e = (echo = await EchoServer.start({ tls: { key: untrusted.key, cert: untrusted.cert } }));
      await expect(browserSession(page, `wss://127.0.0.1:${e.port}/`, ['never'])).rejects.toThrow(/failed to open/);
      await waitFor(() => e.server.stats().tlsHandshakeErrors === 1, 5000, 'the failed handshake counted');
      expect(e.opens.size).toBe(0);
    } finally {
      untrusted.remove();
    }
  });
});
