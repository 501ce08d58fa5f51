// Process plumbing for the cost benchmarks: start a server process
// and client processes, read their CPU time and RSS from /proc, stop them.

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Proc {
  child: ChildProcess;
  lines: AsyncIterator<Record<string, unknown>>;
}

export function start(script: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  return { child, lines: jsonLines(child) };
}

async function* jsonLines(child: ChildProcess): AsyncGenerator<Record<string, unknown>> {
  let buffer = '';
  for await (const chunk of child.stdout!) {
    buffer += chunk;
    for (let at = buffer.indexOf('\n'); at >= 0; at = buffer.indexOf('\n')) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      if (line.startsWith('{')) yield JSON.parse(line) as Record<string, unknown>;
    }
  }
}

export async function next(proc: Proc, timeoutMs: number): Promise<Record<string, unknown>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no output from ${proc.child.spawnargs.join(' ')} in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const result = await Promise.race([proc.lines.next(), timeout]);
    if (result.done) throw new Error(`${proc.child.spawnargs.join(' ')} ended early`);
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function rssBytes(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1]) * 1024;
}

export async function stop(proc: Proc, graceMs = 10_000): Promise<void> {
  if (proc.child.exitCode !== null) return;
  const exited = new Promise((resolve) => proc.child.once('exit', resolve));
  proc.child.stdin!.end();
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
