import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { Received, connect, waitFor } from '../helpers/clients.ts';

function tryConnect(port: number, host: string): Promise<'connected' | string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

describe('listen and socket options', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('IPv6 loopback: open events carry family 6 and the peer address', async () => {
    const s = (server = await listen({ host: '::1', port: 0, workers: 2 }));
    const opens: { family: number; address: string }[] = [];
    s.on('open', (_id, info) => opens.push(info));
    s.on('data', (id, data) => s.send(id, data));
    const socket = await connect(s.port, '::1');
    const received = new Received(socket);
    socket.write('six');
    await received.until(3);
    expect(received.bytes().toString()).toBe('six');
    expect(opens).toEqual([{ family: 6, address: '::1', port: socket.localPort, localPort: s.port }]);
    socket.destroy();
  });

  it('dual stack on "::" accepts IPv4 and IPv6; ipv6Only refuses IPv4', async () => {
    const dual = (server = await listen({ host: '::', port: 0, workers: 2 }));
    expect(await tryConnect(dual.port, '127.0.0.1')).toBe('connected');
    expect(await tryConnect(dual.port, '::1')).toBe('connected');
    await dual.shutdown();
    const only6 = (server = await listen({ host: '::', port: 0, workers: 1, ipv6Only: true }));
    expect(await tryConnect(only6.port, '::1')).toBe('connected');
    expect(await tryConnect(only6.port, '127.0.0.1')).toBe('ECONNREFUSED');
  });

  it('keepAliveMs, noDelay: false and a small backlog still serve connections', async () => {
    const s = (server = await listen({ port: 0, workers: 1, keepAliveMs: 1000, noDelay: false, backlog: 8 }));
    let opened = 0;
    s.on('open', () => opened++);
    s.on('data', (id, data) => s.send(id, data));
    const socket = await connect(s.port);
    const received = new Received(socket);
    socket.write('alive');
    await received.until(5);
    await waitFor(() => opened === 1, 5000, 'open');
    socket.destroy();
  });

  it('a port already taken by another program fails listen with ERR_FLAMINGO_LISTEN and leaves no thread behind', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(listen({ port, workers: 2 })).rejects.toMatchObject({ code: 'ERR_FLAMINGO_LISTEN' });
    } finally {
      blocker.close();
    }
  });
});
