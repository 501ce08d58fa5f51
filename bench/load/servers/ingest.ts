// Ingestion, the servers' side (loadgen.c --mode ingest): clients stream
// data one way and the server reads every byte, computing a checksum per
// connection, and replies nothing while data flows. The byte 0xFF never
// occurs in the data; a connection sends it as a marker (with lines, the
// line "\xFF\n") when it opens and when it is done, and the server answers a
// marker with its totals for that connection: 24 bytes, "SUMS", lines,
// bytes (low and high 32 bits), checksum a and s (ingestSum). The load
// generator compares them with what it sent, so a server that loses, adds or
// reorders bytes fails the run.
//
// Two shapes: 'ingest-chunks' (the data as it is read; the marker is the last
// byte of the stream, hence of a read) and 'ingest-lines' (64-byte lines, each
// one a message: Flamingo frames them with `framing: 'delimiter'`, the
// baselines split the chunks they read at '\n').
//
// The orchestrator measures throughput from the server's side: on "count"
// (a line on stdin) a server prints `COUNT [["consumer", bytes, "ns"], ...]`:
// for each consumer (the process, or each cluster worker or thread), the bytes
// it has checksummed so far and when (CLOCK_MONOTONIC, as a decimal string),
// read in the consumer's own thread.

import type { Socket } from 'node:net';
import { threadId } from 'node:worker_threads';

/** loadgen.c INGEST_MARKER. */
export const INGEST_MARKER = 0xff;
/** "SUMS" little-endian: loadgen.c INGEST_MAGIC. */
export const INGEST_MAGIC = 0x534d5553;
export const INGEST_REPLY_BYTES = 24;
const LF = 0x0a;

/** One connection's totals. */
export class IngestSum {
  a = 0;
  s = 0;
  bytes = 0;
  lines = 0;
  /** Lines: the next byte starts a line; inside the marker line. */
  atLineStart = true;
  inMarker = false;
}

/** What this process or thread has checksummed, all connections together. */
export const consumed = { bytes: 0 };

/**
 * Adds bytes [start, end) to a connection's checksum: a = sum of the bytes,
 * s = sum of a after each byte, both mod 2^32 (loadgen.c ingest_add).
 */
export function ingestSum(sum: IngestSum, bytes: Uint8Array, start: number, end: number): void {
  let a = sum.a;
  let s = sum.s;
  for (let i = start; i < end; i++) {
    a = (a + bytes[i]!) | 0;
    s = (s + a) | 0;
  }
  sum.a = a;
  sum.s = s;
  sum.bytes += end - start;
  consumed.bytes += end - start;
}

/** The answer to a marker. */
export function ingestReply(sum: IngestSum): Buffer {
  const out = Buffer.allocUnsafe(INGEST_REPLY_BYTES);
  out.writeUInt32LE(INGEST_MAGIC, 0);
  out.writeUInt32LE(sum.lines >>> 0, 4);
  out.writeUInt32LE(sum.bytes % 2 ** 32, 8);
  out.writeUInt32LE(Math.floor(sum.bytes / 2 ** 32), 12);
  out.writeUInt32LE(sum.a >>> 0, 16);
  out.writeUInt32LE(sum.s >>> 0, 20);
  return out;
}

/**
 * Chunks: checksums a chunk as read; returns true when it ended with the
 * marker (the client then waits for the reply, so the marker is always the
 * last byte of a read).
 */
export function ingestChunk(sum: IngestSum, chunk: Uint8Array): boolean {
  const n = chunk.length;
  if (n > 0 && chunk[n - 1] === INGEST_MARKER) {
    ingestSum(sum, chunk, 0, n - 1);
    return true;
  }
  ingestSum(sum, chunk, 0, n);
  return false;
}

/** Lines, one whole line (its '\n' included) as Flamingo's delimiter framing delivers it: true for the marker line. */
export function ingestLine(sum: IngestSum, line: Uint8Array): boolean {
  if (line[0] === INGEST_MARKER) return true;
  ingestSum(sum, line, 0, line.length);
  sum.lines++;
  return false;
}

/**
 * Lines, from chunks as read (the baselines' hand-written splitter): each
 * line found with indexOf and checksummed where it lies, a line cut by the
 * chunk's end carried over as state, not copied. Calls `reply` once per
 * marker line.
 */
export function ingestLinesFromChunk(sum: IngestSum, chunk: Uint8Array, reply: () => void): void {
  const n = chunk.length;
  let pos = 0;
  while (pos < n) {
    const nl = chunk.indexOf(LF, pos);
    const end = nl < 0 ? n : nl + 1;
    if (sum.atLineStart && chunk[pos] === INGEST_MARKER) sum.inMarker = true;
    if (sum.inMarker) {
      if (nl >= 0) {
        sum.inMarker = false;
        reply();
      }
    } else {
      ingestSum(sum, chunk, pos, end);
      if (nl >= 0) sum.lines++;
    }
    sum.atLineStart = nl >= 0;
    pos = end;
  }
}

/** A plain `net` socket ingesting: the baselines' connection handler. */
export function ingestSocket(socket: Socket, lines: boolean): void {
  const sum = new IngestSum();
  if (lines) {
    const reply = (): void => {
      socket.write(ingestReply(sum));
    };
    socket.on('data', (chunk: Buffer) => ingestLinesFromChunk(sum, chunk, reply));
  } else {
    socket.on('data', (chunk: Buffer) => {
      if (ingestChunk(sum, chunk)) socket.write(ingestReply(sum));
    });
  }
}

/** One consumer's count: its name, bytes checksummed so far, and CLOCK_MONOTONIC ns (a decimal string). */
export type ConsumerCount = [string, number, string];

/** This consumer's count, now. */
export function countNow(): ConsumerCount {
  return [`${process.pid}/${threadId}`, consumed.bytes, String(process.hrtime.bigint())];
}

/** The line the orchestrator waits for after "count". */
export function printCount(counts: ConsumerCount[]): void {
  process.stdout.write(`COUNT ${JSON.stringify(counts)}\n`);
}
