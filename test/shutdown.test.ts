import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('shutdown', () => {
  it('delivers accepted sends, closes every connection once with shutdown, and leaves nothing running', async () => {
    const script = fileURLToPath(new URL('./helpers/shutdown-child.ts', import.meta.url));
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
