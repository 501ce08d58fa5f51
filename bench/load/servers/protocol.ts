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
//
// Transports: `--protocol websocket` (every message one WebSocket message,
// echoed as it came) and `--tls` (a throwaway self-signed certificate made at
// start, testCertificate). Which server speaks which is SERVER_TRANSPORTS,
// read by the orchestrator to refuse a plan no server can run and by each
// server to refuse flags it cannot honour.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** "TRIG" little-endian: loadgen.c TRIGGER_MAGIC. */
export const TRIGGER_MAGIC = 0x47495254;
export const TRIGGER_BYTES = 8;
/** "FLMG" little-endian: loadgen.c FANOUT_MAGIC. */
export const FANOUT_MAGIC = 0x474d4c46;

export const SERVER_MODES = ['echo', 'fanout', 'ingest-lines', 'ingest-chunks'] as const;
export type ServerMode = (typeof SERVER_MODES)[number];

/** What the bytes between client and server are: plain TCP, TLS, WebSocket (`ws`), WebSocket over TLS (`wss`). */
export const TRANSPORTS = ['tcp', 'tls', 'ws', 'wss'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export function transportOf(websocket: boolean, tls: boolean): Transport {
  return websocket ? (tls ? 'wss' : 'ws') : tls ? 'tls' : 'tcp';
}

export function isWebSocket(transport: Transport): boolean {
  return transport === 'ws' || transport === 'wss';
}

export function isTls(transport: Transport): boolean {
  return transport === 'tls' || transport === 'wss';
}

/** The transports each server under test speaks (bench/load/servers/<kind>.ts); the WebSocket ones echo only. */
export const SERVER_TRANSPORTS = {
  flamingo: TRANSPORTS,
  net: ['tcp'],
  cluster: ['tcp'],
  threads: ['tcp'],
  ws: ['ws', 'wss'],
  'ws-cluster': ['ws', 'wss'],
  'tls-echo': ['tls'],
} as const satisfies Record<string, readonly Transport[]>;
export type ServerKind = keyof typeof SERVER_TRANSPORTS;

export interface ServerArgs {
  mode: ServerMode;
  port: number;
  workers: number;
  fanoutBytes: number;
  transport: Transport;
}

/**
 * The command line of a server under test. `kind` names the server, so a
 * transport it does not speak is refused; without it, plain TCP only.
 */
export function parseServerArgs(kind?: ServerKind): ServerArgs {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'echo' },
      port: { type: 'string', default: '0' },
      workers: { type: 'string', default: '2' },
      'fanout-bytes': { type: 'string', default: '64' },
      protocol: { type: 'string', default: 'raw' },
      tls: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const mode = values.mode as ServerMode;
  if (!SERVER_MODES.includes(mode)) throw new Error(`--mode must be one of ${SERVER_MODES.join(', ')}; got ${values.mode}`);
  if (values.protocol !== 'raw' && values.protocol !== 'websocket') throw new Error(`--protocol must be raw or websocket; got ${values.protocol}`);
  const transport = transportOf(values.protocol === 'websocket', values.tls);
  const speaks: readonly Transport[] = kind === undefined ? ['tcp'] : SERVER_TRANSPORTS[kind];
  if (!speaks.includes(transport)) throw new Error(`${kind ?? 'this server'} speaks ${speaks.join(', ')}, not ${transport}`);
  if (isWebSocket(transport) && mode !== 'echo') throw new Error(`over WebSocket the servers only echo; got --mode ${mode}`);
  return {
    mode,
    port: Number(values.port),
    workers: Number(values.workers),
    fanoutBytes: Number(values['fanout-bytes']),
    transport,
  };
}

/**
 * A throwaway self-signed certificate (ECDSA P-256, for 127.0.0.1), made with
 * `openssl req` in a temporary directory that is removed again: the load
 * generator checks no certificate, and a fresh one per run keeps keys out of
 * the tree.
 */
export function testCertificate(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'flamingo-bench-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const subject = ['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2'];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, ...subject], {
      stdio: 'pipe',
    });
    return { key: readFileSync(key), cert: readFileSync(cert) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
