import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Report } from '../fixtures/fd-limited-server.ts';
import { connectMany, converse } from '../helpers/clients.ts';

/** The server process's soft open-file limit: room for its own descriptors and a few hundred sockets. */
const FD_LIMIT = 256;
/** Clients connected before the flood; they must keep their echo throughout. */
const HELD = 30;
/**
 * Far more than the server can accept under FD_LIMIT, all at once, so that
 * its two workers race for the descriptors libuv frees and lose the spare
 * one libuv keeps per thread (with 400, libuv's own load shedding kept up; with 800 and no back-off,
 * both workers spun on accept() every time).
 */
const FLOOD = 800;
/** Clients connected once the flood has gone. */
const LATE = 40;
/**
 * Accept errors one worker may count in a second while it backs off: one
 * per pause of about 100 ms, with room for a late timer. Without the
 * back-off, libuv retried accept() thousands of times a second.
 */
const MAX_ERRORS_PER_WORKER_SECOND = 15;
const WORKERS = 2;

/** The fixture's stdout, a JSON line at a time. */
class Lines {
  readonly #lines: string[] = [];
  #waiter: (() => void) | undefined;
  #buffer = '';

  constructor(child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.#buffer += chunk;
      for (let end = this.#buffer.indexOf('\n'); end >= 0; end = this.#buffer.indexOf('\n')) {
        this.#lines.push(this.#buffer.slice(0, end));
        this.#buffer = this.#buffer.slice(end + 1);
      }
      this.#waiter?.();
    });
  }

  async next<T>(timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('the server process sent no line in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
    return JSON.parse(this.#lines.shift()!) as T;
  }
}

/** Connects, or resolves null when the connection is refused, reset or not made within timeoutMs. */
function tryConnect(port: number, timeoutMs: number): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const fail = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(null);
    };
    const timer = setTimeout(fail, timeoutMs);
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const totalErrors = (r: Report): number => r.acceptErrors.reduce((sum, e) => sum + e.count, 0);

describe.skipIf(process.platform !== 'linux')('accept errors', () => {
  it('a server out of file descriptors counts accept errors, backs off without spinning, keeps echoing, and accepts again once files free up', async () => {
    const fixture = fileURLToPath(new URL('../fixtures/fd-limited-server.ts', import.meta.url));
    // Lowering one's own soft limit needs no privilege.
    const child = spawn('bash', ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$1"`, process.execPath, fixture], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const lines = new Lines(child);
    const report = async (): Promise<Report> => {
      child.stdin!.write('report\n');
      return lines.next<Report>();
    };
    const sockets: net.Socket[] = [];
    try {
      const { port, descriptors } = await lines.next<{ port: number; descriptors: number }>(20_000);
      expect(descriptors).toBeLessThan(FD_LIMIT / 2);

      const held = await connectMany(port, HELD, 10);
      sockets.push(...held);
      await Promise.all(held.map((socket, i) => converse(socket, i, 3)));
      expect(totalErrors(await report())).toBe(0);

      // More clients than the process has descriptors for. Those it cannot
      // take are closed, reset or refused; none may hang the test.
      const flood = (await Promise.all(Array.from({ length: FLOOD }, () => tryConnect(port, 3000)))).filter((s) => s !== null);
      sockets.push(...flood);
      await until('an accept error to be counted', 10_000, async () => totalErrors(await report()) > 0);

      // Still out of descriptors: the count goes on growing, one per
      // back-off, not once per retry of a spinning accept loop.
      const before = await report();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const after = await report();
      const grew = totalErrors(after) - totalErrors(before);
      expect(grew).toBeGreaterThan(0);
      expect(grew).toBeLessThanOrEqual((MAX_ERRORS_PER_WORKER_SECOND * WORKERS * (after.at - before.at)) / 1000);
      expect(after.acceptErrors.map((e) => e.lastCode)).toContain('EMFILE');
      // The same count, from shared memory (read a moment later).
      expect(after.statsAcceptErrors).toBeGreaterThanOrEqual(totalErrors(after));

      // The connections it holds keep their echo.
      await Promise.all(held.map((socket, i) => converse(socket, 100 + i, 3)));
      expect(child.exitCode).toBeNull();

      // Files free up: it listens again and serves new clients.
      for (const socket of flood) socket.destroy();
      await until('every worker to listen again with only the held connections open', 10_000, async () => {
        const r = await report();
        return r.open === HELD && r.acceptErrors.every((e) => e.listening);
      });
      const late = await connectMany(port, LATE, 10);
      sockets.push(...late);
      await Promise.all(late.map((socket, i) => converse(socket, 200 + i, 3)));
      await Promise.all(held.map((socket, i) => converse(socket, 300 + i, 3)));
      const last = await report();
      expect(last.open).toBe(HELD + LATE);
      expect(stderr).toBe('');
    } finally {
      for (const socket of sockets) socket.destroy();
      child.kill('SIGKILL');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    }
  });
});
