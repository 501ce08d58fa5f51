// The orchestrator's side of loadgen.c: build it, start processes, speak its
// stdin/stdout line protocol (documented at the top of loadgen.c), and turn
// any verification error or lost connection into a thrown BenchFailure.
// loadgen.c includes bench/common/epoll-client.h (shared with
// bench/cluster/subgen.c) and links OpenSSL for TLS and WebSocket's SHA-1.

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Child } from './procs.ts';
import { type Transport, isTls, isWebSocket } from './servers/protocol.ts';

const SOURCE = fileURLToPath(new URL('./loadgen.c', import.meta.url));
const BUILD_DIR = fileURLToPath(new URL('./.build/', import.meta.url));
const BINARY = `${BUILD_DIR}loadgen`;
/** Source addresses per load generator process: 127.0.0.(2 + 8k) onward. */
const SOURCES_PER_PROCESS = 8;

export type LoadMode = 'idle' | 'echo' | 'bulk' | 'fanout' | 'rate' | 'ingest' | 'handshake';

/** A run that must not count: a byte differed, a connection was lost, a step timed out. */
export class BenchFailure extends Error {
  override name = 'BenchFailure';
}

/** What a benchmark prints when it fails: a refused flag or a failed step says what it is; anything else is a bug, shown with its stack. */
export function describeBenchError(error: unknown): string {
  const plain = error instanceof BenchFailure || String((error as { code?: unknown })?.code ?? '').startsWith('ERR_PARSE_ARGS');
  return error instanceof Error ? (plain ? error.message : (error.stack ?? error.message)) : String(error);
}

export interface ConnectedEvent {
  event: 'connected';
  index: number;
  connected: number;
  failed: number;
  errors: number;
  connect_s: number;
  cpu_s: number;
}

export interface RoundEvent {
  event: 'round';
  index: number;
  round: number;
  first_ns: number;
  last_ns: number;
  cpu_s: number;
}

export interface TriggeredEvent {
  event: 'triggered';
  round: number;
  t_ns: number;
  cpu_s: number;
}

/** loadgen.c enum mode: MODE_INGEST. */
const INGEST_MODE = 5;

export interface LoadgenResult {
  event: 'result';
  index: number;
  /** loadgen.c enum mode. */
  mode: number;
  proto: 'raw' | 'ws';
  tls: boolean;
  conns: number;
  connected: number;
  open_at_end: number;
  connect_s: number;
  messages: number;
  bytes: number;
  messages_total: number;
  window_s: number;
  verify_errors: number;
  conn_errors: number;
  first_verify_error: string;
  first_conn_error: string;
  lat_ns: { min: number; p50: number; p99: number; p999: number; max: number };
  cpu_s: number;
  cpu_window_s: number;
  /** Rate: messages due inside the window; of all sends, those that started more than --late-us late; those never sent (too many in flight). */
  scheduled: number;
  late: number;
  missed: number;
  max_lag_ns: number;
  /** Ingest: connections whose final totals from the server matched, and the bytes and lines those totals covered. */
  verified_conns: number;
  ingest_bytes: number;
  ingest_lines: number;
  /** WebSocket pings from the server, answered. */
  pongs: number;
  /** [low ns, high ns, count] for every non-empty histogram bucket. */
  hist: Array<[number, number, number]>;
}

/** Compiles loadgen.c (about a second); a failure here stops the benchmark before anything starts. */
export function buildLoadgen(): string {
  mkdirSync(BUILD_DIR, { recursive: true });
  execFileSync('cc', ['-O2', '-Wall', '-o', BINARY, SOURCE, '-lssl', '-lcrypto'], { stdio: 'inherit' });
  return BINARY;
}

export interface LoadgenOptions {
  mode: LoadMode;
  port: number;
  conns: number;
  size: number;
  index: number;
  /** Plain TCP unless given. */
  transport?: Transport;
  trigger?: boolean;
  maxSeconds: number;
  /** Rate: messages/s this process offers over its connections. */
  rate?: number;
  maxOutstanding?: number;
  /** Ingest: units are lines; bytes per send. */
  lines?: boolean;
  writeBytes?: number;
  /** Scheduling priority (setpriority); negative runs ahead of the servers. */
  nice?: number;
  /** SO_SNDBUF of each connection; undefined or 0: the kernel's autotuning. */
  sndbuf?: number;
  drainTimeoutS?: number;
}

