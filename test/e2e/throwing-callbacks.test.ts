// No user callback can stop the engine. Each scenario runs in a child
// process that, like many servers, keeps running after an uncaught exception
// (it has an 'uncaughtException' handler): a test runner would treat the
// rethrown errors as failures of its own.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('../fixtures/throwing-listeners.ts', import.meta.url));

function runScenario(name: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fixture, name], { timeout: 50_000 }, (error, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        reject(new Error(`scenario ${name} printed no result (${error?.message ?? 'exit 0'}): ${stdout}\n${stderr}`));
      }
    });
  });
}

describe('listeners that throw', () => {
  it("a 'data' listener and an 'error' listener that both throw stop no delivery, and shutdown resolves", async () => {
    const result = await runScenario('data-and-error-listeners-throw');
    // 5 connections x 10 lines: every frame delivered and echoed.
    expect(result).toMatchObject({ frames: 50, errors: 50, uncaught: 50 });
  });

  it("a 'close' listener that throws while a dead worker's closes are handed out gets every worker-exit close", async () => {
    const result = await runScenario('close-listener-throws-on-worker-exit');
    expect(result).toMatchObject({ closes: 21, workerExitCloses: 21, allClosed: true, reused: 0 });
  });

  it("a 'workerExit' listener that throws does not keep the replacement worker from starting", async () => {
    const result = await runScenario('worker-exit-listener-throws');
    expect(result).toMatchObject({ exits: 1, echoed: 'ping', uncaught: 1, restarts: 1 });
  });
});
