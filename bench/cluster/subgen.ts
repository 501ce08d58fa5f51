// The orchestrator's side of subgen.c: build it, start subscriber and
// publisher processes, and speak its stdin/stdout line protocol (documented
// at the top of subgen.c).

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BenchFailure, describeBenchError } from '../load/loadgen.ts';
import { Child } from '../load/procs.ts';
import type { Histogram } from '../load/stats.ts';

const SOURCE = fileURLToPath(new URL('./subgen.c', import.meta.url));
/** Build output goes under bench/results (gitignored). */
const BUILD_DIR = fileURLToPath(new URL('../results/cluster-build/', import.meta.url));
const BINARY = `${BUILD_DIR}subgen`;
/** Source addresses per client process: 127.0.0.(2 + 8k) onward (ephemeral ports are per source address). */
export const SOURCES_PER_PROCESS = 8;
/** The most connections one client process opens: its open-file limit is 20,000. */
export const MAX_CONNS_PER_PROCESS = 19_000;

export { BenchFailure, describeBenchError };

export interface SubscribedEvent {
  event: 'subscribed';
  index: number;
  subscribed: number;
  failed: number;
  errors: number;
  first_error: string;
  connect_s: number;
  cpu_s: number;
}

/** What every delivery count of the subscriber client says, in its own JSON names. */
export interface DeliveryTally {
  expected: number;
  delivered: number;
  missing: number;
  duplicate: number;
  corrupt: number;
  misrouted: number;
  err_lines: number;
  conn_errors: number;
}

export interface CheckedEvent extends DeliveryTally {
  event: 'checked';
  index: number;
  final: number;
  behind_conns: number;
  shortfall: number;
  drain_s: number;
  verify_errors: number;
  open: number;
  window_deliveries: number;
  window_stamped: number;
  lat_ns: { min: number; p50: number; p99: number; p999: number; max: number };
  cpu_s: number;
  hist: Histogram;
}

export interface ResultEvent extends DeliveryTally {
  event: 'result';
  mode: 'sub' | 'pub';
  index: number;
  conns: number;
  subscribed: number;
  open_at_end: number;
  connect_s: number;
  verify_errors: number;
  first_conn_error: string;
  first_verify_error: string;
  first_err_line: string;
  published: number;
  lines_in: number;
  cpu_s: number;
  wall_s: number;
}

export interface PubConnectedEvent {
  event: 'connected';
  index: number;
  connected: number;
  errors: number;
  first_error: string;
  /** The local port of each connection (0 if it failed). */
  ports: number[];
}

export interface PublishedEvent {
  event: 'published';
  index: number;
  sent: number;
  total: number;
  blocked: number;
  lag_max_ns: number;
  conn_errors: number;
  lines_in: number;
  err_lines: number;
  first_line_in: string;
  cpu_s: number;
  /** Per topic, the last sequence number published so far (cumulative over runs). */
  counts: number[];
}

/** Compiles subgen.c (well under a second); a failure here stops the benchmark before anything starts. */
export function buildSubgen(): string {
  mkdirSync(BUILD_DIR, { recursive: true });
  execFileSync('cc', ['-O2', '-Wall', '-o', BINARY, SOURCE, '-lm'], { stdio: 'inherit' });
  return BINARY;
}

export interface SubgenOptions {
  mode: 'sub' | 'pub';
  /** 'line': the echo demo's SUB/PUB lines (the default); 'resp': Redis SUBSCRIBE/PUBLISH. */
  proto?: 'line' | 'resp';
  port: number;
  conns: number;
  topics: number;
  /** Global index of this process's first connection: connection i subscribes to t<(first + i) % topics>. */
  first: number;
  index: number;
  srcBase: number;
  srcCount: number;
  drainTimeoutS: number;
  maxSeconds: number;
}

export class Subgen {
  readonly child: Child;
  readonly index: number;
  readonly conns: number;

  constructor(o: SubgenOptions) {
    this.index = o.index;
    this.conns = o.conns;
    const args = [
      ['--mode', o.mode],
      ['--proto', o.proto ?? 'line'],
      ['--port', o.port],
      ['--conns', o.conns],
      ['--topics', o.topics],
      ['--first', o.first],
      ['--index', o.index],
      ['--src-base', o.srcBase],
      ['--src-count', o.srcCount],
      ['--drain-timeout', o.drainTimeoutS],
      ['--max-seconds', o.maxSeconds],
    ].flatMap(([flag, value]) => [String(flag), String(value)]);
    this.child = new Child(`${o.mode}gen#${o.index}`, BINARY, args);
  }

  send(command: string): void {
    this.child.send(command);
  }

  event<T extends { event: string }>(name: string, timeoutMs: number): Promise<T> {
    return this.child.waitLine(
      `"${name}" event`,
      (line) => {
        if (!line.startsWith('{')) return undefined;
        const parsed = JSON.parse(line) as T;
        return parsed.event === name ? parsed : undefined;
      },
      timeoutMs,
    );
  }

  /** Subscriber: every connection open and confirmed (OK SUB line, or the SUBSCRIBE reply with --proto resp); throws on any error. */
  async subscribed(timeoutMs: number): Promise<SubscribedEvent> {
    const e = await this.event<SubscribedEvent>('subscribed', timeoutMs);
    if (e.errors > 0 || e.subscribed < this.conns) {
      throw new BenchFailure(`${this.child.name}: ${e.subscribed} of ${this.conns} subscribed, ${e.errors} errors (first: ${e.first_error})`);
    }
    return e;
  }

  /** Publisher: every connection open; returns their local ports. */
  async connected(timeoutMs: number): Promise<PubConnectedEvent> {
    const e = await this.event<PubConnectedEvent>('connected', timeoutMs);
    if (e.errors > 0) throw new BenchFailure(`${this.child.name}: ${e.errors} errors while connecting (first: ${e.first_error})`);
    return e;
  }

  /** The last line and the exit; a non-zero exit is reported by the caller from the counts, not thrown. */
  async result(timeoutMs: number): Promise<ResultEvent> {
    const result = await this.event<ResultEvent>('result', timeoutMs);
    await this.child.exited;
    return result;
  }
}

/** Splits `total` connections over `processes` as evenly as possible. */
export function split(total: number, processes: number): number[] {
  const base = Math.floor(total / processes);
  return Array.from({ length: processes }, (_, i) => base + (i < total % processes ? 1 : 0));
}
