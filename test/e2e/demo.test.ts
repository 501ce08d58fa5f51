import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Received, connect } from '../helpers/clients.ts';

const demo = fileURLToPath(new URL('../../examples/echo.ts', import.meta.url));

function run(args: string[]): { child: ReturnType<typeof spawn>; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [demo, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  return { child, output: () => output, exited };
}

describe('the echo demo', () => {
  it('listens, echoes bytes exactly, and exits cleanly on SIGTERM', async () => {
    const { child, output, exited } = run(['--port', '0', '--workers', '2', '--quiet']);
    const deadline = Date.now() + 15_000;
    let match: RegExpMatchArray | null = null;
    while (!(match = output().match(/listening on 127\.0\.0\.1:(\d+) with 2 I\/O workers/)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(match).not.toBeNull();
    const socket = await connect(Number(match![1]));
    const received = new Received(socket);
    const message = Buffer.from([0, 1, 2, 255, 10, 13, 0x66, 0x6c]);
    socket.write(message);
    await received.until(message.length);
    expect(received.bytes().equals(message)).toBe(true);
    socket.destroy();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output()).toMatch(/SIGTERM: shutting down\nstopped \(0 bytes abandoned\)/);
  });

  it('takes the framing flags and echoes each frame as it came on the wire, header included', async () => {
    const { child, output, exited } = run([
      '--port',
      '0',
      '--workers',
      '1',
      '--quiet',
      '--framing',
      'length-prefix',
      '--length-bytes',
      '2',
      '--little-endian',
      '--idle-timeout-ms',
      '5000',
    ]);
    const deadline = Date.now() + 15_000;
    let match: RegExpMatchArray | null = null;
    while (!(match = output().match(/listening on 127\.0\.0\.1:(\d+) .*framing length-prefix/)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(match).not.toBeNull();
    const socket = await connect(Number(match![1]));
    const received = new Received(socket);
    const frames = Buffer.from([3, 0, 0x61, 0x62, 0x63, 0, 0, 1, 0, 0x7a]);
    socket.write(frames.subarray(0, 4));
    socket.write(frames.subarray(4));
    await received.until(frames.length);
    expect(received.bytes().equals(frames)).toBe(true);
    socket.destroy();
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('refuses a bad option with its name and exit code 2', async () => {
    const { output, exited } = run(['--port', '70000']);
    expect(await exited).toBe(2);
    expect(output()).toMatch(/ERR_FLAMINGO_INVALID_OPTION: option "port" must be an integer from 0 to 65535; got 70000/);
  });
});