export class Loadgen {
  readonly child: Child;
  readonly index: number;

  constructor(o: LoadgenOptions) {
    this.index = o.index;
    const args = [
      '--mode',
      o.mode,
      '--port',
      String(o.port),
      '--conns',
      String(o.conns),
      '--size',
      String(o.size),
      '--index',
      String(o.index),
      '--src-base',
      String(2 + o.index * SOURCES_PER_PROCESS),
      '--src-count',
      String(SOURCES_PER_PROCESS),
      '--max-seconds',
      String(o.maxSeconds),
    ];
    if (o.transport !== undefined && isWebSocket(o.transport)) args.push('--proto', 'ws');
    if (o.transport !== undefined && isTls(o.transport)) args.push('--tls');
    if (o.trigger) args.push('--trigger');
    if (o.rate !== undefined) args.push('--rate', String(o.rate));
    if (o.maxOutstanding !== undefined) args.push('--max-outstanding', String(o.maxOutstanding));
    if (o.lines) args.push('--lines');
    if (o.writeBytes !== undefined) args.push('--write-bytes', String(o.writeBytes));
    if (o.sndbuf) args.push('--sndbuf', String(o.sndbuf));
    if (o.nice) args.push('--nice', String(o.nice));
    if (o.drainTimeoutS !== undefined) args.push('--drain-timeout', String(o.drainTimeoutS));
    this.child = new Child(`loadgen#${o.index}`, BINARY, args);
  }

  send(command: string): void {
    this.child.send(command);
  }

  event<T extends { event: string }>(name: string, timeoutMs: number, accept: (e: T) => boolean = () => true): Promise<T> {
    return this.child.waitLine(
      `"${name}" event`,
      (line) => {
        if (!line.startsWith('{')) return undefined;
        const parsed = JSON.parse(line) as T;
        return parsed.event === name && accept(parsed) ? parsed : undefined;
      },
      timeoutMs,
    );
  }

  async connected(timeoutMs: number): Promise<ConnectedEvent> {
    const connected = await this.event<ConnectedEvent>('connected', timeoutMs);
    if (connected.errors > 0) {
      // The process ends at once with a result line that says what went wrong.
      await this.result(5000);
      throw new BenchFailure(`loadgen#${this.index}: ${connected.errors} errors while connecting`);
    }
    return connected;
  }

  /** The final line; throws a BenchFailure on any error it reports or on a non-zero exit. */
  async result(timeoutMs: number): Promise<LoadgenResult> {
    const result = await this.event<LoadgenResult>('result', timeoutMs);
    checkResult(result, this.index);
    const { code, signal } = await this.child.exited;
    if (code !== 0) throw new BenchFailure(`loadgen#${this.index} exited with code ${code} signal ${signal}: ${this.child.stderrTail()}`);
    return result;
  }
}

function checkResult(r: LoadgenResult, index: number): void {
  const problems: string[] = [];
  if (r.verify_errors > 0) problems.push(`${r.verify_errors} verification errors (first: ${r.first_verify_error})`);
  if (r.conn_errors > 0) problems.push(`${r.conn_errors} connection errors (first: ${r.first_conn_error})`);
  if (r.connected < r.conns) problems.push(`only ${r.connected} of ${r.conns} connections opened`);
  if (problems.length === 0 && r.open_at_end < r.conns) problems.push(`${r.open_at_end} of ${r.conns} connections open at the end`);
  if (problems.length === 0 && r.mode === INGEST_MODE && r.verified_conns < r.conns) {
    problems.push(`only ${r.verified_conns} of ${r.conns} connections had their totals confirmed by the server`);
  }
  if (problems.length > 0) throw new BenchFailure(`loadgen#${index}: ${problems.join('; ')}`);
}

/** Splits `total` connections over `processes` load generators as evenly as possible. */
export function splitConnections(total: number, processes: number): number[] {
  const base = Math.floor(total / processes);
  return Array.from({ length: processes }, (_, i) => base + (i < total % processes ? 1 : 0));
}
