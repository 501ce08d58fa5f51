// The pub/sub example's glob matcher (examples/pubsub/glob.ts) against
// Redis's rules for PSUBSCRIBE patterns: the classes, escapes, unclosed
// brackets, byte ranges compared as signed chars, and a star that never
// matches an empty channel. test/e2e/pubsub-differential.test.ts checks the
// same matcher against a real redis-server.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globMatch } from '../../examples/pubsub/glob.ts';

const match = (pattern: string | Buffer, subject: string | Buffer): boolean =>
  globMatch(typeof pattern === 'string' ? Buffer.from(pattern, 'latin1') : pattern, typeof subject === 'string' ? Buffer.from(subject, 'latin1') : subject);

describe('Redis glob patterns', () => {
  it.each([
    ['news.*', 'news.sports', true],
    ['news.*', 'news.', true],
    ['news.*', 'news', false],
    ['*', 'anything', true],
    ['*', '', false],
    ['', '', true],
    ['', 'a', false],
    ['**', 'a', true],
    ['a*', 'a', true],
    ['a**b', 'ab', true],
    ['*a*b*', 'xxaxxbxx', true],
    ['*a*b*', 'xxbxxaxx', false],
    ['h?llo', 'hello', true],
    ['h?llo', 'hllo', false],
    ['h[ae]llo', 'hallo', true],
    ['h[ae]llo', 'hillo', false],
    ['h[^e]llo', 'hallo', true],
    ['h[^e]llo', 'hello', false],
    ['h[a-c]llo', 'hbllo', true],
    ['h[a-c]llo', 'hdllo', false],
    ['h[c-a]llo', 'hbllo', true],
    // The closing bracket is taken as a range's end: [a-] is the range from ']' to 'a'.
    ['[a-]', '-', false],
    ['[a-]', '_', true],
    ['[a-]', 'a', true],
    ['[\\]]', ']', true],
    ['[\\-x]', '-', true],
    ['h\\*llo', 'h*llo', true],
    ['h\\*llo', 'hello', false],
    ['h\\?', 'h?', true],
    ['h\\?', 'hx', false],
    ['a\\', 'a\\', true],
    ['\\', '\\', true],
    ['[', 'x', false],
    ['[', '[', false],
    ['[^', 'x', true],
    ['[abc', 'b', true],
    ['[abc', 'bc', false],
    ['x[', 'x', false],
  ])('%j against %j: %s', (pattern, subject, expected) => {
    expect(match(pattern, subject)).toBe(expected);
  });

  it('compares bytes in a range as signed chars: a byte of 0x80 or more sorts below 0x00', () => {
    // [\x00-\xff] is the range from -1 to 0 once signed: it holds 0xff and 0x00 only.
    const range = Buffer.from([0x5b, 0x00, 0x2d, 0xff, 0x5d]);
    expect(match(range, Buffer.from([0x00]))).toBe(true);
    expect(match(range, Buffer.from([0xff]))).toBe(true);
    expect(match(range, Buffer.from([0x41]))).toBe(false);
    expect(match(range, Buffer.from([0x80]))).toBe(false);
    // [\x80-\xfe] spans -128 to -2.
    const high = Buffer.from([0x5b, 0x80, 0x2d, 0xfe, 0x5d]);
    expect(match(high, Buffer.from([0x90]))).toBe(true);
    expect(match(high, Buffer.from([0xff]))).toBe(false);
  });

  it('matches binary channels byte for byte, NUL included', () => {
    expect(match(Buffer.from([0x61, 0x00, 0x2a]), Buffer.from([0x61, 0x00, 0x62]))).toBe(true);
    expect(match(Buffer.from([0x61, 0x00, 0x2a]), Buffer.from([0x61, 0x01, 0x62]))).toBe(false);
  });

  it('a pattern with no special byte matches exactly itself', () => {
    const plain = fc.string({ unit: fc.constantFrom('a', 'b', '.', ':', 'z'), maxLength: 12 });
    fc.assert(fc.property(plain, plain, (pattern, subject) => match(pattern, subject) === (pattern === subject)));
  });

  it('over stars and question marks, matches as the equivalent regular expression does, for any channel but the empty one', () => {
    const toRegExp = (pattern: string): RegExp => new RegExp(`^${pattern.replace(/\*/g, '[\\s\\S]*').replace(/\?/g, '[\\s\\S]')}$`);
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', 'b', '*', '?'), maxLength: 10 }),
        fc.string({ unit: fc.constantFrom('a', 'b'), minLength: 1, maxLength: 12 }),
        (pattern, subject) => match(pattern, subject) === toRegExp(pattern).test(subject),
      ),
      { numRuns: 3000 },
    );
  });

  it('a pattern of many stars takes linear time on a channel it cannot match', () => {
    const pattern = `${'*a'.repeat(50)}b`;
    const subject = 'a'.repeat(200);
    const started = performance.now();
    expect(match(pattern, subject)).toBe(false);
    expect(performance.now() - started).toBeLessThan(200);
  });
});
