// The `protocol` option: a built-in protocol's name (the framings answer to
// theirs, so `protocol: 'delimiter'` is `framing: 'delimiter'`) or a module's
// URL with structured-cloneable options. Checked at start like every option:
// ERR_FLAMINGO_INVALID_OPTION naming the option and what it accepts.

import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FlamingoError } from '../../src/shared/errors.ts';
import { type ResolvedOptions, type ServerOptions, resolveOptions } from '../../src/shared/options.ts';

const MODULE = 'file:///srv/app/protocol.js';

function rejected(input: unknown, name: string, mentions: string[] = []): void {
  let caught: unknown;
  try {
    resolveOptions(input as ServerOptions);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(FlamingoError);
  expect((caught as FlamingoError).code).toBe('ERR_FLAMINGO_INVALID_OPTION');
  expect((caught as FlamingoError).message).toContain(`"${name}"`);
  for (const text of mentions) expect((caught as FlamingoError).message).toContain(text);
}

describe('the protocol option', () => {
  it('defaults to the framing: raw, or whatever framing says', () => {
    expect(resolveOptions().protocol).toEqual({ kind: 'builtin', name: 'raw' });
    expect(resolveOptions({ framing: 'length-prefix' }).protocol).toEqual({ kind: 'builtin', name: 'length-prefix' });
  });

  it('a built-in framing by name sets the framing, with that framing’s own options', () => {
    const resolved = resolveOptions({ protocol: 'delimiter', delimiter: '\r\n', keepDelimiter: false });
    expect(resolved.protocol).toEqual({ kind: 'builtin', name: 'delimiter' });
    expect(resolved.framing).toEqual({ kind: 'delimiter', delimiter: new Uint8Array([13, 10]), keepDelimiter: false });
    expect(resolveOptions({ protocol: 'length-prefix', framing: 'length-prefix', lengthBytes: 2 }).framing).toMatchObject({ lengthBytes: 2 });
  });

  it("'websocket' is a built-in name, over the raw framing", () => {
    const resolved = resolveOptions({ protocol: 'websocket' });
    expect(resolved.protocol).toEqual({ kind: 'builtin', name: 'websocket' });
    expect(resolved.framing).toEqual({ kind: 'raw' });
  });

  it('a module: its URL as a string or URL, resolved to an href, its options cloned now', () => {
    const options = { greeting: 'hi', limits: [1, 2], nested: { at: new Date(0) } };
    const resolved = resolveOptions({ protocol: { module: new URL(MODULE), options } });
    options.limits.push(3);
    expect(resolved.protocol).toEqual({ kind: 'module', url: MODULE, options: { greeting: 'hi', limits: [1, 2], nested: { at: new Date(0) } } });
    expect(resolved.framing).toEqual({ kind: 'raw' });
    expect(resolveOptions({ protocol: { module: pathToFileURL('/srv/app/protocol.js').href } }).protocol).toEqual({
      kind: 'module',
      url: MODULE,
      options: undefined,
    });
    expect(resolveOptions({ protocol: { module: 'data:text/javascript,export default () => ({ read() {} })' } }).protocol).toMatchObject({ kind: 'module' });
  });

  it('resolved options with a module stay plain data that survives structured cloning (posted to the workers)', () => {
    const resolved: ResolvedOptions = resolveOptions({ protocol: { module: MODULE, options: { a: 1 } } });
    expect(structuredClone(resolved)).toEqual(resolved);
  });

  const invalid: Array<[string, unknown, string, string[]]> = [
    ['an unknown name', { protocol: 'mqtt' }, 'protocol', ['"raw"', '"websocket"', 'module']],
    ['a name in the wrong case', { protocol: 'Raw' }, 'protocol', []],
    ['a number', { protocol: 1 }, 'protocol', []],
    ['null', { protocol: null }, 'protocol', []],
    ['an array', { protocol: [MODULE] }, 'protocol', []],
    ['a bare URL, not in an object', { protocol: new URL(MODULE) }, 'protocol', []],
    ['a function', { protocol: () => ({}) }, 'protocol', []],
    ['an object with an unknown key', { protocol: { module: MODULE, opts: {} } }, 'protocol', ['"opts"']],
    ['a module missing', { protocol: { options: {} } }, 'protocol.module', ['absolute file: or data: URL']],
    ['a relative path', { protocol: { module: './protocol.js' } }, 'protocol.module', []],
    ['an absolute path, not a URL', { protocol: { module: '/srv/app/protocol.js' } }, 'protocol.module', []],
    ['an http URL', { protocol: { module: 'https://example.test/protocol.js' } }, 'protocol.module', []],
    ['options holding a function', { protocol: { module: MODULE, options: { onMessage: () => {} } } }, 'protocol.options', ['structured-cloneable']],
    ['options holding a symbol', { protocol: { module: MODULE, options: { kind: Symbol('x') } } }, 'protocol.options', []],
    ['a framing protocol other than the framing', { framing: 'raw', protocol: 'delimiter' }, 'protocol', ['the same as framing ("raw")']],
    ['a framing next to a module', { framing: 'delimiter', protocol: { module: MODULE } }, 'framing', ['unset when protocol is a module']],
    ['a framing next to websocket', { framing: 'raw', protocol: 'websocket' }, 'framing', ['"websocket"']],
    ['a framing’s option next to a module', { protocol: { module: MODULE }, delimiter: '\n' }, 'delimiter', []],
  ];
  it.each(invalid)('%s: ERR_FLAMINGO_INVALID_OPTION naming it', (_what, input, name, mentions) => {
    rejected(input, name, mentions);
  });
});
