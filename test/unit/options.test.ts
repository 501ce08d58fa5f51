// Tests for the option schema (src/shared/options.ts): every default, and a
// table of every way an option can be wrong. Each rejection is a
// FlamingoError with a stable code and a message naming the option (and,
// for ranges, the accepted range). Property tests sweep the numeric ranges.
// The framing, timeout, limit and socket options of length-prefix framing
// and the Go original's to-do list have their own blocks at the end.

import { availableParallelism } from 'node:os';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlamingoError } from '../../src/shared/errors.ts';
import { OPTIONS, type ResolvedOptions, type ServerOptions, resolveOptions } from '../../src/shared/options.ts';
import { MAX_RING_BYTES, MIN_RING_BYTES, maxRecordPayload } from '../../src/shared/ring.ts';

const MiB = 1024 * 1024;
const RUNS = 500;
const DAY_MS = 86_400_000;

/** Every option a server takes: the schema's own list, which ServerOptions is type-checked against. */
const ALL_OPTIONS: readonly string[] = OPTIONS.map((option) => option.name);

/** Resolves options the type system would refuse, as a user's JS could pass them. */
const resolveAny = (input: unknown): ResolvedOptions => resolveOptions(input as ServerOptions);

type Code = 'ERR_FLAMINGO_INVALID_OPTION' | 'ERR_FLAMINGO_UNKNOWN_OPTION';

