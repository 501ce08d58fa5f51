// Child processes the orchestrator starts, and what /proc says about them.
//
// Every child is registered at spawn and stays registered until it has
// exited; killAll() ends whatever is left (on failure, timeout or signal).
// Children are spawned detached, each leading its own process group, so a
// kill reaches what a child started (cluster workers) through the group id,
// which is the child's own pid: nothing is ever killed by name.

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat (100 on Linux everywhere). */
const CLOCK_TICKS = 100;

const live = new Set<Child>();

export class Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Lines on stderr, kept for the failure message (the last few hundred). */
  readonly stderrLines: string[] = [];
  #lines: string[] = [];
  #waiters: Array<() => void> = [];
  #done = false;

  constructor(name: string, command: string, args: string[], env?: NodeJS.ProcessEnv) {
    this.name = name;
    this.process = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: env ?? process.env });
    if (this.process.pid === undefined) throw new Error(`${name}: could not start ${command}`);
    this.pid = this.process.pid;
    live.add(this);
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      this.#lines.push(line);
      this.#wake();
    });
    createInterface({ input: this.process.stderr! }).on('line', (line) => {
      this.stderrLines.push(line);
      if (this.stderrLines.length > 300) this.stderrLines.shift();
    });
    // A child that dies early must not crash us with EPIPE on its stdin.
    this.process.stdin!.on('error', () => {});
    // 'close' rather than 'exit': it comes after the last stdout line is read.
    this.exited = new Promise((resolve) => {
      this.process.once('close', (code, signal) => {
        live.delete(this);
        this.#done = true;
        this.#wake();
        resolve({ code, signal });
      });
    });
  }

  get running(): boolean {
    return !this.#done;
  }

  send(line: string): void {
    this.process.stdin!.write(`${line}\n`);
  }

  /** The next stdout line for which `match` returns a value; earlier lines that don't match are kept. */
  async waitLine<T>(what: string, match: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = 0; i < this.#lines.length; i++) {
        const value = match(this.#lines[i]!);
        if (value !== undefined) {
          this.#lines.splice(i, 1);
          return value;
        }
      }
      if (this.#done) throw new Error(`${this.name} exited while waiting for ${what}${this.#stderrTail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms${this.#stderrTail()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** SIGTERM, then SIGKILL to the whole group if it has not exited within `graceMs`. True if it exited on its own terms. */
  async stop(graceMs: number): Promise<boolean> {
    if (!this.running) return true;
    this.signal('SIGTERM', false);
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
    if ((await Promise.race([this.exited, timer])) !== 'timeout') return true;
    this.kill();
    await this.exited;
    return false;
  }

  /** SIGKILL to the child's process group (the child and everything it started). */
  kill(): void {
    this.signal('SIGKILL', true);
  }

  signal(signal: NodeJS.Signals, group: boolean): void {
    try {
      process.kill(group ? -this.pid : this.pid, signal);
    } catch {
      // Already gone.
    }
  }

  stderrTail(lines = 20): string {
    return this.stderrLines.slice(-lines).join('\n');
  }

  #stderrTail(): string {
    const tail = this.stderrTail();
    return tail ? `; its stderr ends with:\n${tail}` : '';
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Kills every child still running (and its process group), synchronously. */
export function killAll(): void {
  for (const child of live) child.kill();
}

export function liveChildren(): number {
  return live.size;
}

/** `pid` and all its descendants, from the ppid field of every /proc/<pid>/stat. */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields !== undefined) parentOf.set(Number(entry), Number(fields[1]));
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** Fields of /proc/<pid>/stat after the command name: [0] is state (field 3), utime is [11], stime [12]. */
function statFields(pid: number, task?: number): string[] | undefined {
  try {
    const text = readFileSync(task === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${task}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // exited meanwhile
  }
}

/** utime + stime of every process in `pids` (all threads of each), in seconds. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    if (fields !== undefined) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS;
}

/** CPU seconds per thread name (comm) over every process in `pids`: where a server spends its time. */
export function cpuByThread(pids: readonly number[]): Record<string, number> {
  const byName: Record<string, number> = {};
  for (const pid of pids) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      let name: string;
      try {
        name = readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim();
      } catch {
        continue;
      }
      const fields = statFields(pid, Number(task));
      if (fields === undefined) continue;
      const key = pid === pids[0] ? name : `child:${name}`;
      byName[key] = (byName[key] ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    }
  }
  return byName;
}

/** VmRSS of every process in `pids`, summed, in bytes. */
export function rssBytes(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/** Open file descriptors of a process (its /proc fd entries). */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

export function monoNs(): bigint {
  // process.hrtime reads CLOCK_MONOTONIC, the clock loadgen.c stamps with.
  return process.hrtime.bigint();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sleeps until a CLOCK_MONOTONIC instant (bounded: at most `maxMs`). */
export async function sleepUntil(ns: bigint, maxMs = 120_000): Promise<void> {
  const left = Number(ns - monoNs()) / 1e6;
  if (left > 0) await sleep(Math.min(left, maxMs));
}

/**
 * Runs a benchmark so that nothing it started outlives it: every child is
 * killed on exit, on SIGINT or SIGTERM, and once `timeoutMin` minutes have
 * passed. `start` reads the plan (its flags) and returns the time bound and
 * the body; a failure is printed as `<name> FAILED: …` (with `describe`,
 * or the stack) and the process exits with the body's code, or 1.
 */
export async function runGuarded(
  name: string,
  stopping: string,
  start: () => { timeoutMin: number; run: () => Promise<number> },
  describe: (error: unknown) => string = (error) => (error instanceof Error ? (error.stack ?? error.message) : String(error)),
): Promise<never> {
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping ${stopping}`);
      killAll();
      process.exit(130);
    });
  }
  let exitCode = 1;
  try {
    const { timeoutMin, run } = start();
    const watchdog = setTimeout(() => {
      console.error(`\n${name} FAILED: still running after ${timeoutMin} minutes; stopping everything`);
      killAll();
      process.exit(124);
    }, timeoutMin * 60_000);
    watchdog.unref();
    exitCode = await run();
  } catch (error) {
    console.error(`\n${name} FAILED: ${describe(error)}`);
    exitCode = 1;
  } finally {
    if (liveChildren() > 0) {
      console.error(`stopping ${liveChildren()} processes still running`);
      killAll();
    }
  }
  process.exit(exitCode);
}
