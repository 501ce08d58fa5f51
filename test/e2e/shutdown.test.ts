import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('shutdown', () => {
  it('delivers accepted sends, closes every connection once with shutdown, and leaves nothing running', async () => {
    const script = fileURLToPath(new URL('../helpers/shutdown-child.ts', import.meta.url));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exit = await new Promise<{ code: number | null; timedOut: boolean }>((resolve) => {
      // The child must exit by itself: it never calls process.exit.
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve({ code: null, timedOut: true });
      }, 30_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, timedOut: false });
      });
    });
    expect(stderr).toBe('');
    expect(exit).toEqual({ code: 0, timedOut: false });
    const result = JSON.parse(stdout.trim()) as { complete: number; reasons: Record<string, number>; abandoned: number };
    expect(result.complete).toBe(200);
    expect(result.reasons).toEqual({ shutdown: 200 });
    expect(result.abandoned).toBe(0);
  });
});

describe('shutdown past drainMs', () => {
  it('closes a connection whose client never reads once drainMs runs out, and reports the abandoned bytes', async () => {
    const { listen } = await import('../../src/main/index.ts');
    const { connect, waitFor } = await import('../helpers/clients.ts');
    const server = await listen({ port: 0, workers: 1, maxBufferedBytes: 64 * 1024 * 1024 });
    const ids: number[] = [];
    const reasons: string[] = [];
    server.on('open', (id) => ids.push(id));
    server.on('close', (_id, reason) => reasons.push(reason));
    const sleeper = await connect(server.port);
    sleeper.pause();
    sleeper.on('error', () => {});
    await waitFor(() => ids.length === 1, 5000, 'open');
    for (let i = 0; i < 64; i++) server.send(ids[0]!, Buffer.alloc(256 * 1024, 3));
    await waitFor(() => server.stats().bytesOut === 64 * 256 * 1024, 10_000, 'the sends to reach the socket');
    const started = performance.now();
    const report = await server.shutdown({ drainMs: 300 });
    const took = performance.now() - started;
    expect(report.abandonedBytes).toBeGreaterThan(0);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(reasons).toEqual(['shutdown']);
    sleeper.destroy();
  });
});
