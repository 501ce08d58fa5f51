// Prometheus exposition through prom-client, an optional peer dependency:
// registerMetrics() adds Flamingo's figures to a registry the application
// already scrapes, and serveMetrics() answers GET /metrics over HTTP (the
// metricsPort option). Every value is read from server.stats() at scrape
// time, from shared memory, so metrics cost the data path nothing. The
// per-worker metrics are the STATS entries of stats.ts, one metric each.

import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FlamingoError } from '../shared/errors.ts';
import { CLOSE_REASONS } from '../shared/records.ts';
import { STATS, type StatDescriptor, statValue } from '../shared/stats.ts';
import type { ServerStats, StatsSource } from './server-types.ts';
import { ROUTING_STATS } from './cluster/routing-stats.ts';

type PromClient = typeof import('prom-client');
type Registry = import('prom-client').Registry;

async function loadPromClient(): Promise<PromClient> {
  try {
    return await import('prom-client');
  } catch {
    throw new FlamingoError('ERR_FLAMINGO_METRICS', 'Prometheus metrics need the optional peer dependency prom-client: npm install prom-client');
  }
}

const DEFAULT_PREFIX = 'flamingo_';

/** The one server-wide metric; every per-worker metric comes from a STATS entry. */
const WORKERS = { metric: 'workers', help: 'I/O worker threads.', type: 'gauge' } as const;

/** Routing's own figures beyond its counters: the node number and whether its lease is held. */
const NODE = { metric: 'node', help: "This server's node number.", type: 'gauge' } as const;
const LEASE = {
  metric: 'lease_held',
  help: "1 while this node holds its node number's lease in Redis; 0 when lost or without cluster.",
  type: 'gauge',
} as const;

/** The metric names registerMetrics() adds, without the prefix. */
export const METRIC_NAMES = [...STATS.map((stat) => stat.metric), WORKERS.metric, ...ROUTING_STATS.map((stat) => stat.metric), NODE.metric, LEASE.metric];

function labelNames(stat: StatDescriptor): string[] {
  return stat.field !== 'event ring' && stat.byReason ? ['worker', 'reason'] : ['worker'];
}

/**
 * The metrics as the README's markdown table, `| metric | type |`, one
 * metric a row, in registration order, with `prefix` (default flamingo_).
 */
export function renderMetricsTable(prefix = DEFAULT_PREFIX): string {
  const rows = ['| metric | type |', '|---|---|'];
  for (const stat of STATS) {
    const more = labelNames(stat).filter((label) => label !== 'worker');
    const note = more.length === 0 ? '' : ` (also ${more.map((label) => `\`${label}\``).join(', ')})`;
    rows.push(`| \`${prefix}${stat.metric}\`${note} | ${stat.type} |`);
  }
  rows.push(`| \`${prefix}${WORKERS.metric}\` (no label) | ${WORKERS.type} |`);
  for (const stat of [...ROUTING_STATS, NODE, LEASE]) rows.push(`| \`${prefix}${stat.metric}\` (no label) | ${stat.type} |`);
  return `${rows.join('\n')}\n`;
}

/**
 * Registers Flamingo's metrics on `registry` (prom-client's global registry
 * when omitted). Each metric has a `worker` label; closes also a `reason`.
 */
export async function registerMetrics(server: StatsSource, registry?: Registry, prefix = DEFAULT_PREFIX): Promise<Registry> {
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
  for (const stat of STATS) {
    const Metric = stat.type === 'counter' ? prom.Counter : prom.Gauge;
    new Metric({
      name: prefix + stat.metric,
      help: stat.help,
      labelNames: labelNames(stat),
      registers: [target],
      collect(this: import('prom-client').Gauge | import('prom-client').Counter) {
        const stats = read();
        this.reset();
        for (const figures of stats.workers) {
          const worker = String(figures.worker);
          const value = statValue(figures, stat);
          if (typeof value === 'number') this.labels({ worker }).inc(value);
          else for (const reason of CLOSE_REASONS) this.labels({ worker, reason }).inc(value[reason]);
        }
      },
    });
  }
  new prom.Gauge({
    name: prefix + WORKERS.metric,
    help: WORKERS.help,
    registers: [target],
    collect() {
      this.set(read().workers.length);
    },
  });
  for (const stat of ROUTING_STATS) {
    const Metric = stat.type === 'counter' ? prom.Counter : prom.Gauge;
    new Metric({
      name: prefix + stat.metric,
      help: stat.help,
      registers: [target],
      collect(this: import('prom-client').Gauge | import('prom-client').Counter) {
        this.reset();
        this.inc(read().routing[stat.field]);
      },
    });
  }
  for (const [gauge, value] of [
    [NODE, (stats: ServerStats) => stats.routing.node],
    [LEASE, (stats: ServerStats) => (stats.routing.lease === 'held' ? 1 : 0)],
  ] as const) {
    new prom.Gauge({
      name: prefix + gauge.metric,
      help: gauge.help,
      registers: [target],
      collect() {
        this.set(value(read()));
      },
    });
  }
  return target;
}

/** Serves GET (and HEAD) /metrics for `server` on host:port; resolves with the HTTP server once it listens. */
export async function serveMetrics(server: StatsSource, host: string, port: number): Promise<HttpServer> {
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
