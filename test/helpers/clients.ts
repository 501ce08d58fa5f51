// Test clients: real sockets over loopback, a seeded PRNG, and helpers that
// hold a conversation and verify every byte that comes back.

import net from 'node:net';

/** mulberry32: a small seeded PRNG, so failures reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(random: () => number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (random() * 256) | 0;
  return bytes;
}

/** Opens `count` connections, at most `parallel` connecting at once. */
export async function connectMany(port: number, count: number, parallel = 200, host = '127.0.0.1'): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  let next = 0;
  const open = async (): Promise<void> => {
    while (next < count) {
      next++;
      sockets.push(await connect(port, host));
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, open));
  return sockets;
}

export function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Collects everything a socket receives. */
export class Received {
  chunks: Buffer[] = [];
  length = 0;
  ended = false;
  #waiters: (() => void)[] = [];

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.length += chunk.length;
      this.#wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Resolves when at least `length` bytes arrived; rejects on end or timeout. */
  until(length: number, timeoutMs = 20_000): Promise<void> {
    return this.#waitFor(
      () => this.length >= length,
      timeoutMs,
      () => `expected ${length} bytes, got ${this.length}`,
    );
  }

  untilEnd(timeoutMs = 20_000): Promise<void> {
    return this.#waitFor(
      () => this.ended,
      timeoutMs,
      () => `socket did not end (got ${this.length} bytes)`,
      true,
    );
  }

  #waitFor(done: () => boolean, timeoutMs: number, describe: () => string, endIsOk = false): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (done()) {
          clearTimeout(timer);
          resolve();
          return true;
        }
        if (this.ended && !endIsOk) {
          clearTimeout(timer);
          reject(new Error(`socket ended early: ${describe()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => reject(new Error(`timed out: ${describe()}`)), timeoutMs);
      if (check()) return;
      const waiter = (): void => {
        if (!check()) this.#waiters.push(waiter);
      };
      this.#waiters.push(waiter);
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/**
 * Sends `messages` random-length messages one at a time, each after the
 * previous one's echo has fully arrived, and checks the echoed stream byte
 * for byte. Resolves with the number of bytes verified.
 */
export async function converse(socket: net.Socket, seed: number, messages: number, maxLength = 512): Promise<number> {
  const random = prng(seed);
  const received = new Received(socket);
  const sent: Buffer[] = [];
  let total = 0;
  for (let i = 0; i < messages; i++) {
    const message = randomBytes(random, 1 + Math.floor(random() * maxLength));
    sent.push(message);
    total += message.length;
    socket.write(message);
    await received.until(total);
  }
  const expected = Buffer.concat(sent);
  const actual = received.bytes();
  if (!actual.equals(expected)) {
    let at = 0;
    while (at < expected.length && actual[at] === expected[at]) at++;
    throw new Error(`echo mismatch at byte ${at} of ${expected.length} (received ${actual.length})`);
  }
  return total;
}

export function closeAll(sockets: net.Socket[]): Promise<void> {
  return Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed) return resolve();
          socket.once('close', () => resolve());
          // Unread data would hold back 'end', and so 'close'.
          socket.resume();
          socket.end();
        }),
    ),
  ).then(() => undefined);
}

export function waitFor(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = (): void => {
      if (condition()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

/** Holds `count` connections from a child process; `release()` closes them and waits for it to exit. */
export async function holdInChild(port: number, count: number): Promise<{ ports: number[]; release: () => Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const script = fileURLToPath(new URL('./hold-clients.ts', import.meta.url));
  const child = spawn(process.execPath, [script, String(port), String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ports = await new Promise<number[]>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('client process did not connect in time'));
    }, 30_000);
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve((JSON.parse(out) as { ports: number[] }).ports);
      }
    });
    child.once('exit', () => reject(new Error('client process exited early')));
  });
  return {
    ports,
    release: async () => {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Sends `frames` random 4-byte big-endian length-prefixed frames (bodies of
 * 0 to maxBody - 1 bytes) in writes of `writeBytes`, and checks the echoed
 * stream byte for byte.
 */
export async function echoLengthPrefixed(socket: net.Socket, seed: number, frames: number, maxBody: number, writeBytes = Infinity): Promise<void> {
  const random = prng(seed);
  const wire = Buffer.concat(
    Array.from({ length: frames }, () => {
      const body = randomBytes(random, Math.floor(random() * maxBody));
      const header = Buffer.alloc(4);
      header.writeUInt32BE(body.length);
      return Buffer.concat([header, body]);
    }),
  );
  const received = new Received(socket);
  for (let at = 0; at < wire.length; at += writeBytes) socket.write(wire.subarray(at, Math.min(wire.length, at + writeBytes)));
  await received.until(wire.length, 30_000);
  if (!received.bytes().equals(wire)) throw new Error(`length-prefixed echo ${seed}: the stream came back altered`);
}
