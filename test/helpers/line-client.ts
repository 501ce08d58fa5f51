// A client for the line protocols of the protocol tests: writes lines,
// collects the lines it receives, and waits (bounded) for one or for the end.

import type net from 'node:net';
import { connect, waitFor } from './clients.ts';

export class LineClient {
  readonly socket: net.Socket;
  readonly lines: string[] = [];
  ended = false;
  #partial = '';

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      this.#partial = parts.pop()!;
      this.lines.push(...parts);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.ended = true;
    });
  }

  static async open(port: number): Promise<LineClient> {
    return new LineClient(await connect(port));
  }

  send(...lines: string[]): void {
    this.socket.write(lines.map((line) => `${line}\n`).join(''));
  }

  /** Resolves once a line equal to `line` has arrived (the whole list so far is returned). */
  async until(line: string, timeoutMs = 5000): Promise<string[]> {
    await waitFor(() => this.lines.includes(line), timeoutMs, `the line ${JSON.stringify(line)} (got ${JSON.stringify(this.lines.slice(-5))})`);
    return this.lines;
  }

  async untilEnd(timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.ended, timeoutMs, `the server to close the connection (got ${JSON.stringify(this.lines.slice(-5))})`);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
