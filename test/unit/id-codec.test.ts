// Property tests for the connection id codec (src/shared/id.ts): every
// (node, worker, slot, generation) tuple round-trips through the number and
// the text form, ids are safe integers and unique, a stale generation never
// aliases a live id, and anything that is not an id is rejected with
// ERR_FLAMINGO_INVALID_ID and a message that names the value at fault.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlamingoError } from '../../src/shared/errors.ts';
import {
  MAX_GENERATION,
  MAX_NODES,
  MAX_SLOTS,
  MAX_WORKERS,
  decodeId,
  encodeId,
  formatId,
  idGeneration,
  idNode,
  idSlot,
  idWorker,
  isWellFormedId,
  nextGeneration,
  parseId,
} from '../../src/shared/id.ts';

const RUNS = 2_000;

const parts = fc.record({
  node: fc.integer({ min: 0, max: MAX_NODES - 1 }),
  worker: fc.integer({ min: 0, max: MAX_WORKERS - 1 }),
  slot: fc.integer({ min: 0, max: MAX_SLOTS - 1 }),
  generation: fc.integer({ min: 1, max: MAX_GENERATION }),
});

// Field values biased towards their edges, where carries and rounding bite.
function edgy(max: number, min = 0): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(min, min + 1, max - 1, max), fc.integer({ min, max }));
}
const edgeParts = fc.record({
  node: edgy(MAX_NODES - 1),
  worker: edgy(MAX_WORKERS - 1),
  slot: edgy(MAX_SLOTS - 1),
  generation: edgy(MAX_GENERATION, 1),
});
const anyParts = fc.oneof(parts, edgeParts);

type Parts = { node: number; worker: number; slot: number; generation: number };
const encode = (p: Parts): number => encodeId(p.node, p.worker, p.slot, p.generation);

/** Runs `fn`, expecting a FlamingoError with the id code; returns it. */
function invalidIdError(fn: () => unknown): FlamingoError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a throw').toBeInstanceOf(FlamingoError);
  const err = caught as FlamingoError;
  expect(err.code).toBe('ERR_FLAMINGO_INVALID_ID');
  expect(err.name).toBe('FlamingoError');
  return err;
}

