// WebSocket test parts: a Flamingo echo server on `protocol: 'websocket'`
// that records what the application saw, the `ws` package as a real
// client, and a raw socket that completes a real handshake and then writes
// frames by hand (the unmasked, invalid or silent client no library will
// play).

import { createHash, randomBytes } from 'node:crypto';
import type net from 'node:net';
import { afterEach } from 'vitest';
import WebSocket from 'ws';
import { type CloseReason, type OpenInfo, type Server, type ServerOptions, listen } from '../../src/main/index.ts';
import { Received, connect, waitFor } from './clients.ts';

export interface SeenClose {
  reason: CloseReason;
  code: number | undefined;
}

export interface SeenMessage {
  data: Buffer;
  text: boolean;
}

/** What the application of an echo server saw, by connection id. */
export class EchoServer {
  readonly opens = new Map<number, OpenInfo>();
  readonly closes = new Map<number, SeenClose>();
  readonly messages: SeenMessage[] = [];
  readonly server: Server;

  private constructor(server: Server) {
    this.server = server;
    server.on('open', (id, info) => this.opens.set(id, info));
    server.on('data', (id, data, text) => {
      this.messages.push({ data: Buffer.from(data), text });
      // Echo: a text message back as text (a string), binary as bytes.
      server.send(id, text ? Buffer.from(data).toString() : data);
    });
    server.on('close', (id, reason, code) => this.closes.set(id, { reason, code }));
  }

  static async start(options: ServerOptions = {}): Promise<EchoServer> {
    return new EchoServer(await listen({ port: 0, workers: 2, protocol: 'websocket', ...options }));
  }

  get port(): number {
    return this.server.port;
  }

  /** The id of the only connection opened so far. */
  onlyId(): number {
    if (this.opens.size !== 1) throw new Error(`expected one open, saw ${this.opens.size}`);
    return [...this.opens.keys()][0]!;
  }

  /** The close of the connection `id`, once the application has seen it. */
  async closeOf(id: number, timeoutMs = 5000): Promise<SeenClose> {
    await waitFor(() => this.closes.has(id), timeoutMs, `the close event of ${id}`);
    return this.closes.get(id)!;
  }

  shutdown(): Promise<unknown> {
    return this.server.shutdown({ drainMs: 1000 });
  }
}

/** A `ws` client, open. */
export function openClient(port: number, path = '/', protocols?: string | string[], options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols, options);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('the WebSocket handshake did not complete within 5 s'));
    }, 5000);
    ws.once('open', () => {
      clearTimeout(timer);
      ws.off('error', reject);
      resolve(ws);
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Resolves with the code and reason of the client's close event. */
export function clientClosed(ws: WebSocket, timeoutMs = 5000): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error('closed already: listen before closing'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the client did not close within ${timeoutMs} ms`)), timeoutMs);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

/** Sends each message and resolves with its echo, one at a time. */
export async function echoEach(ws: WebSocket, messages: ReadonlyArray<string | Buffer>, timeoutMs = 10_000): Promise<Array<{ data: Buffer; binary: boolean }>> {
  const echoes: Array<{ data: Buffer; binary: boolean }> = [];
  for (const message of messages) {
    const echo = new Promise<{ data: Buffer; binary: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no echo within the time allowed')), timeoutMs);
      ws.once('message', (data, binary) => {
        clearTimeout(timer);
        resolve({ data: data as Buffer, binary });
      });
    });
    ws.send(message);
    echoes.push(await echo);
  }
  return echoes;
}

/** A minimal valid upgrade request, with headers added or replaced (a null value drops one). */
export function upgradeRequest(path = '/', headers: Record<string, string | null> = {}): string {
  const all: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = Object.entries(all)
    .filter((entry): entry is [string, string] => entry[1] !== null)
    .map(([name, value]) => `${name}: ${value}\r\n`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

/** A raw socket that has completed a real handshake: what follows is frames, written by hand. */
export interface RawClient {
  socket: net.Socket;
  /** Everything received after the 101 response. */
  received: Received;
  /** The bytes received after the 101 response, so far. */
  frames(): Buffer;
}

export async function rawHandshake(port: number, path = '/'): Promise<RawClient> {
  const socket = await connect(port);
  const received = new Received(socket);
  const key = randomBytes(16).toString('base64');
  socket.write(upgradeRequest(path, { 'Sec-WebSocket-Key': key }));
  await waitFor(() => received.bytes().includes('\r\n\r\n'), 5000, 'the 101 response');
  const all = received.bytes();
  const headEnd = all.indexOf('\r\n\r\n') + 4;
  const head = all.subarray(0, headEnd).toString('latin1');
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  if (!head.startsWith('HTTP/1.1 101 ') || !head.includes(`Sec-WebSocket-Accept: ${accept}\r\n`)) throw new Error(`not a valid 101: ${head}`);
  return { socket, received, frames: () => received.bytes().subarray(headEnd) };
}

export const Op = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** A client frame: masked unless `masked` is false, final unless `fin` is false. */
export function clientFrame(opcode: number, payload: Uint8Array, { fin = true, masked = true } = {}): Buffer {
  const length = payload.length;
  const extra = length <= 125 ? 0 : length <= 0xffff ? 2 : 8;
  const header = Buffer.alloc(2 + extra + (masked ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = (masked ? 0x80 : 0) | (extra === 0 ? length : extra === 2 ? 126 : 127);
  if (extra === 2) header.writeUInt16BE(length, 2);
  if (extra === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!masked) return Buffer.concat([header, payload]);
  const mask = randomBytes(4);
  mask.copy(header, 2 + extra);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([header, body]);
}

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/** Cuts the server's (unmasked, unfragmented) frames out of what a raw client received; an incomplete last frame is left out. */
export function serverFrames(bytes: Buffer): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let length = bytes[at + 1]! & 0x7f;
    let start = at + 2;
    if (length === 126) {
      if (start + 2 > bytes.length) break;
      length = bytes.readUInt16BE(start);
      start += 2;
    } else if (length === 127) {
      if (start + 8 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(start));
      start += 8;
    }
    if (start + length > bytes.length) break;
    frames.push({ opcode: bytes[at]! & 0x0f, payload: bytes.subarray(start, start + length) });
    at = start + length;
  }
  return frames;
}

/** The code of a close frame's payload; undefined for one without. */
export function closeCodeOf(frame: ServerFrame): number | undefined {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined;
}

/**
 * For a describe block: echo servers and `ws` clients, every one stopped
 * after each test (shutdown is idempotent, so a test may stop its server
 * itself).
 */
export function useWebSocketEcho(): {
  start(options?: ServerOptions): Promise<EchoServer>;
  client(...args: Parameters<typeof openClient>): Promise<WebSocket>;
} {
  const servers: EchoServer[] = [];
  const clients: WebSocket[] = [];
  afterEach(async () => {
    for (const ws of clients.splice(0)) ws.terminate();
    await Promise.all(servers.splice(0).map((server) => server.shutdown()));
  });
  return {
    async start(options: ServerOptions = {}): Promise<EchoServer> {
      const server = await EchoServer.start(options);
      servers.push(server);
      return server;
    },
    async client(...args: Parameters<typeof openClient>): Promise<WebSocket> {
      const ws = await openClient(...args);
      clients.push(ws);
      return ws;
    },
  };
}
