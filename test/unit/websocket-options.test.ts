// The WebSocket protocol's own options (subprotocols, captureHeaders,
// pingIntervalMs, handshakeTimeoutMs): rows of the one option table that
// belong to protocol 'websocket', so they are taken with it, refused with
// any other protocol, and checked at start like every option.

import { describe, expect, it } from 'vitest';
import { FlamingoError } from '../../src/shared/errors.ts';
import { type ServerOptions, resolveOptions } from '../../src/shared/options.ts';

function rejected(input: ServerOptions, name: string, mentions: string[] = []): void {
  let caught: unknown;
  try {
    resolveOptions(input);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(FlamingoError);
  expect((caught as FlamingoError).code).toBe('ERR_FLAMINGO_INVALID_OPTION');
  expect((caught as FlamingoError).message).toContain(`"${name}"`);
  for (const text of mentions) expect((caught as FlamingoError).message).toContain(text);
}

describe("the 'websocket' protocol's options", () => {
  it('default to no subprotocols, Origin, Cookie and Authorization, a 30 s heartbeat and a 10 s handshake deadline', () => {
    expect(resolveOptions({ protocol: 'websocket' })).toMatchObject({
      subprotocols: [],
      captureHeaders: ['origin', 'cookie', 'authorization'],
      pingIntervalMs: 30_000,
      handshakeTimeoutMs: 10_000,
    });
  });

  it('are taken with protocol websocket, the lists copied', () => {
    const subprotocols = ['v2.chat', 'v1.chat'];
    const resolved = resolveOptions({ protocol: 'websocket', subprotocols, captureHeaders: ['X-User'], pingIntervalMs: 0, handshakeTimeoutMs: 500 });
    expect(resolved).toMatchObject({ subprotocols, captureHeaders: ['X-User'], pingIntervalMs: 0, handshakeTimeoutMs: 500 });
    subprotocols.push('later');
    expect(resolved.subprotocols).toEqual(['v2.chat', 'v1.chat']);
  });

  it('are refused with any other protocol, so a forgotten protocol option is not silently ignored', () => {
    for (const other of [{}, { protocol: 'delimiter' as const }, { protocol: { module: 'file:///srv/p.js' } }]) {
      rejected({ ...other, pingIntervalMs: 1000 }, 'pingIntervalMs', ['unset unless protocol is "websocket"']);
      rejected({ ...other, subprotocols: ['chat'] }, 'subprotocols', ['websocket']);
    }
  });

  it('lists must hold HTTP tokens; times must be whole milliseconds from 0 to a day', () => {
    for (const bad of [['a b'], ['x,y'], [''], [7], 'chat', [null]]) {
      rejected({ protocol: 'websocket', subprotocols: bad as string[] }, 'subprotocols', ['HTTP tokens']);
      rejected({ protocol: 'websocket', captureHeaders: bad as string[] }, 'captureHeaders', ['HTTP tokens']);
    }
    for (const bad of [-1, 1.5, 86_400_001, Number.NaN]) {
      rejected({ protocol: 'websocket', pingIntervalMs: bad }, 'pingIntervalMs', ['from 0 to 86400000']);
      rejected({ protocol: 'websocket', handshakeTimeoutMs: bad }, 'handshakeTimeoutMs');
    }
  });
});
