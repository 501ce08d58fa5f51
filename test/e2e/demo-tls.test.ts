// The demo with `--tls-cert cert.pem --tls-key key.pem`: TLS for whatever
// protocol it runs, so with `--protocol websocket` it serves wss://; and the
// two flags go together.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/clients.ts';
import { type TestCert, makeTestCert } from '../helpers/tls-cert.ts';
import { clientClosed, echoEach } from '../helpers/websocket.ts';

const demo = fileURLToPath(new URL('../../examples/echo.ts', import.meta.url));

/** Runs the demo with `args`; `output` collects stdout and stderr. */
function runDemo(args: string[]): { output: () => string; exited: Promise<number | null>; kill: (signal?: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [demo, '--port', '0', '--workers', '2', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  return { output: () => output, exited, kill: (signal = 'SIGKILL') => child.kill(signal) };
}

describe('the demo over TLS', () => {
  let cert: TestCert;

  beforeAll(() => {
    cert = makeTestCert();
  });

  afterAll(() => cert?.remove());

  it('npm start -- --protocol websocket --tls-cert cert.pem --tls-key key.pem serves wss://', async () => {
    const run = runDemo(['--protocol', 'websocket', '--tls-cert', cert.certFile, '--tls-key', cert.keyFile]);
    try {
      const pattern = /listening on 127\.0\.0\.1:(\d+) with 2 I\/O workers \(protocol websocket, TLS/;
      await waitFor(() => pattern.test(run.output()), 15_000, `the demo to listen:\n${run.output()}`);
      const ws = new WebSocket(`wss://127.0.0.1:${run.output().match(pattern)![1]}/`, { ca: cert.cert });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const echoes = await echoEach(ws, ['over wss', Buffer.from([1, 2, 3])]);
      expect(echoes.map((e) => [e.data.toString('hex'), e.binary])).toEqual([
        [Buffer.from('over wss').toString('hex'), false],
        ['010203', true],
      ]);
      const closed = clientClosed(ws, 10_000);
      run.kill('SIGTERM');
      expect((await closed).code).toBe(1001);
      expect(await run.exited).toBe(0);
    } finally {
      run.kill();
    }
  });

  it('--tls-cert without --tls-key is refused with a message, exit code 2', async () => {
    const run = runDemo(['--tls-cert', cert.certFile]);
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/--tls-cert and --tls-key go together/);
  });
});