function rejection(input: unknown): FlamingoError {
  let caught: unknown;
  try {
    resolveAny(input);
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected resolveOptions to throw a FlamingoError').toBeInstanceOf(FlamingoError);
  expect(caught).toBeInstanceOf(Error);
  return caught as FlamingoError;
}

function expectRejected(input: unknown, code: Code, name: string, mentions: readonly string[] = []): void {
  const err = rejection(input);
  expect(err.code).toBe(code);
  expect(err.name).toBe('FlamingoError');
  expect(err.message).toContain(`"${name}"`);
  for (const text of mentions) expect(err.message).toContain(text);
}

describe('resolveOptions defaults', () => {
  const defaults = resolveOptions();

  it('host defaults to 127.0.0.1', () => expect(defaults.host).toBe('127.0.0.1'));
  it('port defaults to 0 (the OS picks a free port)', () => expect(defaults.port).toBe(0));
  it('workers defaults to one per core (availableParallelism), at most 64', () => {
    expect(defaults.workers).toBe(Math.min(availableParallelism(), 64));
  });
  it('backlog defaults to 4096', () => expect(defaults.backlog).toBe(4096));
  it('framing defaults to raw', () => expect(defaults.framing).toEqual({ kind: 'raw' }));
  it('maxFrameBytes defaults to 1 MiB', () => expect(defaults.maxFrameBytes).toBe(MiB));
  it('eventRingBytes defaults to 4 MiB', () => expect(defaults.eventRingBytes).toBe(4 * MiB));
  it('commandRingBytes defaults to 4 MiB', () => expect(defaults.commandRingBytes).toBe(4 * MiB));
  it('maxConnectionsPerWorker defaults to 1,048,576', () => expect(defaults.maxConnectionsPerWorker).toBe(2 ** 20));
  it('node defaults to 0', () => expect(defaults.node).toBe(0));
  it('noDelay defaults to true', () => expect(defaults.noDelay).toBe(true));
  it('consumer defaults to main', () => expect(defaults.consumer).toBe('main'));
  it('sharePort defaults to false (a held port is refused)', () => expect(defaults.sharePort).toBe(false));

  it('the resolved options have exactly these keys, and {} and explicit undefineds give the same', () => {
    // Every option but a framing's own, which are in `framing`.
    const unframed = OPTIONS.filter((option) => !('framing' in option)).map((option) => option.name);
    expect(Object.keys(defaults).sort()).toEqual(unframed.sort());
    expect(Object.keys(defaults)).not.toContain('delimiter');
    expect(resolveOptions({})).toEqual(defaults);
    expect(resolveAny(undefined)).toEqual(defaults);
    const allUndefined: Record<string, undefined> = {};
    for (const key of ALL_OPTIONS) {
      allUndefined[key] = undefined;
    }
    expect(resolveAny(allUndefined)).toEqual(defaults);
  });

  it('delimiter framing defaults to a "\\n" delimiter, kept at the end of the frame', () => {
    expect(resolveOptions({ framing: 'delimiter' }).framing).toEqual({
      kind: 'delimiter',
      delimiter: new Uint8Array([0x0a]),
      keepDelimiter: true,
    });
  });

  it('maxFrameBytes defaults to the largest record a small event ring holds (half the ring less a 16-byte header)', () => {
    expect(resolveOptions({ eventRingBytes: MIN_RING_BYTES }).maxFrameBytes).toBe(MIN_RING_BYTES / 2 - 16);
    expect(resolveOptions({ eventRingBytes: 2 * MiB }).maxFrameBytes).toBe(MiB - 16);
    expect(resolveOptions({ eventRingBytes: 8 * MiB }).maxFrameBytes).toBe(MiB);
  });

  it('the resolved options are plain data that survives structured cloning (posted to workers)', () => {
    const resolved = resolveOptions({ framing: 'delimiter', delimiter: '\r\n', keepDelimiter: false });
    expect(structuredClone(resolved)).toEqual(resolved);
    expect(structuredClone(defaults)).toEqual(defaults);
  });
});

describe('resolveOptions accepts valid values', () => {
  const valid: Array<[string, ServerOptions, Partial<ResolvedOptions>]> = [
    ['host as a name', { host: 'localhost' }, { host: 'localhost' }],
    ['host as IPv6', { host: '::1' }, { host: '::1' }],
    ['host of 255 characters', { host: 'h'.repeat(255) }, { host: 'h'.repeat(255) }],
    ['port 0', { port: 0 }, { port: 0 }],
    ['port 65535', { port: 65535 }, { port: 65535 }],
    ['workers 1', { workers: 1 }, { workers: 1 }],
    ['workers 64', { workers: 64 }, { workers: 64 }],
    ['backlog 1', { backlog: 1 }, { backlog: 1 }],
    ['backlog 65535', { backlog: 65535 }, { backlog: 65535 }],
    ['maxFrameBytes 1', { maxFrameBytes: 1 }, { maxFrameBytes: 1 }],
    ['maxFrameBytes at the default ring’s limit', { maxFrameBytes: 2 * MiB - 16 }, { maxFrameBytes: 2 * MiB - 16 }],
    ['maxFrameBytes at a small ring’s limit', { eventRingBytes: 4096, maxFrameBytes: 2032 }, { maxFrameBytes: 2032 }],
    ['eventRingBytes at its minimum', { eventRingBytes: MIN_RING_BYTES }, { eventRingBytes: MIN_RING_BYTES }],
    ['eventRingBytes at its maximum', { eventRingBytes: MAX_RING_BYTES }, { eventRingBytes: MAX_RING_BYTES }],
    ['commandRingBytes at its minimum', { commandRingBytes: MIN_RING_BYTES }, { commandRingBytes: MIN_RING_BYTES }],
    ['commandRingBytes at its maximum', { commandRingBytes: MAX_RING_BYTES }, { commandRingBytes: MAX_RING_BYTES }],
    ['maxConnectionsPerWorker 1', { maxConnectionsPerWorker: 1 }, { maxConnectionsPerWorker: 1 }],
    ['maxConnectionsPerWorker 2 ** 21', { maxConnectionsPerWorker: 2 ** 21 }, { maxConnectionsPerWorker: 2 ** 21 }],
    ['node 0', { node: 0 }, { node: 0 }],
    ['node 255', { node: 255 }, { node: 255 }],
    ['noDelay false', { noDelay: false }, { noDelay: false }],
    ['consumer external', { consumer: 'external' }, { consumer: 'external' }],
    ['sharePort true', { sharePort: true }, { sharePort: true }],
    ['sharePort false', { sharePort: false }, { sharePort: false }],
    ['framing raw, explicitly', { framing: 'raw' }, { framing: { kind: 'raw' } }],
    [
      'a 1-byte string delimiter, not kept',
      { framing: 'delimiter', delimiter: ';', keepDelimiter: false },
      { framing: { kind: 'delimiter', delimiter: new Uint8Array([0x3b]), keepDelimiter: false } },
    ],
    [
      'a 16-byte string delimiter',
      { framing: 'delimiter', delimiter: 'x'.repeat(16) },
      { framing: { kind: 'delimiter', delimiter: new Uint8Array(16).fill(0x78), keepDelimiter: true } },
    ],
    [
      'a multi-byte UTF-8 delimiter (its bytes count, not its characters)',
      { framing: 'delimiter', delimiter: 'é'.repeat(8) },
      { framing: { kind: 'delimiter', delimiter: new Uint8Array(Buffer.from('é'.repeat(8))), keepDelimiter: true } },
    ],
    [
      'a Uint8Array delimiter of 16 bytes',
      { framing: 'delimiter', delimiter: new Uint8Array(16).fill(7) },
      { framing: { kind: 'delimiter', delimiter: new Uint8Array(16).fill(7), keepDelimiter: true } },
    ],
    [
      'a Buffer delimiter',
      { framing: 'delimiter', delimiter: Buffer.from('\r\n') },
      { framing: { kind: 'delimiter', delimiter: new Uint8Array([13, 10]), keepDelimiter: true } },
    ],
  ];
  it.each(valid)('%s', (_label, input, expected) => {
    expect(resolveOptions(input)).toMatchObject(expected);
  });

  it('the delimiter is copied into a plain Uint8Array: changing the caller’s bytes later changes nothing', () => {
    const mine = Buffer.from('END!');
    const resolved = resolveOptions({ framing: 'delimiter', delimiter: mine });
    mine.fill(0);
    expect(resolved.framing).toEqual({ kind: 'delimiter', delimiter: new Uint8Array(Buffer.from('END!')), keepDelimiter: true });
    if (resolved.framing.kind !== 'delimiter') throw new Error('unreachable');
    expect(resolved.framing.delimiter.constructor).toBe(Uint8Array);
  });
});

describe('resolveOptions rejects invalid options', () => {
  const INVALID = 'ERR_FLAMINGO_INVALID_OPTION';
  const UNKNOWN = 'ERR_FLAMINGO_UNKNOWN_OPTION';
  const DELIM = { framing: 'delimiter' } as const;
  const eighteenBytesOfNineChars = 'é'.repeat(9);

  // [what is wrong, input, option named in the message, other text the message must contain]
  const invalid: Array<[string, unknown, string, string[]]> = [
    ['options: null', null, 'options', ['an object']],
    ['options: an array', [], 'options', ['an object']],
    ['options: a string', 'port=80', 'options', ['an object']],
    ['options: a number', 8080, 'options', ['an object']],

    ['host: a number', { host: 127001 }, 'host', []],
    ['host: empty', { host: '' }, 'host', []],
    ['host: 256 characters', { host: 'h'.repeat(256) }, 'host', []],
    ['host: null', { host: null }, 'host', []],
    ['host: an object', { host: { address: '::1' } }, 'host', []],

    ['port: negative', { port: -1 }, 'port', ['from 0 to 65535', '-1']],
    ['port: 65536', { port: 65536 }, 'port', ['from 0 to 65535', '65536']],
    ['port: a float', { port: 80.5 }, 'port', ['integer', '80.5']],
    ['port: a numeric string', { port: '80' }, 'port', ['integer', '"80"']],
    ['port: NaN', { port: NaN }, 'port', ['NaN']],
    ['port: Infinity', { port: Infinity }, 'port', ['Infinity']],
    ['port: a bigint', { port: 80n }, 'port', ['80n']],
    ['port: null', { port: null }, 'port', ['null']],

    ['workers: 0', { workers: 0 }, 'workers', ['from 1 to 64']],
    ['workers: 65 (ids hold 6 bits of worker)', { workers: 65 }, 'workers', ['from 1 to 64']],
    ['workers: a float', { workers: 1.5 }, 'workers', ['integer']],
    ['workers: a string', { workers: '2' }, 'workers', []],

    ['backlog: 0', { backlog: 0 }, 'backlog', ['from 1 to 65535']],
    ['backlog: 65536', { backlog: 65536 }, 'backlog', ['from 1 to 65535']],
    ['backlog: a float', { backlog: 2.5 }, 'backlog', []],
    ['backlog: a string', { backlog: '511' }, 'backlog', []],

    ['framing: unknown kind', { framing: 'length-prefixed' }, 'framing', ['"raw"', '"delimiter"']],
    ['framing: wrong case', { framing: 'RAW' }, 'framing', []],
    ['framing: a number', { framing: 1 }, 'framing', []],
    ['framing: null', { framing: null }, 'framing', []],
    ['framing: an object', { framing: { kind: 'raw' } }, 'framing', []],

    ['delimiter: set while framing is raw by default', { delimiter: '\n' }, 'delimiter', ['"delimiter"']],
    ['delimiter: set while framing is raw explicitly', { framing: 'raw', delimiter: '\r\n' }, 'delimiter', []],
    ['delimiter: null while framing is raw', { framing: 'raw', delimiter: null }, 'delimiter', []],
    ['delimiter: an empty string (0 bytes)', { ...DELIM, delimiter: '' }, 'delimiter', ['1 to 16 bytes']],
    ['delimiter: an empty Uint8Array (0 bytes)', { ...DELIM, delimiter: new Uint8Array(0) }, 'delimiter', ['1 to 16 bytes']],
    ['delimiter: a 17-byte string', { ...DELIM, delimiter: 'x'.repeat(17) }, 'delimiter', ['1 to 16 bytes']],
    ['delimiter: a 17-byte Uint8Array', { ...DELIM, delimiter: new Uint8Array(17) }, 'delimiter', ['1 to 16 bytes']],
    ['delimiter: 9 characters but 18 UTF-8 bytes', { ...DELIM, delimiter: eighteenBytesOfNineChars }, 'delimiter', ['1 to 16 bytes']],
    ['delimiter: a number', { ...DELIM, delimiter: 10 }, 'delimiter', []],
    ['delimiter: an array of bytes', { ...DELIM, delimiter: [13, 10] }, 'delimiter', []],
    ['delimiter: an ArrayBuffer', { ...DELIM, delimiter: new ArrayBuffer(1) }, 'delimiter', []],
    ['delimiter: a DataView', { ...DELIM, delimiter: new DataView(new ArrayBuffer(1)) }, 'delimiter', []],
    ['delimiter: a Uint16Array', { ...DELIM, delimiter: new Uint16Array(1) }, 'delimiter', []],

    ['keepDelimiter: a string', { ...DELIM, keepDelimiter: 'yes' }, 'keepDelimiter', ['true or false']],
    ['keepDelimiter: 1', { ...DELIM, keepDelimiter: 1 }, 'keepDelimiter', []],
    ['keepDelimiter: null', { ...DELIM, keepDelimiter: null }, 'keepDelimiter', []],

    ['maxFrameBytes: 0', { maxFrameBytes: 0 }, 'maxFrameBytes', [`from 1 to ${2 * MiB - 16}`]],
    ['maxFrameBytes: negative', { maxFrameBytes: -1 }, 'maxFrameBytes', []],
    ['maxFrameBytes: a float', { maxFrameBytes: 1024.5 }, 'maxFrameBytes', []],
    ['maxFrameBytes: a string', { maxFrameBytes: '1024' }, 'maxFrameBytes', []],
    ['maxFrameBytes: over what the default event ring holds', { maxFrameBytes: 2 * MiB - 15 }, 'maxFrameBytes', [`${2 * MiB - 16}`]],
    ['maxFrameBytes: over what a small event ring holds', { eventRingBytes: 4096, maxFrameBytes: 2033 }, 'maxFrameBytes', ['from 1 to 2032']],
    ['maxFrameBytes: the default 1 MiB with a ring too small for it', { eventRingBytes: 2 * MiB, maxFrameBytes: MiB }, 'maxFrameBytes', []],

    ...(['eventRingBytes', 'commandRingBytes'] as const).flatMap(
      (name): Array<[string, unknown, string, string[]]> => [
        [`${name}: not a power of two`, { [name]: 3 * 4096 }, name, [`a power of two from ${MIN_RING_BYTES} to ${MAX_RING_BYTES}`]],
        [`${name}: one more than a power of two`, { [name]: MiB + 1 }, name, ['power of two']],
        [`${name}: one less than a power of two`, { [name]: MiB - 1 }, name, ['power of two']],
        [`${name}: a power of two below the minimum`, { [name]: MIN_RING_BYTES / 2 }, name, []],
        [`${name}: a power of two above the maximum`, { [name]: MAX_RING_BYTES * 2 }, name, []],
        [`${name}: 2 ** 32, which 32-bit bit tricks read as 0`, { [name]: 2 ** 32 }, name, []],
        [`${name}: 2 ** 32 + 4096`, { [name]: 2 ** 32 + 4096 }, name, []],
        [`${name}: 0`, { [name]: 0 }, name, []],
        [`${name}: negative`, { [name]: -4096 }, name, []],
        [`${name}: a float`, { [name]: 4096.5 }, name, []],
        [`${name}: a string`, { [name]: '4096' }, name, []],
        [`${name}: NaN`, { [name]: NaN }, name, []],
      ],
    ),

    ['maxConnectionsPerWorker: 0', { maxConnectionsPerWorker: 0 }, 'maxConnectionsPerWorker', [`from 1 to ${2 ** 21}`]],
    ['maxConnectionsPerWorker: more than the 21-bit slot field', { maxConnectionsPerWorker: 2 ** 21 + 1 }, 'maxConnectionsPerWorker', []],
    ['maxConnectionsPerWorker: a float', { maxConnectionsPerWorker: 10.5 }, 'maxConnectionsPerWorker', []],
    ['maxConnectionsPerWorker: a string', { maxConnectionsPerWorker: '10' }, 'maxConnectionsPerWorker', []],

    ['node: negative', { node: -1 }, 'node', ['from 0 to 255']],
    ['node: 256 (ids hold 8 bits of node)', { node: 256 }, 'node', ['from 0 to 255']],
    ['node: a float', { node: 0.5 }, 'node', []],
    ['node: a string', { node: '0' }, 'node', []],

    ['noDelay: a string', { noDelay: 'true' }, 'noDelay', ['true or false']],
    ['noDelay: 1', { noDelay: 1 }, 'noDelay', []],
    ['noDelay: 0', { noDelay: 0 }, 'noDelay', []],
    ['noDelay: null', { noDelay: null }, 'noDelay', []],

    ['sharePort: a string', { sharePort: 'true' }, 'sharePort', ['true or false']],
    ['sharePort: 1', { sharePort: 1 }, 'sharePort', []],
    ['sharePort: null', { sharePort: null }, 'sharePort', []],

    ['consumer: unknown', { consumer: 'worker' }, 'consumer', ['"main"', '"external"']],
    ['consumer: wrong case', { consumer: 'Main' }, 'consumer', []],
    ['consumer: empty', { consumer: '' }, 'consumer', []],
    ['consumer: a function', { consumer: () => {} }, 'consumer', []],
    ['consumer: null', { consumer: null }, 'consumer', []],
  ];

  it.each(invalid)('%s: ERR_FLAMINGO_INVALID_OPTION naming the option', (_label, input, name, mentions) => {
    expectRejected(input, INVALID, name, mentions);
  });

  const unknown: Array<[string, unknown, string]> = [
    ['a misspelt option', { prot: 80 }, 'prot'],
    ['an option in the wrong case', { Port: 80 }, 'Port'],
    ['the Go original’s option name', { bufferSize: 4096 }, 'bufferSize'],
    ['a plausible but unknown option', { maxFrameSize: 1024 }, 'maxFrameSize'],
    ['an empty key', { '': 1 }, ''],
    ['an own __proto__ key (from JSON)', JSON.parse('{"__proto__": {"port": 1}}'), '__proto__'],
    ['an unknown key next to valid ones', { port: 80, host: '::1', extra: true }, 'extra'],
    ['an unknown key set to undefined', { timeout: undefined }, 'timeout'],
  ];
  it.each(unknown)('%s: ERR_FLAMINGO_UNKNOWN_OPTION naming the key', (_label, input, key) => {
    expectRejected(input, UNKNOWN, key);
  });

  it('rejects an unknown key before looking at the values of known ones', () => {
    expectRejected({ port: -1, colour: 'pink' }, UNKNOWN, 'colour');
  });

  it('the error is an instanceof FlamingoError (and of Error) and carries a stable code', () => {
    const err = rejection({ port: -1 });
    expect(err instanceof FlamingoError).toBe(true);
    expect(err instanceof Error).toBe(true);
    expect(err.code).toBe('ERR_FLAMINGO_INVALID_OPTION');
    // The check goes by a registered symbol, so a copy from a duplicate package passes it too.
    const foreign = Object.assign(new Error('from another copy'), { code: 'ERR_FLAMINGO_INVALID_OPTION' });
    Object.defineProperty(foreign, Symbol.for('flamingo.error'), { value: true });
    expect(foreign instanceof FlamingoError).toBe(true);
    expect(new Error('plain') instanceof FlamingoError).toBe(false);
  });

  it('keepDelimiter of the wrong type is rejected when framing is raw', () => {
    expectRejected({ keepDelimiter: 'yes' }, INVALID, 'keepDelimiter');
  });

  it('delimiter null is rejected when framing is delimiter', () => {
    expectRejected({ framing: 'delimiter', delimiter: null }, INVALID, 'delimiter');
  });
});

describe('resolveOptions over whole ranges (property tests)', () => {
  const ranges: Array<[keyof ServerOptions, number, number]> = [
    ['port', 0, 65535],
    ['workers', 1, 64],
    ['backlog', 1, 65535],
    ['maxConnectionsPerWorker', 1, 2 ** 21],
    ['node', 0, 255],
  ];

  it.each(ranges)('%s: every integer from %i to %i is accepted as is; every other number is rejected naming it', (name, min, max) => {
    fc.assert(
      fc.property(fc.integer({ min, max }), (value) => {
        expect(resolveAny({ [name]: value })[name as keyof ResolvedOptions]).toBe(value);
      }),
      { numRuns: RUNS },
    );
    const outside = fc.oneof(
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: min - 1 }),
      fc.integer({ min: max + 1, max: Number.MAX_SAFE_INTEGER }),
      fc.double({ min, max, noInteger: true }),
      fc.constantFrom(NaN, Infinity, -Infinity, min - 1, max + 1, min + 0.5),
    );
    fc.assert(
      fc.property(outside, (value) => {
        expectRejected({ [name]: value }, 'ERR_FLAMINGO_INVALID_OPTION', name, [`from ${min} to ${max}`]);
      }),
      { numRuns: RUNS },
    );
  });

  it.each(['eventRingBytes', 'commandRingBytes'] as const)('%s: every power of two in range is accepted; every other integer is rejected', (name) => {
    const powers = fc.integer({ min: Math.log2(MIN_RING_BYTES), max: Math.log2(MAX_RING_BYTES) }).map((k) => 2 ** k);
    fc.assert(
      fc.property(powers, (value) => {
        expect(resolveOptions({ [name]: value })[name]).toBe(value);
      }),
      { numRuns: 100 },
    );
    const notPower = fc
      .oneof(fc.integer({ min: MIN_RING_BYTES, max: MAX_RING_BYTES }), fc.integer({ min: -(2 ** 40), max: 2 ** 40 }))
      .filter((v) => !(v >= MIN_RING_BYTES && v <= MAX_RING_BYTES && Number.isInteger(Math.log2(v))));
    fc.assert(
      fc.property(notPower, (value) => {
        expectRejected({ [name]: value }, 'ERR_FLAMINGO_INVALID_OPTION', name, ['power of two']);
      }),
      { numRuns: RUNS },
    );
  });

  it('maxFrameBytes: accepted up to exactly what the chosen event ring holds, rejected one byte over', () => {
    const ring = fc.integer({ min: Math.log2(MIN_RING_BYTES), max: 26 }).map((k) => 2 ** k);
    fc.assert(
      fc.property(ring, fc.double({ min: 0, max: 1, noNaN: true }), (eventRingBytes, fraction) => {
        const limit = maxRecordPayload(eventRingBytes);
        expect(limit).toBe(eventRingBytes / 2 - 16);
        const inRange = 1 + Math.floor(fraction * (limit - 1));
        expect(resolveOptions({ eventRingBytes, maxFrameBytes: inRange }).maxFrameBytes).toBe(inRange);
        expect(resolveOptions({ eventRingBytes, maxFrameBytes: limit }).maxFrameBytes).toBe(limit);
        expectRejected({ eventRingBytes, maxFrameBytes: limit + 1 }, 'ERR_FLAMINGO_INVALID_OPTION', 'maxFrameBytes', [`from 1 to ${limit}`]);
        expect(resolveOptions({ eventRingBytes }).maxFrameBytes).toBe(Math.min(MiB, limit));
      }),
      { numRuns: 200 },
    );
  });

  it('delimiter: any 1 to 16 bytes are accepted and copied; 0 or more than 16 are rejected', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.boolean(), (delimiter, keepDelimiter) => {
        expect(resolveOptions({ framing: 'delimiter', delimiter, keepDelimiter }).framing).toEqual({
          kind: 'delimiter',
          delimiter: Uint8Array.from(delimiter),
          keepDelimiter,
        });
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 17, maxLength: 64 })), (delimiter) => {
        expectRejected({ framing: 'delimiter', delimiter }, 'ERR_FLAMINGO_INVALID_OPTION', 'delimiter', ['1 to 16 bytes']);
      }),
      { numRuns: 200 },
    );
    // Strings count their UTF-8 bytes.
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), (text) => {
        const length = Buffer.byteLength(text);
        if (length >= 1 && length <= 16) {
          const resolved = resolveOptions({ framing: 'delimiter', delimiter: text }).framing;
          expect(resolved).toEqual({ kind: 'delimiter', delimiter: new Uint8Array(Buffer.from(text)), keepDelimiter: true });
        } else {
          expectRejected({ framing: 'delimiter', delimiter: text }, 'ERR_FLAMINGO_INVALID_OPTION', 'delimiter');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('any key that is not an option is rejected with ERR_FLAMINGO_UNKNOWN_OPTION naming it', () => {
    const known = new Set(ALL_OPTIONS);
    fc.assert(
      fc.property(
        fc.string().filter((k) => !known.has(k)),
        fc.anything(),
        (key, value) => {
          const input: Record<string, unknown> = {};
          Object.defineProperty(input, key, { value, enumerable: true, configurable: true, writable: true });
          expectRejected(input, 'ERR_FLAMINGO_UNKNOWN_OPTION', key);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('maxFrameBytes and the delimiter', () => {
  it('a maxFrameBytes shorter than the delimiter is refused, since no frame could ever fit', () => {
    expectRejected({ framing: 'delimiter', delimiter: '\r\n', maxFrameBytes: 1 }, 'ERR_FLAMINGO_INVALID_OPTION', 'maxFrameBytes', ['from 2']);
    expect(resolveOptions({ framing: 'delimiter', delimiter: '\r\n', maxFrameBytes: 2 }).maxFrameBytes).toBe(2);
  });
});

describe('length-prefix framing options', () => {
  const LP = { framing: 'length-prefix' } as const;
  const INVALID = 'ERR_FLAMINGO_INVALID_OPTION';

  it('framing length-prefix defaults to a 4-byte big-endian header counting the payload only, kept in each frame', () => {
    expect(resolveOptions(LP).framing).toEqual({
      kind: 'length-prefix',
      lengthBytes: 4,
      littleEndian: false,
      lengthIncludesHeader: false,
      keepHeader: true,
    });
  });
  it('lengthBytes defaults to 4', () => expect(resolveOptions(LP).framing).toMatchObject({ lengthBytes: 4 }));
  it('littleEndian defaults to false (big-endian)', () => expect(resolveOptions(LP).framing).toMatchObject({ littleEndian: false }));
  it('lengthIncludesHeader defaults to false (the length counts the payload)', () =>
    expect(resolveOptions(LP).framing).toMatchObject({ lengthIncludesHeader: false }));
  it('keepHeader defaults to true', () => expect(resolveOptions(LP).framing).toMatchObject({ keepHeader: true }));
  it('maxFrameBytes defaults to 1 MiB with length-prefix framing too', () => expect(resolveOptions(LP).maxFrameBytes).toBe(MiB));

  it('every header format is accepted and resolved as given', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 4, 8), fc.boolean(), fc.boolean(), fc.boolean(), (lengthBytes, littleEndian, lengthIncludesHeader, keepHeader) => {
        const resolved = resolveOptions({ ...LP, lengthBytes, littleEndian, lengthIncludesHeader, keepHeader });
        expect(resolved.framing).toEqual({ kind: 'length-prefix', lengthBytes, littleEndian, lengthIncludesHeader, keepHeader });
        expect(structuredClone(resolved)).toEqual(resolved);
      }),
      { numRuns: 64 },
    );
  });

  it('lengthBytes: any value but 1, 2, 4 or 8 is refused naming it and the accepted values', () => {
    fc.assert(
      fc.property(
        fc
          .oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.double(), fc.anything())
          .filter((v) => v !== undefined && ![1, 2, 4, 8].includes(v as number)),
        (lengthBytes) => {
          expectRejected({ ...LP, lengthBytes }, INVALID, 'lengthBytes', ['1, 2, 4 or 8']);
        },
      ),
      { numRuns: RUNS },
    );
  });

  // Only undefined means "the default"; null is a wrong type, as for every
  // other option (options.ts once read `input.lengthBytes ?? 4`).
  it('lengthBytes null is refused like any other wrong type, not taken as the default', () => {
    expectRejected({ ...LP, lengthBytes: null }, INVALID, 'lengthBytes', ['1, 2, 4 or 8']);
  });

  it.each([1, 2, 4, 8])(
    'maxFrameBytes below lengthBytes %i is refused naming maxFrameBytes (no frame could fit its header); equal to it is accepted',
    (lengthBytes) => {
      expect(resolveOptions({ ...LP, lengthBytes, maxFrameBytes: lengthBytes }).maxFrameBytes).toBe(lengthBytes);
      for (let maxFrameBytes = 0; maxFrameBytes < lengthBytes; maxFrameBytes++) {
        expectRejected({ ...LP, lengthBytes, maxFrameBytes }, INVALID, 'maxFrameBytes', [`from ${lengthBytes} to ${2 * MiB - 16}`]);
      }
    },
  );

  it('maxFrameBytes below the default 4-byte header is refused', () => {
    expectRejected({ ...LP, maxFrameBytes: 3 }, INVALID, 'maxFrameBytes', ['from 4']);
    expect(resolveOptions({ ...LP, maxFrameBytes: 4 }).maxFrameBytes).toBe(4);
  });

  // [option, a valid value for it, the framing it belongs to]
  const specific: Array<[string, unknown, string]> = [
    ['lengthBytes', 2, 'length-prefix'],
    ['littleEndian', true, 'length-prefix'],
    ['lengthIncludesHeader', true, 'length-prefix'],
    ['keepHeader', false, 'length-prefix'],
    ['delimiter', '\n', 'delimiter'],
    ['keepDelimiter', false, 'delimiter'],
  ];
  // Each framing-specific option with each framing it does not belong to; framing unset means raw.
  const framings: Array<[string, object]> = [
    ['raw', { framing: 'raw' }],
    ['raw (by default)', {}],
    ['delimiter', { framing: 'delimiter' }],
    ['length-prefix', { framing: 'length-prefix' }],
  ];
  const refusals = specific.flatMap(([name, value, owner]) =>
    framings
      .filter(([label]) => !label.startsWith(owner))
      .map(([label, framing]): [string, string, object, string] => [name, label, { ...framing, [name]: value }, owner]),
  );
  it.each(refusals)('%s set with framing %s is refused naming the option and the framing it needs', (name, _framing, input, owner) => {
    expectRejected(input, INVALID, name, [`framing is "${owner}"`]);
  });

  it('framing-specific options set to undefined are ignored with any framing', () => {
    for (const framing of ['raw', 'delimiter', 'length-prefix'] as const) {
      const input = {
        framing,
        lengthBytes: undefined,
        littleEndian: undefined,
        lengthIncludesHeader: undefined,
        keepHeader: undefined,
        delimiter: undefined,
        keepDelimiter: undefined,
      };
      expect(resolveOptions(input).framing.kind).toBe(framing);
    }
  });

  const invalid: Array<[string, unknown, string, string[]]> = [
    ['lengthBytes: 3', { ...LP, lengthBytes: 3 }, 'lengthBytes', ['1, 2, 4 or 8', '3']],
    ['lengthBytes: 0', { ...LP, lengthBytes: 0 }, 'lengthBytes', ['1, 2, 4 or 8']],
    ['lengthBytes: 16', { ...LP, lengthBytes: 16 }, 'lengthBytes', ['1, 2, 4 or 8']],
    ['lengthBytes: -4', { ...LP, lengthBytes: -4 }, 'lengthBytes', ['1, 2, 4 or 8']],
    ['lengthBytes: 2.5', { ...LP, lengthBytes: 2.5 }, 'lengthBytes', ['1, 2, 4 or 8']],
    ['lengthBytes: a numeric string', { ...LP, lengthBytes: '4' }, 'lengthBytes', ['1, 2, 4 or 8', '"4"']],
    ['lengthBytes: NaN', { ...LP, lengthBytes: NaN }, 'lengthBytes', ['NaN']],
    ['lengthBytes: a bigint', { ...LP, lengthBytes: 4n }, 'lengthBytes', ['4n']],
    ['lengthBytes: true', { ...LP, lengthBytes: true }, 'lengthBytes', []],
    ['littleEndian: a string', { ...LP, littleEndian: 'yes' }, 'littleEndian', ['true or false']],
    ['littleEndian: 1', { ...LP, littleEndian: 1 }, 'littleEndian', ['true or false']],
    ['littleEndian: null', { ...LP, littleEndian: null }, 'littleEndian', ['true or false']],
    ['lengthIncludesHeader: a string', { ...LP, lengthIncludesHeader: 'false' }, 'lengthIncludesHeader', ['true or false']],
    ['lengthIncludesHeader: 0', { ...LP, lengthIncludesHeader: 0 }, 'lengthIncludesHeader', ['true or false']],
    ['keepHeader: a string', { ...LP, keepHeader: 'true' }, 'keepHeader', ['true or false']],
    ['keepHeader: null', { ...LP, keepHeader: null }, 'keepHeader', ['true or false']],
    ['framing: "length-prefixed" (misspelt)', { framing: 'length-prefixed' }, 'framing', ['"length-prefix"']],
    ['framing: "length_prefix"', { framing: 'length_prefix' }, 'framing', ['"raw"', '"delimiter"', '"length-prefix"']],
  ];
  it.each(invalid)('%s: ERR_FLAMINGO_INVALID_OPTION naming the option', (_label, input, name, mentions) => {
    expectRejected(input, INVALID, name, mentions);
  });
});

describe('timeout, limit and socket options', () => {
  const INVALID = 'ERR_FLAMINGO_INVALID_OPTION';
  const defaults = resolveOptions();

  it('keepAliveMs defaults to 0 (TCP keep-alive off)', () => expect(defaults.keepAliveMs).toBe(0));
  it('ipv6Only defaults to false (dual stack with host "::")', () => expect(defaults.ipv6Only).toBe(false));
  it('idleTimeoutMs defaults to 0 (no idle timeout)', () => expect(defaults.idleTimeoutMs).toBe(0));
  it('frameTimeoutMs defaults to 30000 (on: an incomplete frame may wait 30 s)', () => expect(defaults.frameTimeoutMs).toBe(30_000));
  it('closeTimeoutMs defaults to 5000 (a closing socket gets 5 s to flush)', () => expect(defaults.closeTimeoutMs).toBe(5000));
  it('maxConnections defaults to 2^31 - 1 (no cap beyond the slots)', () => expect(defaults.maxConnections).toBe(2 ** 31 - 1));
  it('maxBufferedBytes defaults to 1 MiB', () => expect(defaults.maxBufferedBytes).toBe(MiB));
  it('slowConsumer defaults to "close"', () => expect(defaults.slowConsumer).toBe('close'));

  const valid: Array<[string, ServerOptions, Partial<ResolvedOptions>]> = [
    ['keepAliveMs 0', { keepAliveMs: 0 }, { keepAliveMs: 0 }],
    ['keepAliveMs 1', { keepAliveMs: 1 }, { keepAliveMs: 1 }],
    ['keepAliveMs one day', { keepAliveMs: DAY_MS }, { keepAliveMs: DAY_MS }],
    ['ipv6Only true', { host: '::', ipv6Only: true }, { ipv6Only: true }],
    ['ipv6Only false', { ipv6Only: false }, { ipv6Only: false }],
    ['idleTimeoutMs 0', { idleTimeoutMs: 0 }, { idleTimeoutMs: 0 }],
    ['idleTimeoutMs 1', { idleTimeoutMs: 1 }, { idleTimeoutMs: 1 }],
    ['idleTimeoutMs one day', { idleTimeoutMs: DAY_MS }, { idleTimeoutMs: DAY_MS }],
    ['frameTimeoutMs 0 (off)', { frameTimeoutMs: 0 }, { frameTimeoutMs: 0 }],
    ['frameTimeoutMs one day', { frameTimeoutMs: DAY_MS }, { frameTimeoutMs: DAY_MS }],
    ['maxConnections 1', { maxConnections: 1 }, { maxConnections: 1 }],
    ['maxConnections 2^31 - 1', { maxConnections: 2 ** 31 - 1 }, { maxConnections: 2 ** 31 - 1 }],
    ['maxBufferedBytes 1', { maxBufferedBytes: 1 }, { maxBufferedBytes: 1 }],
    ['maxBufferedBytes 2^40', { maxBufferedBytes: 2 ** 40 }, { maxBufferedBytes: 2 ** 40 }],
    ['slowConsumer drop', { slowConsumer: 'drop' }, { slowConsumer: 'drop' }],
    ['slowConsumer close', { slowConsumer: 'close' }, { slowConsumer: 'close' }],
    [
      'all of them at once, with length-prefix framing',
      {
        framing: 'length-prefix',
        lengthBytes: 2,
        keepAliveMs: 5000,
        ipv6Only: true,
        idleTimeoutMs: 60_000,
        frameTimeoutMs: 5000,
        maxConnections: 10,
        maxBufferedBytes: 4096,
        slowConsumer: 'drop',
      },
      { keepAliveMs: 5000, ipv6Only: true, idleTimeoutMs: 60_000, frameTimeoutMs: 5000, maxConnections: 10, maxBufferedBytes: 4096, slowConsumer: 'drop' },
    ],
  ];
  it.each(valid)('%s', (_label, input, expected) => {
    expect(resolveOptions(input)).toMatchObject(expected);
  });

  // [option, smallest, largest]
  const ranges: Array<[keyof ServerOptions, number, number]> = [
    ['keepAliveMs', 0, DAY_MS],
    ['idleTimeoutMs', 0, DAY_MS],
    ['frameTimeoutMs', 0, DAY_MS],
    ['closeTimeoutMs', 1, DAY_MS],
    ['maxConnections', 1, 2 ** 31 - 1],
    ['maxBufferedBytes', 1, 2 ** 40],
  ];

  it.each(ranges)('%s: every integer from %i to %i is accepted as is; every other number is refused naming it and the range', (name, min, max) => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max)), (value) => {
        expect(resolveAny({ [name]: value })[name as keyof ResolvedOptions]).toBe(value);
      }),
      { numRuns: RUNS },
    );
    const outside = fc.oneof(
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: min - 1 }),
      fc.integer({ min: max + 1, max: Number.MAX_SAFE_INTEGER }),
      fc.double({ min, max, noInteger: true }),
      fc.constantFrom(NaN, Infinity, -Infinity, min - 1, max + 1, min + 0.5, max - 0.5),
    );
    fc.assert(
      fc.property(outside, (value) => {
        expectRejected({ [name]: value }, INVALID, name, [`from ${min} to ${max}`]);
      }),
      { numRuns: RUNS },
    );
    // Values of other types are refused too, whatever they look like.
    fc.assert(
      fc.property(
        fc.anything().filter((v) => v !== undefined && typeof v !== 'number'),
        (value) => {
          expectRejected({ [name]: value }, INVALID, name, [`from ${min} to ${max}`]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each(['ipv6Only'] as const)('%s: true and false are accepted; anything else is refused naming it', (name) => {
    expect(resolveOptions({ [name]: true })[name]).toBe(true);
    expect(resolveOptions({ [name]: false })[name]).toBe(false);
    fc.assert(
      fc.property(
        fc.anything().filter((v) => v !== undefined && typeof v !== 'boolean'),
        (value) => {
          expectRejected({ [name]: value }, INVALID, name, ['true or false']);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('slowConsumer: "close" and "drop" are accepted; any other value is refused naming both', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.anything()).filter((v) => v !== undefined && v !== 'close' && v !== 'drop'),
        (value) => {
          expectRejected({ slowConsumer: value }, INVALID, 'slowConsumer', ['"close"', '"drop"']);
        },
      ),
      { numRuns: RUNS },
    );
  });

  const invalid: Array<[string, unknown, string, string[]]> = [
    ['keepAliveMs: negative', { keepAliveMs: -1 }, 'keepAliveMs', ['from 0 to 86400000', '-1']],
    ['keepAliveMs: one day and 1 ms', { keepAliveMs: DAY_MS + 1 }, 'keepAliveMs', ['from 0 to 86400000']],
    ['keepAliveMs: a float', { keepAliveMs: 1000.5 }, 'keepAliveMs', ['integer']],
    ['keepAliveMs: a string', { keepAliveMs: '1000' }, 'keepAliveMs', ['"1000"']],
    ['keepAliveMs: true', { keepAliveMs: true }, 'keepAliveMs', []],
    ['keepAliveMs: null', { keepAliveMs: null }, 'keepAliveMs', ['null']],

    ['ipv6Only: a string', { ipv6Only: 'true' }, 'ipv6Only', ['true or false']],
    ['ipv6Only: 1', { ipv6Only: 1 }, 'ipv6Only', ['true or false']],
    ['ipv6Only: null', { ipv6Only: null }, 'ipv6Only', ['true or false']],

    ['idleTimeoutMs: negative', { idleTimeoutMs: -1 }, 'idleTimeoutMs', ['from 0 to 86400000']],
    ['idleTimeoutMs: over a day', { idleTimeoutMs: DAY_MS + 1 }, 'idleTimeoutMs', ['from 0 to 86400000']],
    ['idleTimeoutMs: a float', { idleTimeoutMs: 0.5 }, 'idleTimeoutMs', ['integer']],
    ['idleTimeoutMs: Infinity (for "never", which is 0)', { idleTimeoutMs: Infinity }, 'idleTimeoutMs', ['Infinity']],
    ['idleTimeoutMs: a string', { idleTimeoutMs: '60000' }, 'idleTimeoutMs', []],
    ['idleTimeoutMs: NaN', { idleTimeoutMs: NaN }, 'idleTimeoutMs', ['NaN']],

    ['frameTimeoutMs: negative', { frameTimeoutMs: -1 }, 'frameTimeoutMs', ['from 0 to 86400000']],
    ['closeTimeoutMs: 0', { closeTimeoutMs: 0 }, 'closeTimeoutMs', ['from 1 to 86400000']],
    ['closeTimeoutMs: over a day', { closeTimeoutMs: DAY_MS + 1 }, 'closeTimeoutMs', ['from 1 to 86400000']],
    ['closeTimeoutMs: a fraction', { closeTimeoutMs: 1.5 }, 'closeTimeoutMs', ['from 1 to 86400000']],
    ['frameTimeoutMs: over a day', { frameTimeoutMs: DAY_MS + 1 }, 'frameTimeoutMs', ['from 0 to 86400000']],
    ['frameTimeoutMs: a float', { frameTimeoutMs: 100.25 }, 'frameTimeoutMs', ['integer']],
    ['frameTimeoutMs: null', { frameTimeoutMs: null }, 'frameTimeoutMs', ['null']],
    ['frameTimeoutMs: false (for "off", which is 0)', { frameTimeoutMs: false }, 'frameTimeoutMs', ['false']],

    ['maxConnections: 0', { maxConnections: 0 }, 'maxConnections', ['from 1 to 2147483647']],
    ['maxConnections: negative', { maxConnections: -1 }, 'maxConnections', ['from 1 to 2147483647']],
    ['maxConnections: 2^31', { maxConnections: 2 ** 31 }, 'maxConnections', ['from 1 to 2147483647']],
    ['maxConnections: Infinity (for "no cap", which is the default)', { maxConnections: Infinity }, 'maxConnections', ['Infinity']],
    ['maxConnections: a float', { maxConnections: 10.5 }, 'maxConnections', ['integer']],
    ['maxConnections: a string', { maxConnections: '10' }, 'maxConnections', []],

    ['maxBufferedBytes: 0', { maxBufferedBytes: 0 }, 'maxBufferedBytes', ['from 1 to 1099511627776']],
    ['maxBufferedBytes: 2^40 + 1', { maxBufferedBytes: 2 ** 40 + 1 }, 'maxBufferedBytes', ['from 1 to 1099511627776']],
    ['maxBufferedBytes: negative', { maxBufferedBytes: -MiB }, 'maxBufferedBytes', []],
    ['maxBufferedBytes: a float', { maxBufferedBytes: 1.5 }, 'maxBufferedBytes', ['integer']],
    ['maxBufferedBytes: a string', { maxBufferedBytes: '1MiB' }, 'maxBufferedBytes', ['"1MiB"']],
    ['maxBufferedBytes: a bigint', { maxBufferedBytes: 1024n }, 'maxBufferedBytes', ['1024n']],

    ['slowConsumer: unknown policy', { slowConsumer: 'block' }, 'slowConsumer', ['"close"', '"drop"', '"block"']],
    ['slowConsumer: wrong case', { slowConsumer: 'Close' }, 'slowConsumer', []],
    ['slowConsumer: empty', { slowConsumer: '' }, 'slowConsumer', []],
    ['slowConsumer: null', { slowConsumer: null }, 'slowConsumer', []],
    ['slowConsumer: a boolean', { slowConsumer: true }, 'slowConsumer', []],
  ];
  it.each(invalid)('%s: ERR_FLAMINGO_INVALID_OPTION naming the option', (_label, input, name, mentions) => {
    expectRejected(input, INVALID, name, mentions);
  });

  it('misspelt names of the new options are unknown options, named in the error', () => {
    for (const key of [
      'idleTimeout',
      'idleTimeoutMS',
      'frameTimeout',
      'keepAlive',
      'ipv6only',
      'maxConnection',
      'maxBufferBytes',
      'slowConsumers',
      'lengthFieldBytes',
      'headerBytes',
    ]) {
      expectRejected({ [key]: 1 }, 'ERR_FLAMINGO_UNKNOWN_OPTION', key);
    }
  });
});
