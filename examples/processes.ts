// The echo demo's `--processes N`: a supervisor that runs N copies of the
// demo as child processes on one port (each with --share-port and
// --node auto, so the kernel spreads connections over every I/O thread of
// every process and each process leases its own node number from Redis).
// It prints each child's output prefixed with `[i] `, says which node each
// child leased (`child <i> pid <pid> node <n>`), restarts a child that dies
// (after a backoff, at most MAX_RESTARTS times a minute each), and on
// SIGINT or SIGTERM stops them all: SIGTERM, then SIGKILL whatever is still
// running after STOP_MS.
//
// A child tells the supervisor that it listens through the IPC channel
// (`ListeningMessage`), and shuts down gracefully by itself if the
// supervisor goes away (the channel disconnects): supervisedChild() and
// announceListening() below are a child's side of it.

import { type ChildProcess, spawn } from 'node:child_process';
import readline from 'node:readline';
import type { Server } from '../src/main/index.ts';
import type { Stopper } from './start.ts';

/** What a supervised child sends once it listens. */
export interface ListeningMessage {
  kind: 'listening';
  port: number;
  node: number;
}

export interface SuperviseOptions {
  /** The demo script each child runs. */
  script: string;
  /** Its arguments, --share-port and --node auto included, without --port. */
  args: string[];
  processes: number;
  /** The port every child listens on; 0: the one the first child gets, handed to the others. */
  port: number;
  /** A metrics port, or -1: child i serves its metrics on metricsPort + i, so they do not collide. */
  metricsPort: number;
  /** What the children are, for the supervisor's first line: 'echo' unless told. */
  name?: string;
  /** Called once, when every child has listened: with the port they share. */
  ready?: (port: number) => void;
}

/** Restarts allowed per child within a minute; past it the supervisor gives up on that child. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** Backoff before a restart: doubled for each recent restart, up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;
/** How long children get to shut down gracefully (their drain is 5 s) before SIGKILL. */
const STOP_MS = 10_000;

interface Slot {
  readonly index: number;
  child: ChildProcess | undefined;
  node: number | undefined;
  /** When it was restarted, within the last RESTART_WINDOW_MS. */
  restarts: number[];
  timer: NodeJS.Timeout | undefined;
  gaveUp: boolean;
  /** It has listened at least once. */
  listened: boolean;
}

