// The cluster option and node 'auto': checked like every other option, with
// a coded error naming the key and what it accepts.

import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../../src/shared/options.ts';

function code(options: object): string | undefined {
  try {
    resolveOptions(options as never);
    return undefined;
  } catch (error) {
    return `${(error as { code: string }).code}: ${(error as Error).message}`;
  }
}

describe('the cluster option', () => {
  it('is off by default: no Redis, node 0', () => {
    const o = resolveOptions({});
    expect(o.cluster).toBeNull();
    expect(o.node).toBe(0);
  });

  it('resolves its defaults; an array of URLs is a Redis Cluster', () => {
    expect(resolveOptions({ cluster: { redis: 'redis://127.0.0.1:6379' } }).cluster).toEqual({
      redis: ['redis://127.0.0.1:6379'],
      redisCluster: false,
      prefix: 'flamingo',
      leaseMs: 5000,
      routeBufferBytes: 16 * 1024 * 1024,
      autoNode: false,
    });
    const o = resolveOptions({ node: 'auto', cluster: { redis: ['redis://a:1', 'rediss://:pw@b:2'], prefix: 'app:x', leaseMs: 900 } });
    expect(o.cluster).toMatchObject({ redis: ['redis://a:1', 'rediss://:pw@b:2'], redisCluster: true, prefix: 'app:x', leaseMs: 900, autoNode: true });
    expect(o.node).toBe(0);
  });

  it("refuses node 'auto' without cluster, and node numbers out of range", () => {
    expect(code({ node: 'auto' })).toMatch(/^ERR_FLAMINGO_INVALID_OPTION: option "node".*"auto" needs the cluster option/);
    expect(code({ node: 256 })).toMatch(/^ERR_FLAMINGO_INVALID_OPTION: option "node" must be an integer from 0 to 255, or "auto"/);
    expect(code({ node: 'some' })).toMatch(/^ERR_FLAMINGO_INVALID_OPTION/);
  });

  it('refuses bad URLs, prefixes, bounds and unknown keys, naming each', () => {
    expect(code({ cluster: 'redis://x' })).toMatch(/option "cluster" must be an object/);
    expect(code({ cluster: {} })).toMatch(/option "cluster.redis" must be/);
    expect(code({ cluster: { redis: 'http://x:1' } })).toMatch(/option "cluster.redis" must be/);
    expect(code({ cluster: { redis: [] } })).toMatch(/option "cluster.redis" must be/);
    expect(code({ cluster: { redis: 'redis://x', prefix: 'a{b}' } })).toMatch(/option "cluster.prefix"/);
    expect(code({ cluster: { redis: 'redis://x', prefix: '' } })).toMatch(/option "cluster.prefix"/);
    expect(code({ cluster: { redis: 'redis://x', leaseMs: 10 } })).toMatch(/option "cluster.leaseMs" must be an integer from 300/);
    expect(code({ cluster: { redis: 'redis://x', routeBufferBytes: 1.5 } })).toMatch(/option "cluster.routeBufferBytes"/);
    expect(code({ cluster: { redis: 'redis://x', password: 'p' } })).toMatch(/^ERR_FLAMINGO_UNKNOWN_OPTION: unknown option "cluster.password"/);
  });
});
