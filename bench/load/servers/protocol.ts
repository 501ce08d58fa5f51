// What every server under test shares with the load generator
// (bench/load/loadgen.c) and the orchestrator (bench/load/run.ts): the
// command line, the READY line, the fan-out byte patterns, and a clean stop.
//
// A server is an echo server in both modes. In fanout mode one thing more:
// a chunk of exactly TRIGGER_BYTES starting with TRIGGER_MAGIC is not echoed
// but starts a broadcast round: fanoutPayload(round) goes to every
// connection the server holds (the control connection too). The load
// generator sends its trigger as one 8-byte write on an idle connection, so
// on loopback it arrives as one chunk; an echo message is at least 16 bytes
// and starts with a connection number, never with the magic.
//
// The ingest modes (ingest-lines, ingest-chunks) are not echo servers: see
// ingest.ts. Their servers answer "count" on stdin (onStdinLine).

import { parseArgs } from 'node:util';

/** "TRIG" little-endian: loadgen.c TRIGGER_MAGIC. */
export const TRIGGER_MAGIC = 0x47495254;
export const TRIGGER_BYTES = 8;
/** "FLMG" little-endian: loadgen.c FANOUT_MAGIC. */
export const FANOUT_MAGIC = 0x474d4c46;

export const SERVER_MODES = ['echo', 'fanout', 'ingest-lines', 'ingest-chunks'] as const;
export type ServerMode = (typeof SERVER_MODES)[number];

export interface ServerArgs {
  mode: ServerMode;
  port: number;
  workers: number;
  fanoutBytes: number;
}

export function parseServerArgs(): ServerArgs {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'echo' },
      port: { type: 'string', default: '0' },
      workers: { type: 'string', default: '2' },
      'fanout-bytes': { type: 'string', default: '64' },
    },
    strict: true,
  });
  const mode = values.mode as ServerMode;
  if (!SERVER_MODES.includes(mode)) throw new Error(`--mode must be one of ${SERVER_MODES.join(', ')}; got ${values.mode}`);
  return {
    mode,
    port: Number(values.port),
    workers: Number(values.workers),
    fanoutBytes: Number(values['fanout-bytes']),
  };
}

/** The round a chunk triggers, or -1 when it is an ordinary message to echo. */
export function triggerRound(chunk: Uint8Array): number {
  if (chunk.length !== TRIGGER_BYTES) return -1;
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return view.getUint32(0, true) === TRIGGER_MAGIC ? view.getUint32(4, true) : -1;
}

/** One round's broadcast: loadgen.c fanout_payload(). */
export function fanoutPayload(round: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  out.writeUInt32LE(round >>> 0, 0);
  out.writeUInt32LE(FANOUT_MAGIC, 4);
  for (let i = 8; i < size; i++) out[i] = (round * 131 + i * 29 + (round >>> 8)) & 0xff;
  return out;
}

/** The line the orchestrator waits for. */
export function announceReady(port: number): void {
  process.stdout.write(`READY ${port}\n`);
}

/** A line of facts the orchestrator stores next to the run's figures. */
export function reportStats(stats: unknown): void {
  process.stdout.write(`STATS ${JSON.stringify(stats)}\n`);
}

/** Calls `handler` with each line the orchestrator writes to stdin (besides its end, which exitOnStop watches). */
export function onStdinLine(handler: (line: string) => void): void {
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (text: string) => {
    pending += text;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line !== '') handler(line);
    }
  });
}

/**
 * Runs `stop` once on SIGTERM, SIGINT or the end of stdin (the orchestrator
 * holds stdin open: its end means the orchestrator is gone), then exits 0;
 * a stop that hangs or throws exits non-zero, so the orchestrator sees it.
 */
export function exitOnStop(stop: () => Promise<void> | void, graceMs = 8000): void {
  let stopping = false;
  const run = (why: string): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      process.stderr.write(`server did not stop within ${graceMs} ms after ${why}\n`);
      process.exit(3);
    }, graceMs).unref();
    Promise.resolve()
      .then(stop)
      .then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`stop failed: ${String(error)}\n`);
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => run('SIGTERM'));
  process.once('SIGINT', () => run('SIGINT'));
  process.stdin.on('end', () => run('end of stdin'));
  process.stdin.on('error', () => run('stdin error'));
  process.stdin.resume();
}
