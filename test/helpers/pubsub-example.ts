// The pub/sub example as a process (examples/pubsub/server.ts), one or a
// supervised group, for the end-to-end tests: started on a free port,
// waited for until it listens, stopped with SIGTERM (SIGKILL after a bound)
// whatever happened. And a raw RESP client that reads whole replies, for
// tests that compare bytes.

import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitFor } from './clients.ts';

const SCRIPT = fileURLToPath(new URL('../../examples/pubsub/server.ts', import.meta.url));
const STARTUP_MS = 30_000;
const EXIT_MS = 15_000;

/** Every example process still running, killed when the test process exits. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export class PubSubExample {
  readonly child: ChildProcess;
  port = 0;
  #output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(args: string[]) {
    const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    running.add(child);
    child.stdout!.on('data', (chunk) => (this.#output += chunk));
    child.stderr!.on('data', (chunk) => (this.#output += chunk));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      }),
    );
  }

  /** One process on a free port: `listening on 127.0.0.1:PORT` is its first line. */
  static async start(args: string[] = []): Promise<PubSubExample> {
    const example = new PubSubExample(['--port', '0', '--workers', '2', ...args]);
    await example.#until(/^listening on 127\.0\.0\.1:(\d+)$/m);
    return example;
  }

  /** `processes` supervised copies on one port, routed through Redis at `redisUrl`; resolves once every copy listens. */
  static async startGroup(processes: number, redisUrl: string, prefix: string, args: string[] = []): Promise<PubSubExample> {
    const example = new PubSubExample(['--port', '0', '--workers', '1', '--processes', String(processes), '--redis', redisUrl, '--prefix', prefix, ...args]);
    await example.#until(new RegExp(`^listening on 127\\.0\\.0\\.1:(\\d+) with ${processes} processes$`, 'm'));
    return example;
  }

  get output(): string {
    return this.#output;
  }

  /** The children a supervisor started, as it announced them. */
  children(): Array<{ index: number; pid: number; node: number }> {
    return [...this.#output.matchAll(/^child (\d+) pid (\d+) node (\d+)$/gm)].map(([, index, pid, node]) => ({
      index: Number(index),
      pid: Number(pid),
      node: Number(node),
    }));
  }

  async #until(listening: RegExp): Promise<void> {
    let gone = false;
    void this.exited.then(() => (gone = true));
    try {
      await waitFor(() => gone || listening.test(this.#output), STARTUP_MS, `the pub/sub example to listen:\n${this.#output}`);
    } catch (error) {
      this.child.kill('SIGKILL');
      throw error;
    }
    const match = listening.exec(this.#output);
    if (match === null) throw new Error(`the pub/sub example did not start:\n${this.#output}`);
    this.port = Number(match[1]);
  }

  /** SIGTERM; resolves with how it exited, SIGKILL past EXIT_MS (and then the test fails on the signal). */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), EXIT_MS);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A socket that sends raw bytes and reads whole RESP replies off what comes back. */
export class RawClient {
  readonly socket: net.Socket;
  #buffer = Buffer.alloc(0);
  ended = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => (this.#buffer = Buffer.concat([this.#buffer, chunk])));
    socket.on('close', () => (this.ended = true));
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket));
      });
      socket.once('error', reject);
    });
  }

  send(bytes: Uint8Array | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** The next `count` whole replies, as the bytes they came in. */
  async replies(count: number, timeoutMs = 10_000): Promise<Buffer> {
    let end = 0;
    await waitFor(
      () => {
        end = 0;
        for (let i = 0; i < count; i++) {
          const next = replyEnd(this.#buffer, end);
          if (next === -1) return false;
          end = next;
        }
        return true;
      },
      timeoutMs,
      `${count} replies (got ${JSON.stringify(this.#buffer.toString('latin1'))}${this.ended ? ', then the end' : ''})`,
    );
    const taken = this.#buffer.subarray(0, end);
    this.#buffer = this.#buffer.subarray(end);
    return taken;
  }

  /** Waits for the server to end the connection; resolves with what came before. */
  async end(timeoutMs = 10_000): Promise<Buffer> {
    await waitFor(() => this.ended, timeoutMs, `the connection to end (got ${JSON.stringify(this.#buffer.toString('latin1'))})`);
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return rest;
  }

  /** Bytes received and not yet taken. */
  pending(): Buffer {
    return this.#buffer;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Where the RESP2 or RESP3 reply starting at `at` ends, or -1 while it is incomplete. */
export function replyEnd(bytes: Buffer, at: number): number {
  if (at >= bytes.length) return -1;
  const lineEnd = bytes.indexOf('\r\n', at, 'latin1');
  if (lineEnd === -1) return -1;
  const type = String.fromCharCode(bytes[at]!);
  const header = bytes.toString('latin1', at + 1, lineEnd);
  const after = lineEnd + 2;
  switch (type) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
      return after;
    case '$':
    case '=':
    case '!': {
      const length = Number(header);
      if (length < 0) return after;
      return bytes.length >= after + length + 2 ? after + length + 2 : -1;
    }
    case '*':
    case '>':
    case '~':
    case '%': {
      const count = Number(header) * (type === '%' ? 2 : 1);
      let end = after;
      for (let i = 0; i < count; i++) {
        end = replyEnd(bytes, end);
        if (end === -1) return -1;
      }
      return end;
    }
    default:
      throw new Error(`not a RESP reply at byte ${at}: ${JSON.stringify(bytes.toString('latin1', at, at + 40))}`);
  }
}
