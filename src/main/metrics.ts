// Prometheus exposition through prom-client, an optional peer dependency:
// registerMetrics() adds Flamingo's figures to a registry the application
// already scrapes, and serveMetrics() answers GET /metrics over HTTP (the
// metricsPort option). Every value is read from server.stats() at scrape
// time, from shared memory, so metrics cost the data path nothing.

import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FlamingoError } from '../shared/errors.ts';
import { CLOSE_REASONS } from '../shared/records.ts';
import type { WorkerStats } from '../shared/stats.ts';
import type { Server, ServerStats } from './server.ts';

type PromClient = typeof import('prom-client');
type Registry = import('prom-client').Registry;

async function loadPromClient(): Promise<PromClient> {
  try {
    return await import('prom-client');
  } catch {
    throw new FlamingoError(
      'ERR_FLAMINGO_METRICS',
      'Prometheus metrics need the optional peer dependency prom-client: npm install prom-client',
    );
  }
}

interface Mirrored {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  value: (worker: WorkerStats, all: ServerStats) => number;
}

const PER_WORKER: Mirrored[] = [
  { name: 'connections', help: 'Connections open now.', type: 'gauge', value: (w) => w.connections },
  { name: 'connections_opened_total', help: 'Connections opened (delivered as open events).', type: 'counter', value: (w) => w.opened },
  { name: 'connections_rejected_total', help: 'Connections accepted and closed at once by maxConnections or maxConnectionsPerWorker.', type: 'counter', value: (w) => w.rejected },
  { name: 'received_bytes_total', help: 'Bytes read from clients.', type: 'counter', value: (w) => w.bytesIn },
  { name: 'sent_bytes_total', help: 'Bytes written to client sockets.', type: 'counter', value: (w) => w.bytesOut },
  { name: 'received_frames_total', help: 'Frames delivered as data events.', type: 'counter', value: (w) => w.framesIn },
  { name: 'sends_total', help: 'Sends written to a socket (a sendMany counts once per connection).', type: 'counter', value: (w) => w.sends },
  { name: 'stale_sends_total', help: 'Sends and closes for ids whose connection is gone.', type: 'counter', value: (w) => w.staleSends },
  { name: 'dropped_sends_total', help: "Sends dropped by the slowConsumer 'drop' policy.", type: 'counter', value: (w) => w.droppedSends },
  { name: 'truncated_frames_total', help: 'Connections that closed with an incomplete frame (discarded).', type: 'counter', value: (w) => w.truncatedFrames },
  { name: 'abandoned_bytes_total', help: 'Bytes never written because a closing socket outlived closeTimeoutMs or drainMs.', type: 'counter', value: (w) => w.abandonedBytes },
  { name: 'paused_reads_total', help: 'Times a socket stopped reading because the event ring was full.', type: 'counter', value: (w) => w.pausedReads },
  { name: 'event_ring_used_bytes', help: 'Bytes in the worker event ring now.', type: 'gauge', value: (w) => w.eventRingUsed },
  { name: 'event_ring_high_water_bytes', help: 'Most bytes seen in the worker event ring.', type: 'gauge', value: (w) => w.eventRingHighWater },
  { name: 'stash_high_water_bytes', help: 'Most bytes the worker held back while its event ring was full.', type: 'gauge', value: (w) => w.stashHighWater },
  { name: 'buffered_out_bytes', help: 'Bytes written to sockets not yet taken by the kernel (sampled each second).', type: 'gauge', value: (w) => w.bufferedOut },
  { name: 'event_loop_utilization', help: 'Event-loop utilisation of the I/O worker over the last second (0 to 1).', type: 'gauge', value: (w) => w.eventLoopUtilization },
  { name: 'worker_restarts_total', help: 'Times the I/O worker was replaced after its thread died.', type: 'counter', value: (w) => w.restarts },
];

/** The metric names registerMetrics() adds, without the prefix. */
export const METRIC_NAMES = [...PER_WORKER.map((m) => m.name), 'connections_closed_total', 'workers'];

/**
 * Registers Flamingo's metrics on `registry` (prom-client's global registry
 * when omitted). Each metric has a `worker` label; closes also a `reason`.
 */
export async function registerMetrics(server: Server, registry?: Registry, prefix = 'flamingo_'): Promise<Registry> {
  const prom = await loadPromClient();
  const target = registry ?? prom.register;
  let snapshot: ServerStats | undefined;
  let snapshotAt = -1;
  // One stats() read per scrape, shared by every metric.
  const read = (): ServerStats => {
    const now = performance.now();
    if (snapshot === undefined || now - snapshotAt > 50) {
      snapshot = server.stats();
      snapshotAt = now;
    }
    return snapshot;
  };
  for (const metric of PER_WORKER) {
    const Metric = metric.type === 'counter' ? prom.Counter : prom.Gauge;
    new Metric({
      name: prefix + metric.name,
      help: metric.help,
      labelNames: ['worker'],
      registers: [target],
      collect(this: import('prom-client').Gauge<'worker'> | import('prom-client').Counter<'worker'>) {
        const stats = read();
        this.reset();
        for (const worker of stats.workers) this.labels({ worker: String(worker.worker) }).inc(metric.value(worker, stats));
      },
    });
  }
  new prom.Counter({
    name: `${prefix}connections_closed_total`,
    help: 'Connections closed, by worker and close reason.',
    labelNames: ['worker', 'reason'],
    registers: [target],
    collect() {
      const stats = read();
      this.reset();
      for (const worker of stats.workers) {
        for (const reason of CLOSE_REASONS) this.labels({ worker: String(worker.worker), reason }).inc(worker.closed[reason]);
      }
    },
  });
  new prom.Gauge({
    name: `${prefix}workers`,
    help: 'I/O worker threads.',
    registers: [target],
    collect() {
      this.set(read().workers.length);
    },
  });
  return target;
}

/** Serves GET (and HEAD) /metrics for `server` on host:port; resolves with the HTTP server once it listens. */
export async function serveMetrics(server: Server, host: string, port: number): Promise<HttpServer> {
  const prom = await loadPromClient();
  const registry = new prom.Registry();
  await registerMetrics(server, registry);
  const http = createServer((request, response) => {
    // HEAD is GET without the body (Node's response leaves the body out).
    if ((request.method !== 'GET' && request.method !== 'HEAD') || (request.url !== '/metrics' && !request.url?.startsWith('/metrics?'))) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen({ host, port }, () => {
      http.off('error', reject);
      resolve();
    });
  });
  return http;
}

export function boundPort(http: HttpServer): number {
  return (http.address() as AddressInfo).port;
}
