// A protocol module that cannot be set up in the I/O workers (it does not
// exist, it throws while loading, it exports no factory, its factory throws
// or returns no protocol) makes listen() reject with ERR_FLAMINGO_PROTOCOL
// naming the module and what is wrong, and leaves no port behind.

import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FlamingoError, type ServerOptions, listen } from '../../src/main/index.ts';
import { LineClient } from '../helpers/line-client.ts';

const fixture = (name: string): URL => new URL(`../fixtures/protocols/${name}`, import.meta.url);

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function failure(options: ServerOptions): Promise<FlamingoError> {
  const outcome = await Promise.race([
    listen({ workers: 2, ...options }).then(
      async (server) => {
        await server.shutdown();
        return 'listening';
      },
      (error: unknown) => error,
    ),
    new Promise((resolve) => setTimeout(resolve, 15_000, 'still pending')),
  ]);
  expect(outcome).toBeInstanceOf(FlamingoError);
  return outcome as FlamingoError;
}

describe('a protocol module that cannot be set up', () => {
  const cases: Array<[string, ServerOptions['protocol'], string]> = [
    ['a module URL that does not exist', { module: pathToFileURL('/nonexistent/flamingo-protocol.js') }, 'could not be loaded'],
    ['a module that throws while it loads', { module: fixture('throws-on-import.ts') }, 'this module cannot be loaded'],
    ['a module with no default export', { module: fixture('no-default-export.ts') }, 'must have a default export that is a protocol factory'],
    ['a factory that throws', { module: fixture('broken-shapes.ts'), options: { shape: 'factory-throws' } }, 'its factory threw: the factory refuses'],
    ['a factory that returns null', { module: fixture('broken-shapes.ts'), options: { shape: 'null' } }, 'returned null'],
    ['a protocol without read()', { module: fixture('broken-shapes.ts'), options: { shape: 'no-read' } }, 'it has no read method'],
    ['a protocol whose read is not a function', { module: fixture('broken-shapes.ts'), options: { shape: 'read-not-a-function' } }, 'no read method'],
    ['a handshake flag that is not a boolean', { module: fixture('broken-shapes.ts'), options: { shape: 'handshake-not-boolean' } }, 'handshake'],
  ];

  it.each(cases)('%s: listen() rejects with ERR_FLAMINGO_PROTOCOL naming the module and the fault, and the port stays free', async (_what, protocol, says) => {
    const port = await freePort();
    const error = await failure({ port, protocol });
    expect(error.code).toBe('ERR_FLAMINGO_PROTOCOL');
    expect(error.message).toContain('protocol module file:///');
    expect(error.message).toContain(says);
    const after = net.createServer();
    await new Promise<void>((resolve, reject) => {
      after.once('error', reject);
      after.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => after.close(resolve));
  });

  it('the module is loaded by every I/O worker, with its options cloned to each', async () => {
    const server = await listen({ port: 0, workers: 3, protocol: { module: fixture('handshake.ts'), options: { heartbeatMs: 60_000 } } });
    try {
      const clients = await Promise.all(Array.from({ length: 30 }, () => LineClient.open(server.port)));
      for (const client of clients) client.send('HELLO /');
      await Promise.all(clients.map((client) => client.until('WELCOME')));
      // Reuseport spreads 30 connections over the 3 workers; each worker's copy answered.
      const perWorker = server.stats().workers.map((w) => w.opened);
      expect(perWorker.reduce((a, b) => a + b, 0)).toBe(30);
      expect(perWorker.filter((opened) => opened > 0).length).toBeGreaterThan(1);
      for (const client of clients) client.destroy();
    } finally {
      await server.shutdown();
    }
  });
});