/** Runs the children until a signal stops them (or none is left); resolves with the exit code for the supervisor. */
export function supervise(o: SuperviseOptions): Promise<number> {
  const slots: Slot[] = Array.from({ length: o.processes }, (_, index) => ({
    index,
    child: undefined,
    node: undefined,
    restarts: [],
    timer: undefined,
    gaveUp: false,
    listened: false,
  }));
  let port = o.port;
  /** A child has listened once: from then on a child that exits with code 2 is restarted like any other. */
  let anyListened = false;
  let allListened = false;
  let stopping = false;
  let exitCode = 0;
  let killTimer: NodeJS.Timeout | undefined;
  /** Keeps the first reason to fail: a startup failure's 2 is not overwritten by the stop it causes. */
  const fail = (code: number): void => {
    if (exitCode === 0) exitCode = code;
  };
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));

  const running = (): Slot[] => slots.filter((slot) => slot.child !== undefined);

  const start = (slot: Slot): void => {
    const args = [...o.args, '--port', String(port)];
    if (o.metricsPort >= 0) args.push('--metrics-port', String(o.metricsPort === 0 ? 0 : o.metricsPort + slot.index));
    const child = spawn(process.execPath, [...nodeFlags(), o.script, ...args], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    slot.child = child;
    slot.node = undefined;
    const prefix = `[${slot.index}] `;
    readline.createInterface({ input: child.stdout! }).on('line', (line) => console.log(prefix + line));
    readline.createInterface({ input: child.stderr! }).on('line', (line) => console.error(prefix + line));
    child.on('error', (error) => console.error(`child ${slot.index}: ${error.message}`));
    child.on('message', (message: ListeningMessage) => {
      if (message?.kind !== 'listening') return;
      slot.node = message.node;
      console.log(`child ${slot.index} pid ${child.pid} node ${message.node}`);
      slot.listened = true;
      if (!allListened && slots.every((s) => s.listened)) {
        allListened = true;
        o.ready?.(message.port);
      }
      if (!anyListened) {
        anyListened = true;
        if (port === 0) {
          // The first child picked the port; the others join it.
          port = message.port;
          for (const other of slots) if (other.child === undefined && !stopping) start(other);
        }
      }
    });
    child.once('exit', (code, signal) => exited(slot, child, code, signal));
  };

  const exited = (slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void => {
    if (slot.child === child) slot.child = undefined;
    const how = signal === null ? `with code ${code}` : `on ${signal}`;
    const which = `child ${slot.index} (pid ${child.pid}${slot.node === undefined ? '' : `, node ${slot.node}`})`;
    if (stopping) {
      // One killed by our SIGTERM before it set up its handler stopped as asked.
      if (code !== 0 && signal !== 'SIGTERM') fail(1);
      console.log(`${which} exited ${how}`);
      if (running().length === 0) {
        clearTimeout(killTimer);
        console.log('all children stopped');
        finish(exitCode);
      }
      return;
    }
    if (!anyListened && code === 2) {
      // Refused its options (or could not reach Redis) before any child ever listened: a restart would not help.
      console.error(`${which} could not start (exit code 2); stopping`);
      fail(2);
      stop('startup failure');
      return;
    }
    const now = Date.now();
    slot.restarts = slot.restarts.filter((at) => now - at < RESTART_WINDOW_MS);
    if (slot.restarts.length >= MAX_RESTARTS) {
      slot.gaveUp = true;
      console.error(`${which} exited ${how}; restarted ${slot.restarts.length} times in the last minute: giving up on it`);
      if (slots.every((s) => s.gaveUp)) {
        console.error('no child left; exiting');
        fail(1);
        stop('no child left');
      }
      return;
    }
    const backoff = Math.min(FIRST_BACKOFF_MS * 2 ** slot.restarts.length, MAX_BACKOFF_MS);
    console.error(`${which} exited ${how}; restarting it in ${backoff} ms`);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (stopping) return;
      slot.restarts.push(Date.now());
      start(slot);
    }, backoff);
  };

  const stop = (why: string): void => {
    if (stopping) {
      // A second signal: no more waiting.
      console.log(`${why}: killing the children`);
      for (const slot of running()) slot.child!.kill('SIGKILL');
      return;
    }
    stopping = true;
    for (const slot of slots) clearTimeout(slot.timer);
    const left = running();
    console.log(`${why}: stopping ${left.length} children`);
    if (left.length === 0) {
      finish(exitCode);
      return;
    }
    for (const slot of left) slot.child!.kill('SIGTERM');
    killTimer = setTimeout(() => {
      for (const slot of running()) {
        console.error(`child ${slot.index} (pid ${slot.child!.pid}) still running ${STOP_MS} ms after SIGTERM: SIGKILL`);
        slot.child!.kill('SIGKILL');
      }
      fail(1);
    }, STOP_MS);
  };

  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  console.log(
    `flamingo ${o.name ?? 'echo'} supervisor (pid ${process.pid}): starting ${o.processes} processes on port ${port === 0 ? '(the first one picks)' : port}`,
  );
  if (port === 0) start(slots[0]!);
  else for (const slot of slots) start(slot);
  return done;
}

/** The supervisor's own Node flags for its children (type stripping on an older Node, say), but not an inspector: its port would collide. */
function nodeFlags(): string[] {
  return process.execArgv.filter((flag) => !flag.startsWith('--inspect'));
}

/**
 * In a process supervise() started, readies it to be a child: the IPC
 * channel must not keep it alive, and writes to the pipes of a supervisor
 * that died must not crash it. Returns whether it is such a child.
 */
export function supervisedChild(): boolean {
  if (process.send === undefined) return false;
  process.channel?.unref();
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  return true;
}

/** A supervised child listens: tells its supervisor, and stops by itself should the supervisor go away. */
export function announceListening(server: Server, stopper: Stopper): void {
  process.send!({ kind: 'listening', port: server.port, node: server.node } satisfies ListeningMessage);
  // The supervisor is gone (killed, say): nobody would restart or stop this process, so stop now.
  process.once('disconnect', () => void stopper.stop('supervisor gone'));
}
