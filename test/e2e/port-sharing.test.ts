// Port sharing is asked for, never given by default. Every I/O worker binds
// with reusePort, which on its own would let a second server on a busy port
// start without complaint and take part of its connections. These tests run
// real servers and real sockets on loopback: a server that did not set
// sharePort refuses a port any other socket holds and cannot be joined by
// one that did; servers that all set sharePort split the connections.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FlamingoError, type Server, type ServerOptions, listen } from '../../src/main/index.ts';
import { Received, connect, waitFor } from '../helpers/clients.ts';

describe('port sharing', () => {
  const servers: Server[] = [];
  const plainServers: net.Server[] = [];
  const sockets: net.Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await Promise.all(servers.splice(0).map((server) => server.shutdown()));
    await Promise.all(plainServers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  async function start(options: ServerOptions): Promise<Server> {
    const server = await listen(options);
    servers.push(server);
    return server;
  }

  /** A listen that must fail; a server that starts anyway is shut down before the test fails. */
  async function refusal(options: ServerOptions): Promise<FlamingoError> {
    let server: Server;
    try {
      server = await listen(options);
    } catch (error) {
      expect(error).toBeInstanceOf(FlamingoError);
      return error as FlamingoError;
    }
    await server.shutdown();
    throw new Error(`a server started on port ${options.port} although the port was held`);
  }

  /** A plain net server without reusePort; resolves with it, or with the error code its listen failed with. */
  function listenPlain(port: number): Promise<net.Server | string> {
    return new Promise((resolve) => {
      const plain = net.createServer((socket) => socket.destroy());
      plain.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
      plain.listen({ host: '127.0.0.1', port }, () => {
        plainServers.push(plain);
        resolve(plain);
      });
    });
  }

  /** Makes `server` echo, and checks that a byte goes through it and back. */
  async function expectEcho(server: Server): Promise<void> {
    server.on('data', (id, data) => server.send(id, data));
    const socket = await connect(server.port);
    sockets.push(socket);
    const received = new Received(socket);
    socket.write('x');
    await received.until(1, 5000);
    expect(received.bytes().toString()).toBe('x');
  }

  it('a second server on a port a Flamingo server holds fails with ERR_FLAMINGO_LISTEN (EADDRINUSE), and the first keeps serving', async () => {
    const first = await start({ port: 0, workers: 2 });
    const error = await refusal({ port: first.port, workers: 2 });
    expect(error.code).toBe('ERR_FLAMINGO_LISTEN');
    expect(error.message).toContain(`127.0.0.1:${first.port}`);
    expect(error.message).toContain('EADDRINUSE');
    expect(error.message).toContain('sharePort');
    await expectEcho(first);
  });

  it('a server on a port a plain net server holds fails the same way, with the listen error as its cause', async () => {
    const plain = await listenPlain(0);
    if (typeof plain === 'string') throw new Error(`plain listen failed: ${plain}`);
    const port = (plain.address() as net.AddressInfo).port;
    const error = await refusal({ port, workers: 2 });
    expect(error.code).toBe('ERR_FLAMINGO_LISTEN');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toContain('EADDRINUSE');
    expect(error.message).toContain('sharePort');
    expect((error.cause as NodeJS.ErrnoException | undefined)?.code).toBe('EADDRINUSE');
  });

  it('a plain net server on a port Flamingo holds gets EADDRINUSE', async () => {
    const server = await start({ port: 0, workers: 2 });
    expect(await listenPlain(server.port)).toBe('EADDRINUSE');
  });

  it('two servers that both set sharePort share the port, and both receive connections', async () => {
    const first = await start({ port: 0, workers: 1, sharePort: true });
    const second = await start({ port: first.port, workers: 1, sharePort: true });
    expect(second.port).toBe(first.port);
    let openedFirst = 0;
    let openedSecond = 0;
    first.on('open', () => openedFirst++);
    second.on('open', () => openedSecond++);
    const clients = 100;
    for (let i = 0; i < clients; i++) {
      const socket = await connect(first.port);
      sockets.push(socket);
      await waitFor(() => openedFirst + openedSecond === i + 1, 5000, `open ${i + 1}`);
      socket.destroy();
    }
    expect(openedFirst + openedSecond).toBe(clients);
    // Each connection picks a server by a hash of its addresses: one server
    // getting all 100 would happen with probability 2 ** -99.
    expect(openedFirst).toBeGreaterThan(0);
    expect(openedSecond).toBeGreaterThan(0);
  });

  it('a sharePort server on a port an exclusive Flamingo server holds is refused, and every connection still reaches the first', async () => {
    const first = await start({ port: 0, workers: 2 });
    const error = await refusal({ port: first.port, workers: 2, sharePort: true });
    expect(error.code).toBe('ERR_FLAMINGO_LISTEN');
    expect(error.message).toContain(`127.0.0.1:${first.port}`);
    expect(error.message).toContain('did not ask to share');
    let opened = 0;
    first.on('open', () => opened++);
    for (let i = 0; i < 20; i++) {
      const socket = await connect(first.port);
      sockets.push(socket);
    }
    await waitFor(() => opened === 20, 5000, 'every open at the first server');
  });

  it('a fixed port is refused while an exclusive server holds it, and free again once that server shuts down', async () => {
    const first = await start({ port: 0, workers: 2 });
    const port = first.port;
    expect((await refusal({ port, workers: 1, sharePort: true })).code).toBe('ERR_FLAMINGO_LISTEN');
    await first.shutdown();
    const second = await start({ port, workers: 2 });
    expect(second.port).toBe(port);
    // It holds the port exclusively in its turn.
    expect((await refusal({ port, workers: 1, sharePort: true })).message).toContain('did not ask to share');
    await expectEcho(second);
  });

  it('a server whose start fails after it claimed the port lets the port go', async () => {
    const blocker = await listenPlain(0);
    if (typeof blocker === 'string') throw new Error(`plain listen failed: ${blocker}`);
    const metricsPort = (blocker.address() as net.AddressInfo).port;
    const probe = await start({ port: 0, workers: 1 });
    const port = probe.port;
    await probe.shutdown();
    // The metrics endpoint fails after the workers bound the port and the claim was taken.
    await expect(listen({ port, workers: 1, metricsPort })).rejects.toThrow(`${metricsPort}`);
    const server = await start({ port, workers: 1 });
    expect(server.port).toBe(port);
    expect((await refusal({ port, workers: 1, sharePort: true })).code).toBe('ERR_FLAMINGO_LISTEN');
  });
});
