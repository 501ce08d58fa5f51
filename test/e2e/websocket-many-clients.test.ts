// 2,000 `ws` clients at once, each holding a conversation of text and binary
// messages of seeded random sizes; every byte of every echo is checked, and
// every connection closes cleanly with 1000 at both ends.

import { afterAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { decodeId } from '../../src/main/index.ts';
import { prng, randomBytes, waitFor } from '../helpers/clients.ts';
import { EchoServer, clientClosed, echoEach, openClient } from '../helpers/websocket.ts';

const CLIENTS = 2000;
const MESSAGES = 4;
/** Handshakes in flight at once. */
const PARALLEL = 100;

describe('2,000 concurrent WebSocket clients', () => {
  let echo: EchoServer | undefined;
  const clients: WebSocket[] = [];

  afterAll(async () => {
    for (const ws of clients) ws.terminate();
    await echo?.shutdown();
  });

  it('each echoes its text and binary messages byte for byte, and closes with 1000', async () => {
    const e = (echo = await EchoServer.start({ workers: 2 }));
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < CLIENTS) {
          next++;
          clients.push(await openClient(e.port, `/client/${next}`));
        }
      }),
    );
    await waitFor(() => e.opens.size === CLIENTS, 20_000, `${CLIENTS} open events`);
    const workers = new Set([...e.opens.keys()].map((id) => decodeId(id).worker));
    expect(workers.size).toBe(2);

    let verifiedBytes = 0;
    await Promise.all(
      clients.map(async (ws, i) => {
        const random = prng(1000 + i);
        const messages = Array.from({ length: MESSAGES }, (_, m) => {
          const bytes = randomBytes(random, Math.floor(random() * 2048));
          // Every other message is text: random bytes turned into a string of letters.
          return m % 2 === 0 ? bytes : bytes.toString('base64');
        });
        const echoes = await echoEach(ws, messages, 30_000);
        for (let m = 0; m < MESSAGES; m++) {
          const sent = messages[m]!;
          const expected = typeof sent === 'string' ? Buffer.from(sent) : sent;
          const { data, binary } = echoes[m]!;
          if (binary !== (typeof sent !== 'string') || !data.equals(expected)) throw new Error(`client ${i}, message ${m}: the echo differs`);
          verifiedBytes += expected.length;
        }
      }),
    );
    expect(e.messages.length).toBe(CLIENTS * MESSAGES);
    expect(verifiedBytes).toBeGreaterThan(CLIENTS * MESSAGES * 500);

    const closes = clients.map((ws) => clientClosed(ws, 30_000));
    for (const ws of clients) ws.close(1000);
    const codes = await Promise.all(closes);
    expect(codes.every((c) => c.code === 1000)).toBe(true);
    await waitFor(() => e.closes.size === CLIENTS, 20_000, `${CLIENTS} close events`);
    expect([...e.closes.values()].every((c) => c.reason === 'peer' && c.code === 1000)).toBe(true);
    expect(e.server.stats().protocolErrors).toBe(0);
  });
});