describe('connection id codec', () => {
  it('the field widths fill exactly 53 bits: the largest id is Number.MAX_SAFE_INTEGER', () => {
    expect(MAX_NODES).toBe(256);
    expect(MAX_WORKERS).toBe(64);
    expect(MAX_SLOTS).toBe(2 ** 21);
    expect(MAX_GENERATION).toBe(2 ** 18 - 1);
    expect(encodeId(MAX_NODES - 1, MAX_WORKERS - 1, MAX_SLOTS - 1, MAX_GENERATION)).toBe(Number.MAX_SAFE_INTEGER);
    expect(encodeId(0, 0, 0, 1)).toBe(1);
  });

  it('every tuple round-trips through encodeId and decodeId', () => {
    fc.assert(
      fc.property(anyParts, (p) => {
        const id = encode(p);
        expect(decodeId(id)).toEqual(p);
        expect(idNode(id)).toBe(p.node);
        expect(idWorker(id)).toBe(p.worker);
        expect(idSlot(id)).toBe(p.slot);
        expect(idGeneration(id)).toBe(p.generation);
      }),
      { numRuns: RUNS },
    );
  });

  it('every id is a positive safe integer and well formed', () => {
    fc.assert(
      fc.property(anyParts, (p) => {
        const id = encode(p);
        expect(Number.isSafeInteger(id)).toBe(true);
        expect(id).toBeGreaterThan(0);
        expect(isWellFormedId(id)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('every id round-trips through formatId and parseId, and through String and Number', () => {
    fc.assert(
      fc.property(anyParts, (p) => {
        const id = encode(p);
        const text = formatId(id);
        expect(text).toBe(String(id));
        expect(text).toMatch(/^[1-9][0-9]*$/);
        expect(parseId(text)).toBe(id);
        expect(decodeId(parseId(text))).toEqual(p);
        expect(Number(text)).toBe(id);
        expect(JSON.parse(JSON.stringify({ id })).id).toBe(id);
      }),
      { numRuns: RUNS },
    );
  });

  it('distinct tuples give distinct ids', () => {
    fc.assert(
      fc.property(anyParts, anyParts, (a, b) => {
        fc.pre(a.node !== b.node || a.worker !== b.worker || a.slot !== b.slot || a.generation !== b.generation);
        expect(encode(a)).not.toBe(encode(b));
      }),
      { numRuns: RUNS },
    );
    // And a batch of unique tuples maps to a set of unique ids.
    fc.assert(
      fc.property(
        fc.uniqueArray(anyParts, {
          minLength: 2,
          maxLength: 200,
          selector: (p) => `${p.node}/${p.worker}/${p.slot}/${p.generation}`,
        }),
        (tuples) => {
          expect(new Set(tuples.map(encode)).size).toBe(tuples.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a stale generation of the same node, worker and slot gives a different id', () => {
    fc.assert(
      fc.property(anyParts, edgy(MAX_GENERATION, 1), (p, other) => {
        fc.pre(other !== p.generation);
        const live = encode(p);
        const stale = encodeId(p.node, p.worker, p.slot, other);
        expect(stale).not.toBe(live);
        // The routing fields agree; only the generation tells them apart.
        const decoded = decodeId(stale);
        expect([decoded.node, decoded.worker, decoded.slot]).toEqual([p.node, p.worker, p.slot]);
        expect(decoded.generation).toBe(other);
      }),
      { numRuns: RUNS },
    );
  });

  it('nextGeneration never returns 0, wraps from MAX_GENERATION to 1, and otherwise counts up', () => {
    expect(nextGeneration(MAX_GENERATION)).toBe(1);
    expect(nextGeneration(MAX_GENERATION - 1)).toBe(MAX_GENERATION);
    expect(nextGeneration(0)).toBe(1);
    expect(nextGeneration(1)).toBe(2);
    fc.assert(
      fc.property(edgy(MAX_GENERATION, 0), (g) => {
        const next = nextGeneration(g);
        expect(next).not.toBe(0);
        expect(next).toBeGreaterThanOrEqual(1);
        expect(next).toBeLessThanOrEqual(MAX_GENERATION);
        expect(next).toBe(g === MAX_GENERATION ? 1 : g + 1);
      }),
      { numRuns: RUNS },
    );
  });

  it('a slot cycles through all MAX_GENERATION generations before an id repeats', () => {
    // Walk one whole cycle of a slot: every id is well formed and distinct.
    const seen = new Set<number>();
    let generation = 1;
    let malformed = 0;
    for (let i = 0; i < MAX_GENERATION; i++) {
      const id = encodeId(3, 5, 7, generation);
      if (!isWellFormedId(id)) malformed++;
      seen.add(id);
      generation = nextGeneration(generation);
    }
    expect(malformed).toBe(0);
    expect(generation).toBe(1);
    expect(seen.size).toBe(MAX_GENERATION);
  });

  describe('decodeId and formatId reject what is not an id', () => {
    const badNumbers: Array<[string, unknown]> = [
      ['0', 0],
      ['-0', -0],
      ['negative', -1],
      ['negative of a valid id', -encodeId(1, 2, 3, 4)],
      ['a float', 1.5],
      ['a float near a valid id', encodeId(1, 2, 3, 4) + 0.5],
      ['NaN', NaN],
      ['Infinity', Infinity],
      ['-Infinity', -Infinity],
      ['MAX_SAFE_INTEGER + 1', Number.MAX_SAFE_INTEGER + 1],
      ['2 ** 60', 2 ** 60],
      ['Number.MAX_VALUE', Number.MAX_VALUE],
      ['generation 0 (slot 1)', encodeId(0, 0, 1, 0)],
      ['generation 0 (every other field at its maximum)', encodeId(MAX_NODES - 1, MAX_WORKERS - 1, MAX_SLOTS - 1, 0)],
    ];
    it.each(badNumbers)('rejects %s', (_label, value) => {
      const err = invalidIdError(() => decodeId(value));
      expect(err.message).toContain(String(value));
      invalidIdError(() => formatId(value as number));
      expect(isWellFormedId(value)).toBe(false);
    });

    const notNumbers: Array<[string, unknown, string]> = [
      ['a decimal string', '123', '"123"'],
      ['an empty string', '', '""'],
      ['a bigint', 123n, '123n'],
      ['null', null, 'null'],
      ['undefined', undefined, 'undefined'],
      ['true', true, 'true'],
      ['an object', { id: 1 }, 'an object'],
      ['an array', [1], 'an array'],
      ['a boxed number', Object(5), 'an object'],
      ['a symbol', Symbol('id'), 'Symbol(id)'],
    ];
    it.each(notNumbers)('rejects a non-number: %s', (_label, value, shown) => {
      const err = invalidIdError(() => decodeId(value));
      expect(err.message).toContain(shown);
      invalidIdError(() => formatId(value as number));
    });

    it('rejects every id whose generation is 0', () => {
      fc.assert(
        fc.property(anyParts, (p) => {
          const id = encodeId(p.node, p.worker, p.slot, 0);
          fc.pre(id !== 0);
          const err = invalidIdError(() => decodeId(id));
          expect(err.message).toContain(String(id));
          invalidIdError(() => formatId(id));
          invalidIdError(() => parseId(String(id)));
        }),
        { numRuns: 500 },
      );
    });

    it('rejects every non-integer, negative or unsafe number', () => {
      const bad = fc.oneof(
        fc.double({ noDefaultInfinity: false }).filter((x) => !Number.isSafeInteger(x) || x <= 0),
        fc.integer({ min: -(2 ** 31), max: 0 }),
        fc.constantFrom(Number.MAX_SAFE_INTEGER + 1, Number.MAX_SAFE_INTEGER + 2, 2 ** 53 + 2, 2 ** 64),
      );
      fc.assert(
        fc.property(bad, (value) => {
          const err = invalidIdError(() => decodeId(value));
          expect(err.message).toContain(String(value));
        }),
        { numRuns: 1_000 },
      );
    });
  });

  describe('parseId rejects text that is not the canonical form of an id', () => {
    const badText: Array<[string, string]> = [
      ['empty', ''],
      ['leading space', ' 1'],
      ['trailing space', '1 '],
      ['inner space', '1 2'],
      ['trailing newline', '1\n'],
      ['tab', '\t1'],
      ['zero', '0'],
      ['leading zero', '01'],
      ['many leading zeros', '000123'],
      ['plus sign', '+1'],
      ['minus sign', '-1'],
      ['minus zero', '-0'],
      ['exponent', '1e3'],
      ['capital exponent', '1E3'],
      ['hex', '0x1f'],
      ['capital hex', '0X1F'],
      ['octal prefix', '0o17'],
      ['binary prefix', '0b101'],
      ['float', '1.5'],
      ['float with zero fraction', '1.0'],
      ['trailing dot', '1.'],
      ['leading dot', '.5'],
      ['NaN', 'NaN'],
      ['Infinity', 'Infinity'],
      ['underscore separator', '1_000'],
      ['comma separator', '1,000'],
      ['letters', 'abc'],
      ['digits then letters', '12ab'],
      ['full-width digits', '１２３'],
      ['Arabic-Indic digits', '١٢٣'],
      ['17 digits', '12345678901234567'],
      ['MAX_SAFE_INTEGER + 1', '9007199254740992'],
      ['a huge number', '99999999999999999999999'],
      ['generation 0', String(encodeId(0, 0, 1, 0))],
    ];
    it.each(badText)('rejects %s: %j', (_label, text) => {
      const err = invalidIdError(() => parseId(text));
      // Text the pattern rejects is quoted (JSON-escaped); text that parses
      // but is no id (generation 0, 2 ** 53) is shown as the number it is.
      expect(
        [JSON.stringify(text), text].some((shown) => err.message.includes(shown)),
        err.message,
      ).toBe(true);
    });

    it('names the exact text of a 16-digit id above MAX_SAFE_INTEGER', () => {
      for (const text of ['9007199254740993', '9999999999999999']) {
        const err = invalidIdError(() => parseId(text));
        expect(err.message).toContain(text);
      }
    });

    const notStrings: Array<[string, unknown, string]> = [
      ['a number', 123, '123'],
      ['a valid id as a number', encodeId(1, 2, 3, 4), String(encodeId(1, 2, 3, 4))],
      ['a bigint', 5n, '5n'],
      ['null', null, 'null'],
      ['undefined', undefined, 'undefined'],
      ['an object', {}, 'an object'],
      ['an array of digits', ['1'], 'an array'],
      ['a boxed string', Object('123'), 'an object'],
      ['a Buffer of digits', Buffer.from('123'), 'an object'],
    ];
    it.each(notStrings)('rejects a non-string: %s', (_label, value, shown) => {
      const err = invalidIdError(() => parseId(value));
      expect(err.message).toContain(shown);
    });

    it('rejects a valid id text with any character inserted, prepended or appended', () => {
      const intruder = fc.oneof(
        fc.constantFrom(' ', '+', '-', '.', 'e', 'E', 'x', '_', ',', '\n', '\u00a0', '\u0000', 'n'),
        fc.string({ minLength: 1, maxLength: 1 }).filter((c) => !/[0-9]/.test(c)),
      );
      fc.assert(
        fc.property(anyParts, intruder, fc.nat(), (p, c, at) => {
          const text = String(encode(p));
          const i = at % (text.length + 1);
          const bad = text.slice(0, i) + c + text.slice(i);
          invalidIdError(() => parseId(bad));
        }),
        { numRuns: RUNS },
      );
    });

    it('rejects a valid id text with leading zeros', () => {
      fc.assert(
        fc.property(anyParts, fc.integer({ min: 1, max: 5 }), (p, zeros) => {
          invalidIdError(() => parseId('0'.repeat(zeros) + String(encode(p))));
        }),
        { numRuns: 500 },
      );
    });

    it('rejects every decimal text above Number.MAX_SAFE_INTEGER', () => {
      const above = fc.bigInt({ min: BigInt(Number.MAX_SAFE_INTEGER) + 1n, max: 10n ** 30n });
      fc.assert(
        fc.property(above, (big) => {
          invalidIdError(() => parseId(big.toString()));
        }),
        { numRuns: 1_000 },
      );
    });

    it('accepts exactly the decimal texts of well-formed ids', () => {
      // Any digit string: parseId accepts it iff it is canonical and its value is a well-formed id.
      fc.assert(
        fc.property(fc.stringMatching(/^[0-9]{1,17}$/), (text) => {
          const value = Number(text);
          const canonical = String(value) === text;
          if (canonical && isWellFormedId(value)) {
            expect(parseId(text)).toBe(value);
          } else {
            invalidIdError(() => parseId(text));
          }
        }),
        { numRuns: RUNS },
      );
    });
  });
});
