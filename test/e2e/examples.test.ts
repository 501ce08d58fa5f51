import { type ChildProcess, spawn } from 'node:child_process';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { connect, converse, waitFor } from '../helpers/clients.ts';

const STARTUP_MS = 15_000;
const EXIT_MS = 10_000;

interface Example {
  child: ChildProcess;
  port: number;
  output: () => string;
  /** The exit code, or null when the child was killed by a signal. */
  exited: Promise<number | null>;
}

/** Starts examples/<file> on a free loopback port and waits for its `listening on HOST:PORT` first line. */
async function start(file: string, args: string[] = []): Promise<Example> {
  const script = fileURLToPath(new URL(`../../examples/${file}`, import.meta.url));
  const child = spawn(process.execPath, [script, '--port', '0', '--host', '127.0.0.1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    await waitFor(() => gone || output.includes('\n'), STARTUP_MS, `${file} to print its first line`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const match = /^listening on 127\.0\.0\.1:(\d+)\n/.exec(output);
  if (match === null) {
    child.kill('SIGKILL');
    throw new Error(`${file} did not start: ${output}`);
  }
  return { child, port: Number(match[1]), output: () => output, exited };
}

/** Sends SIGTERM and resolves with the exit code, or fails if the child takes longer than EXIT_MS. */
async function terminate(example: Example): Promise<number | null> {
  example.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no exit ${EXIT_MS} ms after SIGTERM:\n${example.output()}`)), EXIT_MS);
  });
  try {
    return await Promise.race([example.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills what is left, whatever happened. */
function cleanUp(example: Example | undefined, sockets: net.Socket[]): void {
  for (const socket of sockets) socket.destroy();
  if (example !== undefined && example.child.exitCode === null && example.child.signalCode === null) example.child.kill('SIGKILL');
}

/** Everything a socket receives, as text, with a bounded wait for a line. */
class Transcript {
  text = '';
  constructor(socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (this.text += chunk));
    socket.on('error', () => {});
  }

  lines(): string[] {
    return this.text.split('\n').filter((line) => line !== '');
  }

  async line(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    await waitFor(() => this.lines().some((line) => pattern.test(line)), timeoutMs, `a line matching ${pattern} (got ${JSON.stringify(this.text)})`);
    return pattern.exec(this.lines().find((line) => pattern.test(line))!)!;
  }
}

async function echoesAndStops(file: string): Promise<void> {
  let example: Example | undefined;
  const sockets: net.Socket[] = [];
  try {
    example = await start(file, ['--workers', '2']);
    for (let i = 0; i < 8; i++) sockets.push(await connect(example.port));
    // Random binary messages, each echoed in full before the next; every byte compared.
    const verified = await Promise.all(sockets.map((socket, i) => converse(socket, 700 + i, 20)));
    expect(verified.every((bytes) => bytes > 0)).toBe(true);
    expect(await terminate(example)).toBe(0);
    expect(example.output()).toMatch(/SIGTERM: shutting down/);
  } finally {
    cleanUp(example, sockets);
  }
}

describe('the runnable examples', () => {
  it('pull-echo echoes every byte with pull loops only, and exits 0 on SIGTERM', async () => {
    await echoesAndStops('pull-echo.ts');
  });

  it('pipeline-thread echoes every byte from a blocking pipeline thread, and exits 0 on SIGTERM', async () => {
    await echoesAndStops('pipeline-thread.ts');
  });

  it('chat sends a line to every other client, announces joins, names and leaves, and exits 0 on SIGTERM', async () => {
    let example: Example | undefined;
    const sockets: net.Socket[] = [];
    try {
      example = await start('chat.ts', ['--workers', '2']);
      const join = async (): Promise<{ socket: net.Socket; transcript: Transcript; id: string }> => {
        const socket = await connect(example!.port);
        sockets.push(socket);
        const transcript = new Transcript(socket);
        // Once the welcome arrived, the server has this client in the room.
        const [, id] = await transcript.line(/^\* welcome, you are (\d+);/);
        return { socket, transcript, id: id! };
      };
      const a = await join();
      const b = await join();
      const c = await join();
      await a.transcript.line(new RegExp(`^\\* ${b.id} joined$`));
      await a.transcript.line(new RegExp(`^\\* ${c.id} joined$`));

      a.socket.write('hello from A\r\n');
      await b.transcript.line(new RegExp(`^${a.id}: hello from A$`));
      await c.transcript.line(new RegExp(`^${a.id}: hello from A$`));
      // Sends to one connection arrive in order: once B's later line reached A, A's own line would have too.
      b.socket.write('ping from B\n');
      await a.transcript.line(new RegExp(`^${b.id}: ping from B$`));
      expect(a.transcript.text).not.toMatch(/hello from A/);
      expect(b.transcript.text).not.toMatch(/ping from B/);

      c.socket.write('/nick carol\nhi\n');
      await a.transcript.line(new RegExp(`^\\* ${c.id} is now carol$`));
      await b.transcript.line(/^carol: hi$/);

      b.socket.end();
      await a.transcript.line(new RegExp(`^\\* ${b.id} left \\(peer\\)$`));
      await c.transcript.line(new RegExp(`^\\* ${b.id} left \\(peer\\)$`));

      expect(await terminate(example)).toBe(0);
      // Told before shutdown closed them.
      await a.transcript.line(/^\* the server is shutting down$/);
      await c.transcript.line(/^\* the server is shutting down$/);
    } finally {
      cleanUp(example, sockets);
    }
  });
});
