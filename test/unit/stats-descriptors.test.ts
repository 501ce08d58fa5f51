import { describe, expect, it } from 'vitest';
import { METRIC_NAMES, renderMetricsTable } from '../../src/main/metrics.ts';
import { CLOSE_REASONS } from '../../src/shared/records.ts';
import { STATS, StatField, createStatsStorage, readStats, renderStatsFields, statsView, sumTotals } from '../../src/shared/stats.ts';

/** Every metric Flamingo exposes, with its Prometheus type: the public surface the descriptor list must keep. */
const EXPOSED: Record<string, 'counter' | 'gauge'> = {
  connections: 'gauge',
  connections_opened_total: 'counter',
  connections_rejected_total: 'counter',
  connections_closed_total: 'counter',
  received_bytes_total: 'counter',
  sent_bytes_total: 'counter',
  received_frames_total: 'counter',
  sends_total: 'counter',
  stale_sends_total: 'counter',
  dropped_sends_total: 'counter',
  paused_reads_total: 'counter',
  truncated_frames_total: 'counter',
  abandoned_bytes_total: 'counter',
  accept_errors_total: 'counter',
  protocol_errors_total: 'counter',
  connections_closed_before_open_total: 'counter',
  tls_handshake_errors_total: 'counter',
  closing_connections: 'gauge',
  event_ring_used_bytes: 'gauge',
  event_ring_high_water_bytes: 'gauge',
  stash_high_water_bytes: 'gauge',
  buffered_out_bytes: 'gauge',
  event_loop_utilization: 'gauge',
  worker_restarts_total: 'counter',
  workers: 'gauge',
  routed_out_total: 'counter',
  routed_out_bytes_total: 'counter',
  routed_in_total: 'counter',
  routed_in_bytes_total: 'counter',
  publishes_total: 'counter',
  publishes_in_total: 'counter',
  topics: 'gauge',
  topic_subscriptions: 'gauge',
  route_undeliverable_total: 'counter',
  route_dropped_total: 'counter',
  route_invalid_total: 'counter',
  redis_reconnects_total: 'counter',
  node: 'gauge',
  lease_held: 'gauge',
};

/** A stats block whose every word holds a distinct value, so a misread field shows. */
function numberedBlock(): Float64Array {
  const counters = statsView(createStatsStorage());
  for (let word = 0; word < counters.length; word++) counters[word] = 1000 + word;
  return counters;
}

describe('the stats descriptor list', () => {
  it('names every metric exposed today, each with its type, and nothing else', () => {
    expect([...METRIC_NAMES].sort()).toEqual(Object.keys(EXPOSED).sort());
    for (const stat of STATS) expect(stat.type, stat.metric).toBe(EXPOSED[stat.metric]);
  });

  it('gives each figure its own WorkerStats key, metric and word', () => {
    const keys = STATS.map((stat) => stat.key);
    const metrics = STATS.map((stat) => stat.metric);
    const fields = STATS.map((stat) => stat.field);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(metrics).size).toBe(metrics.length);
    expect(new Set(fields).size).toBe(fields.length);
  });

  it('readStats reads each figure from its own word, closes by reason, and the event ring fill as given', () => {
    const counters = numberedBlock();
    const stats = readStats(3, counters, 4096);
    expect(Object.keys(stats)).toEqual(['worker', ...STATS.map((stat) => stat.key)]);
    expect(stats.worker).toBe(3);
    expect(stats.eventRingUsed).toBe(4096);
    expect(stats.opened).toBe(1000 + StatField.OPENED);
    expect(stats.bufferedOut).toBe(1000 + StatField.BUFFERED_OUT);
    expect(stats.restarts).toBe(1000 + StatField.RESTARTS);
    CLOSE_REASONS.forEach((reason, code) => {
      const word = reason === 'worker-exit' ? StatField.WORKER_EXIT_CLOSES : StatField.CLOSED_BASE + code;
      expect(stats.closed[reason], reason).toBe(1000 + word);
    });
  });

  it('sumTotals adds up every figure marked with a total, closes reason by reason, under the ServerStats names', () => {
    const a = readStats(0, numberedBlock(), 10);
    const b = readStats(1, numberedBlock(), 20);
    const totals = sumTotals([a, b]);
    expect(totals.opened).toBe(2 * (1000 + StatField.OPENED));
    expect(totals.workerRestarts).toBe(2 * (1000 + StatField.RESTARTS));
    expect(totals.closed['worker-exit']).toBe(2 * (1000 + StatField.WORKER_EXIT_CLOSES));
    expect(Object.keys(totals).sort()).toEqual(
      [
        'connections',
        'opened',
        'rejected',
        'closed',
        'bytesIn',
        'bytesOut',
        'framesIn',
        'sends',
        'staleSends',
        'droppedSends',
        'pausedReads',
        'truncatedFrames',
        'abandonedBytes',
        'acceptErrors',
        'protocolErrors',
        'closedBeforeOpen',
        'tlsHandshakeErrors',
        'closing',
        'workerRestarts',
      ].sort(),
    );
  });

  it('renders the metric table with one row per metric, its type and its extra labels', () => {
    const table = renderMetricsTable();
    const rows = table.trimEnd().split('\n');
    expect(rows.slice(0, 2)).toEqual(['| metric | type |', '|---|---|']);
    expect(rows.length).toBe(2 + METRIC_NAMES.length);
    for (const name of METRIC_NAMES) {
      expect(
        rows.some((row) => row.startsWith(`| \`flamingo_${name}\``) && row.endsWith(`| ${EXPOSED[name]} |`)),
        name,
      ).toBe(true);
    }
    expect(rows).toContain('| `flamingo_connections_closed_total` (also `reason`) | counter |');
    expect(rows).toContain('| `flamingo_workers` (no label) | gauge |');
    expect(renderMetricsTable('edge_')).toContain('`edge_sends_total`');
  });

  it('renders the per-worker fields with their meanings and the totals they go to', () => {
    const rows = renderStatsFields().trimEnd().split('\n');
    expect(rows.length).toBe(2 + 1 + STATS.length);
    for (const stat of STATS)
      expect(
        rows.some((row) => row.startsWith(`| \`${stat.key}\``) && row.includes(stat.help)),
        stat.key,
      ).toBe(true);
    expect(rows).toContain('| `restarts` | Times the I/O worker was replaced after its thread died. | `workerRestarts` |');
  });
});
