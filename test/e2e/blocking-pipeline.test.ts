import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { listen } from '../../src/main/index.ts';
import { closeAll, connectMany, converse } from '../helpers/clients.ts';

interface Summary {
  opened: number;
  closed: number;
  echoed: number;
  violations: string[];
}

async function runBlockingEcho(mode: 'next' | 'recv'): Promise<Summary> {
  const server = await listen({ port: 0, workers: 2, consumer: 'external' });
  const handle = await server.pipelineHandle({ consume: true });
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const thread = new Worker(new URL('../helpers/blocking-echo.ts', import.meta.url), { workerData: { handle, mode, stop } });
  const summary = new Promise<Summary>((resolve, reject) => {
    thread.once('message', resolve);
    thread.once('error', reject);
  });
  const sockets = await connectMany(server.port, 500);
  await Promise.all(sockets.map((socket, i) => converse(socket, 5000 + i, 40)));
  await closeAll(sockets);
  await server.shutdown();
  Atomics.store(stop, 0, 1);
  const result = await summary;
  await thread.terminate();
  return result;
}

describe('a blocking pipeline in a dedicated thread', () => {
  it('echoes 500 connections with next() and sees each open and close once', async () => {
    const summary = await runBlockingEcho('next');
    expect(summary.violations).toEqual([]);
    expect(summary.opened).toBe(500);
    expect(summary.closed).toBe(500);
    expect(summary.echoed).toBeGreaterThanOrEqual(500);
  });

  it('echoes 500 connections with the synchronous recvOpen/recvData/recvClose', async () => {
    const summary = await runBlockingEcho('recv');
    expect(summary.violations).toEqual([]);
    expect(summary.opened).toBe(500);
    expect(summary.closed).toBe(500);
  });

  it('refuses a second consuming pipeline and pull calls on an external-consumer server', async () => {
    const server = await listen({ port: 0, workers: 1, consumer: 'external' });
    await server.pipelineHandle({ consume: true });
    await expect(server.pipelineHandle({ consume: true })).rejects.toMatchObject({ code: 'ERR_FLAMINGO_CONSUMER' });
    await expect(server.recvData()).rejects.toMatchObject({ code: 'ERR_FLAMINGO_CONSUMER' });
    // Nobody drains this server's events; shutdown still completes because no connection is open.
    await server.shutdown();
  });
});
