// A server under test in its own process (bench/load/servers/*.ts): start
// it, wait for its READY line, know its process tree, stop it cleanly.

import { fileURLToPath } from 'node:url';
import { Child, processTree, sleep } from './procs.ts';
import type { ConsumerCount } from './servers/ingest.ts';
import { SERVER_TRANSPORTS, type ServerKind, type ServerMode, type Transport, isTls, isWebSocket } from './servers/protocol.ts';

export type { ServerKind };
/** Every server under test (servers/<kind>.ts), in the order the tables show them. */
export const SERVER_KINDS = Object.keys(SERVER_TRANSPORTS) as ServerKind[];

/** The servers that speak `transport`. */
export function serversFor(transport: Transport): ServerKind[] {
  return SERVER_KINDS.filter((kind) => (SERVER_TRANSPORTS[kind] as readonly Transport[]).includes(transport));
}

const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const COUNT_TIMEOUT_MS = 10_000;

/** Ingest: what one consumer (the process, a cluster worker, a thread) had checksummed, and when. */
export interface IngestCount {
  consumer: string;
  bytes: number;
  tNs: bigint;
}

export interface StopReport {
  /** Exited 0 on SIGTERM within the grace period. */
  clean: boolean;
  code: number | null;
  signal: string | null;
  /** The server's STATS line, if it printed one (Flamingo's counters). */
  stats: unknown;
  stderr: string;
}

const SOURCES = fileURLToPath(new URL('./servers/', import.meta.url));

export class ServerProcess {
  /** Where the servers' files are: the compiled .js (run.ts compiles them first, build.ts says why) or, by default, the .ts sources. */
  static directory = SOURCES;
  readonly kind: ServerKind;
  readonly child: Child;
  port = 0;
  /** The server's pid and, for cluster, its workers' (fixed once READY). */
  pids: number[] = [];

  constructor(kind: ServerKind, mode: ServerMode, workers: number, transport: Transport, flamingoEntry?: string) {
    this.kind = kind;
    const file = `${ServerProcess.directory}${kind}.${ServerProcess.directory === SOURCES ? 'ts' : 'js'}`;
    const env = flamingoEntry === undefined ? process.env : { ...process.env, FLAMINGO_ENTRY: flamingoEntry };
    const args = [file, '--mode', mode, '--workers', String(workers)];
    if (isWebSocket(transport)) args.push('--protocol', 'websocket');
    if (isTls(transport)) args.push('--tls');
    this.child = new Child(`server:${kind}`, process.execPath, args, env);
  }

  /** `flamingoEntry`: another copy of the library's main entry for the Flamingo server (a snapshot of a git ref). */
  static async start(kind: ServerKind, mode: ServerMode, workers: number, transport: Transport, flamingoEntry?: string): Promise<ServerProcess> {
    const server = new ServerProcess(kind, mode, workers, transport, flamingoEntry);
    try {
      server.port = await server.child.waitLine('READY line', (line) => /^READY (\d+)$/.exec(line)?.[1] ?? undefined, READY_TIMEOUT_MS).then(Number);
      // Let start-up work (JIT of the first paths, worker spawn) settle before anyone samples it.
      await sleep(1000);
      server.pids = processTree(server.child.pid);
    } catch (error) {
      server.child.kill();
      throw error;
    }
    return server;
  }

  /** Ingest servers: each consumer's bytes checksummed so far, stamped in the consumer's thread. */
  async count(): Promise<IngestCount[]> {
    this.child.send('count');
    const counts = await this.child.waitLine(
      'COUNT line',
      (line) => (line.startsWith('COUNT ') ? (JSON.parse(line.slice(6)) as ConsumerCount[]) : undefined),
      COUNT_TIMEOUT_MS,
    );
    return counts.map(([consumer, bytes, t]) => ({ consumer, bytes, tNs: BigInt(t) }));
  }

  async stop(): Promise<StopReport> {
    const clean = await this.child.stop(STOP_GRACE_MS);
    const { code, signal } = await this.child.exited;
    const stats = await this.child
      .waitLine('STATS line', (line) => (line.startsWith('STATS ') ? (JSON.parse(line.slice(6)) as unknown) : undefined), 0)
      .catch(() => undefined);
    // A cluster worker left behind by its primary dies with the group.
    this.child.kill();
    return { clean: clean && code === 0, code, signal, stats, stderr: this.child.stderrTail() };
  }
}
