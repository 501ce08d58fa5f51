// A worker thread that dies while the server starts makes listen() reject
// with a coded error, and leaves no thread or port behind; it never leaves
// listen() pending. The death is provoked with the test-only fault hook
// (FLAMINGO_FAULT_ON_LISTEN names the worker that throws instead of
// listening; it works only with FLAMINGO_FAULT_HOOKS=1, which the test
// runner sets).

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from '../../src/main/index.ts';

describe('a worker that dies during start', () => {
  afterEach(() => {
    delete process.env.FLAMINGO_FAULT_ON_LISTEN;
  });

  for (const worker of [0, 1]) {
    it(`worker ${worker} of 2 dying before it listens makes listen() reject with ERR_FLAMINGO_LISTEN, and the port stays free`, async () => {
      // A free port, then a server told to take it.
      const probe = net.createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const port = (probe.address() as net.AddressInfo).port;
      await new Promise((resolve) => probe.close(resolve));

      process.env.FLAMINGO_FAULT_ON_LISTEN = String(worker);
      const started = listen({ port, workers: 2 });
      const outcome = await Promise.race([
        started.then(
          () => 'listening',
          (error: unknown) => error,
        ),
        new Promise((resolve) => setTimeout(resolve, 10_000, 'still pending')),
      ]);
      expect(outcome).toMatchObject({ code: 'ERR_FLAMINGO_LISTEN', message: expect.stringContaining(`I/O worker ${worker}`) });

      // Nothing holds the port any more: a plain listener takes it.
      const after = net.createServer();
      await new Promise<void>((resolve, reject) => {
        after.once('error', reject);
        after.listen(port, '127.0.0.1', resolve);
      });
      await new Promise((resolve) => after.close(resolve));
    });
  }
});
