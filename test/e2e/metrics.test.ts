import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { METRIC_NAMES, type Server, listen, registerMetrics } from '../../src/main/index.ts';
import { closeAll, connectMany, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A small parser for the Prometheus text format: TYPE lines and samples. */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
    } else if (line !== '' && !line.startsWith('#')) {
      const match = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
      if (match === null) throw new Error(`not an exposition line: ${line}`);
      const labels: Record<string, string> = {};
      for (const pair of (match[2] ?? '').split(',').filter(Boolean)) {
        const [key, quoted] = pair.split('=');
        labels[key!] = JSON.parse(quoted!);
      }
      samples.push({ name: match[1]!, labels, value: Number(match[3]) });
    }
  }
  return { types, samples };
}

function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

describe('Prometheus metrics', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('metricsPort serves /metrics over HTTP with every documented metric, its type and the right values', async () => {
    const s = (server = await listen({ port: 0, workers: 2, metricsPort: 0 }));
    expect(s.metricsPort).toBeGreaterThan(0);
    const recorder = new EventRecorder(s, { echo: true });
    const sockets = await connectMany(s.port, 20);
    await waitFor(() => recorder.opened.size === 20, 5000, 'opens');
    for (const socket of sockets) socket.write('ping');
    await waitFor(() => s.stats().bytesOut === 80, 5000, 'echoes');
    await closeAll(sockets.slice(0, 5));
    await waitFor(() => recorder.closed.size === 5, 5000, 'closes');

    const response = await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const { types, samples } = parseExposition(await response.text());
    for (const name of METRIC_NAMES) {
      const full = `flamingo_${name}`;
      expect(types.get(full), full).toBe(name.endsWith('_total') ? 'counter' : 'gauge');
    }
    expect(total(samples, 'flamingo_connections')).toBe(15);
    expect(total(samples, 'flamingo_connections_opened_total')).toBe(20);
    expect(total(samples, 'flamingo_connections_closed_total', { reason: 'peer' })).toBe(5);
    expect(total(samples, 'flamingo_received_bytes_total')).toBe(80);
    expect(total(samples, 'flamingo_sent_bytes_total')).toBe(80);
    expect(total(samples, 'flamingo_workers')).toBe(2);
    expect(new Set(samples.filter((x) => x.name === 'flamingo_connections').map((x) => x.labels.worker))).toEqual(new Set(['0', '1']));
    expect((await fetch(`http://127.0.0.1:${s.metricsPort}/other`)).status).toBe(404);
    for (const socket of sockets) socket.destroy();
  });

  it('HEAD /metrics answers as GET does, without the body', async () => {
    const s = (server = await listen({ port: 0, workers: 1, metricsPort: 0 }));
    const head = await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await head.text()).toBe('');
    expect((await fetch(`http://127.0.0.1:${s.metricsPort}/other`, { method: 'HEAD' })).status).toBe(404);
  });

  it('registerMetrics adds the same metrics to an application registry', async () => {
    const s = (server = await listen({ port: 0, workers: 1 }));
    const registry = new Registry();
    await registerMetrics(s, registry, 'edge_');
    const { types, samples } = parseExposition(await registry.metrics());
    expect(types.get('edge_connections_opened_total')).toBe('counter');
    expect(total(samples, 'edge_workers')).toBe(1);
  });

  it('a bad metricsPort is refused with its name', async () => {
    await expect(listen({ port: 0, metricsPort: 70000 })).rejects.toMatchObject({ code: 'ERR_FLAMINGO_INVALID_OPTION' });
  });
});
