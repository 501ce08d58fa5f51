// The demo with `--protocol websocket` (`npm start -- --protocol websocket`):
// a `ws` client's text comes back as text and its binary as binary, the
// WebSocket options are flags (`--subprotocols a,b`), and SIGTERM closes
// the client with 1001 on the way out.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { prng, randomBytes, waitFor } from '../helpers/clients.ts';
import { clientClosed, echoEach, openClient } from '../helpers/websocket.ts';

const demo = fileURLToPath(new URL('../../examples/echo.ts', import.meta.url));

it('npm start -- --protocol websocket echoes text as text and binary as binary, and SIGTERM closes with 1001', async () => {
  const child = spawn(process.execPath, [demo, '--port', '0', '--workers', '2', '--quiet', '--protocol', 'websocket', '--subprotocols', 'echo.v2,echo.v1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  try {
    const pattern = /listening on 127\.0\.0\.1:(\d+) with 2 I\/O workers \(protocol websocket/;
    await waitFor(() => pattern.test(output), 15_000, `the demo to listen:\n${output}`);
    const ws = await openClient(Number(output.match(pattern)![1]), '/demo', ['echo.v1']);
    expect(ws.protocol).toBe('echo.v1');
    const random = prng(9000);
    const messages = ['hello', '', 'ünïcödé 😀', randomBytes(random, 1), randomBytes(random, 70_000), Buffer.alloc(0)];
    const echoes = await echoEach(ws, messages);
    for (let i = 0; i < messages.length; i++) {
      const sent = messages[i]!;
      expect(echoes[i]!.binary).toBe(typeof sent !== 'string');
      expect(echoes[i]!.data.equals(typeof sent === 'string' ? Buffer.from(sent) : sent)).toBe(true);
    }
    const closed = clientClosed(ws, 10_000);
    child.kill('SIGTERM');
    expect((await closed).code).toBe(1001);
    expect(await exited).toBe(0);
  } finally {
    child.kill('SIGKILL');
  }
});
