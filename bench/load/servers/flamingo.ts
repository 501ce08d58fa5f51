// Flamingo under test: 2 I/O workers (reusePort listeners, rings), the
// events consumed on the main thread. Echo is the README's one-liner; in
// fanout mode the ids come from open/close events and a trigger sends one
// payload to all of them with sendMany (one copy per worker). In the ingest
// modes the main thread's data listener checksums every byte (ingest.ts):
// chunks as read (`framing: 'raw'`), or one event per line
// (`framing: 'delimiter'`, '\n' kept).
//
//   node bench/load/servers/flamingo.ts --mode echo|fanout|ingest-lines|ingest-chunks [--port 0] [--workers 2]
//                                       [--protocol websocket] [--tls]
//
// `--protocol websocket` echoes WebSocket messages (`protocol: 'websocket'`:
// the worker does the handshake and the framing, the data listener sees
// payloads); `--tls` terminates TLS in the I/O workers (`tls: { key, cert }`,
// a throwaway certificate made at start).
//
// FLAMINGO_ENTRY in the environment names another copy of the library's
// main entry to load (run.ts --flamingo-ref compiles a snapshot of a git
// ref there), so a tree being edited meanwhile does not change what is
// measured. Compiled to .js (build.ts), this file loads the compiled library.

import { pathToFileURL } from 'node:url';
import type * as Flamingo from '../../../src/main/index.ts';
import { IngestSum, countNow, ingestChunk, ingestLine, ingestReply, printCount } from './ingest.ts';
import {
  announceReady,
  exitOnStop,
  fanoutPayload,
  isTls,
  isWebSocket,
  onStdinLine,
  parseServerArgs,
  reportStats,
  testCertificate,
  triggerRound,
} from './protocol.ts';

const ownEntry = new URL(`../../../src/main/index.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url).href;
const entry = process.env.FLAMINGO_ENTRY ? pathToFileURL(process.env.FLAMINGO_ENTRY).href : ownEntry;
const { listen } = (await import(entry)) as typeof Flamingo;
const args = parseServerArgs('flamingo');
const lines = args.mode === 'ingest-lines';
const framing = isWebSocket(args.transport) ? { protocol: 'websocket' as const } : { framing: lines ? ('delimiter' as const) : ('raw' as const) };
const tls = isTls(args.transport) ? { tls: testCertificate() } : {};
const server = await listen({ host: '127.0.0.1', port: args.port, workers: args.workers, ...framing, ...tls });

if (args.mode === 'echo') {
  server.on('data', (id, data) => server.send(id, data));
} else if (args.mode === 'ingest-lines' || args.mode === 'ingest-chunks') {
  const sums = new Map<number, IngestSum>();
  const sumOf = (id: number): IngestSum => {
    let sum = sums.get(id);
    if (sum === undefined) sums.set(id, (sum = new IngestSum()));
    return sum;
  };
  server.on('close', (id) => sums.delete(id));
  if (lines) {
    server.on('data', (id, line) => {
      const sum = sumOf(id);
      if (ingestLine(sum, line)) server.send(id, ingestReply(sum));
    });
  } else {
    server.on('data', (id, chunk) => {
      const sum = sumOf(id);
      if (ingestChunk(sum, chunk)) server.send(id, ingestReply(sum));
    });
  }
  onStdinLine((line) => {
    if (line === 'count') printCount([countNow()]);
  });
} else {
  // Every open id, kept dense for sendMany: a close moves the last id into its place.
  const ids: number[] = [];
  const indexOf = new Map<number, number>();
  server.on('open', (id) => {
    indexOf.set(id, ids.length);
    ids.push(id);
  });
  server.on('close', (id) => {
    const at = indexOf.get(id)!;
    const last = ids.pop()!;
    if (last !== id) {
      ids[at] = last;
      indexOf.set(last, at);
    }
    indexOf.delete(id);
  });
  server.on('data', (id, data) => {
    const round = triggerRound(data);
    if (round < 0) server.send(id, data);
    else server.sendMany(ids, fanoutPayload(round, args.fanoutBytes));
  });
}

announceReady(server.port);
exitOnStop(async () => {
  // Every total stats() has (its fields change as the library grows), and each worker's ring high-water mark.
  const { workers, ...totals } = server.stats();
  const report = await server.shutdown({ drainMs: 2000 });
  reportStats({ ...totals, eventRingHighWater: workers.map((w) => w.eventRingHighWater), abandonedBytes: report.abandonedBytes });
});
