// The example protocol outside the core, examples/protocols/resp.ts (the
// request side of RESP, the Redis protocol), loaded by URL by every I/O
// worker and written only against the public interface: whole requests
// however the client splits them, PING answered in the worker, replies
// framed in the worker, malformed and oversize requests closing only their
// connection. Then the example key-value server built on it, as a process.

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseRequest } from '../../examples/protocols/resp.ts';
import { listen } from '../../src/main/index.ts';
import { Received, connect, connectMany, prng, randomBytes, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

const RESP = new URL('../../examples/protocols/resp.ts', import.meta.url);

function request(...args: Array<string | Buffer>): Buffer {
  const parts = args.map((arg) => (typeof arg === 'string' ? Buffer.from(arg) : arg));
  return Buffer.concat([Buffer.from(`*${parts.length}\r\n`), ...parts.flatMap((p) => [Buffer.from(`$${p.length}\r\n`), p, Buffer.from('\r\n')])]);
}

function bulk(value: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n')]);
}

/** Writes `wire` in writes cut at random points, so requests and their length lines split. */
function writeSplit(socket: import('node:net').Socket, wire: Buffer, random: () => number): void {
  for (let at = 0; at < wire.length; ) {
    const cut = Math.min(wire.length, at + 1 + Math.floor(random() * 64));
    socket.write(wire.subarray(at, cut));
    at = cut;
  }
}

describe('the RESP example protocol, loaded by URL', () => {
  it('200 connections pipelining SET and GET of random binary values, split at random points: every reply in order, PING answered in the worker', async () => {
    const server = await listen({ port: 0, workers: 2, protocol: { module: RESP, options: { maxArguments: 8 } } });
    try {
      const store = new Map<string, Buffer>();
      let requests = 0;
      server.on('data', (id, raw) => {
        requests++;
        const [command, key, value] = parseRequest(raw);
        if (command!.toString() === 'SET') {
          store.set(key!.toString(), Buffer.from(value!));
          server.send(id, '+OK');
        } else {
          server.send(id, store.get(key!.toString()) ?? '$-1');
        }
      });
      const sockets = await connectMany(server.port, 200);
      const random = prng(6379);
      const expected = sockets.map((socket, i) => {
        const wire: Buffer[] = [];
        const replies: Buffer[] = [];
        for (let n = 0; n < 15; n++) {
          const key = `key:${i}:${n}`;
          const value = randomBytes(random, Math.floor(random() * 300));
          wire.push(request('SET', key, value), request('PING'), request('GET', key), request('GET', `missing:${i}`));
          replies.push(Buffer.from('+OK\r\n'), Buffer.from('+PONG\r\n'), bulk(value), Buffer.from('$-1\r\n'));
        }
        writeSplit(socket, Buffer.concat(wire), random);
        return Buffer.concat(replies);
      });
      const received = sockets.map((socket) => new Received(socket));
      await Promise.all(received.map((r, i) => r.until(expected[i]!.length, 30_000)));
      for (const [i, r] of received.entries()) expect(r.bytes().equals(expected[i]!)).toBe(true);
      // The pings never reached the application.
      expect(requests).toBe(200 * 15 * 3);
      expect(server.stats().framesIn).toBe(200 * 15 * 3);
      for (const socket of sockets) socket.destroy();
    } finally {
      await server.shutdown();
    }
  });

  it('a malformed request gets -ERR and closes only its connection with error; one over maxFrameBytes closes with frame-too-large', async () => {
    const server = await listen({ port: 0, workers: 1, protocol: { module: RESP }, maxFrameBytes: 1024 });
    try {
      const recorder = new EventRecorder(server);
      server.on('data', (id) => server.send(id, '+OK'));
      const good = await connect(server.port);
      const goodReplies = new Received(good);
      const garbage = await connect(server.port);
      const garbageReplies = new Received(garbage);
      const huge = await connect(server.port);
      huge.on('error', () => {});
      garbage.write('*1\r\n$x\r\n');
      huge.write(request('SET', 'k', Buffer.alloc(2000)));
      await garbageReplies.untilEnd();
      expect(garbageReplies.bytes().toString()).toBe('-ERR Protocol error: invalid bulk length\r\n');
      await waitFor(() => recorder.closed.size === 2, 5000, 'two closes');
      expect(recorder.reasons()).toEqual({ error: 1, 'frame-too-large': 1 });
      good.write(request('PING'));
      good.write(request('SET', 'a', 'b'));
      await goodReplies.until(12);
      expect(goodReplies.bytes().toString()).toBe('+PONG\r\n+OK\r\n');
      expect(server.stats().protocolErrors).toBe(0);
      good.destroy();
    } finally {
      await server.shutdown();
    }
  });

  it('a request left incomplete for longer than frameTimeoutMs closes with frame-timeout (the protocol reports its pending bytes)', async () => {
    const server = await listen({ port: 0, workers: 1, protocol: { module: RESP }, frameTimeoutMs: 300 });
    try {
      const recorder = new EventRecorder(server);
      const client = await connect(server.port);
      client.on('error', () => {});
      client.write('*2\r\n$3\r\nGET\r\n$10\r\nhalf');
      await waitFor(() => recorder.closed.size === 1, 5000, 'the close');
      expect([...recorder.closed.values()]).toEqual(['frame-timeout']);
    } finally {
      await server.shutdown();
    }
  });

  it('the example key-value server answers GET, SET, DEL and PING as a process of its own', async () => {
    const script = fileURLToPath(new URL('../../examples/protocols/kv-server.ts', import.meta.url));
    const child: ChildProcess = spawn(process.execPath, [script, '--port', '0', '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitFor(() => /listening on [^:]+:(\d+)\n/.test(output), 15_000, `the example to listen (output: ${output})`);
      const port = Number(/listening on [^:]+:(\d+)\n/.exec(output)![1]);
      const client = await connect(port);
      const replies = new Received(client);
      client.write(
        Buffer.concat([
          request('SET', 'greeting', 'hello'),
          request('GET', 'greeting'),
          request('PING'),
          request('DEL', 'greeting', 'other'),
          request('GET', 'greeting'),
        ]),
      );
      const expected = '+OK\r\n$5\r\nhello\r\n+PONG\r\n:1\r\n$-1\r\n';
      await replies.until(expected.length);
      expect(replies.bytes().toString()).toBe(expected);
      client.destroy();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      expect(await exited).toBe(0);
      clearTimeout(timer);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
