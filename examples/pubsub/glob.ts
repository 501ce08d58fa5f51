// Redis's glob patterns (PSUBSCRIBE, KEYS), matched byte for byte as
// Redis's stringmatchlen() matches them, quirks included:
//
//   *        any run of bytes, but not an empty channel ("*" matches no "")
//   ?        any one byte
//   [abc]    one of the listed bytes; [^abc] one not listed; [a-z] a range
//            (either way round, `[z-a]` too); \x inside brackets is x
//   \x       the byte x itself
//
// An unclosed `[` takes the rest of the pattern as its set. Bytes compare as
// C's signed chars, so in a range a byte of 0x80 or more sorts below 0x00.
// Past 1,000 nested stars a pattern matches nothing, and once the rest of a
// pattern has failed at every position after a star, no earlier star is
// retried (Redis's guards against patterns that would take exponential time).

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;
const BACKSLASH = 0x5c;
const MAX_NESTING = 1000;

/** Whether `subject` matches `pattern`, both raw bytes. */
export function globMatch(pattern: Uint8Array, subject: Uint8Array): boolean {
  return new Matcher(pattern, subject).match(0, 0, 0);
}

/** A byte as C's (signed) char: what Redis compares in a range. */
function signed(byte: number): number {
  return (byte << 24) >> 24;
}

class Matcher {
  readonly #pattern: Uint8Array;
  readonly #subject: Uint8Array;
  /** Set once the rest of the pattern failed after a star at every position: longer matches for earlier stars cannot help. */
  #skipLongerMatches = false;

  constructor(pattern: Uint8Array, subject: Uint8Array) {
    this.#pattern = pattern;
    this.#subject = subject;
  }

  /** The pattern byte at `i`, or 0 past its end (Redis's patterns are NUL-terminated). */
  #p(i: number): number {
    return i < this.#pattern.length ? this.#pattern[i]! : 0;
  }

  match(p: number, s: number, nesting: number): boolean {
    if (nesting > MAX_NESTING) return false;
    const pattern = this.#pattern;
    const subject = this.#subject;
    const patternEnd = pattern.length;
    const subjectEnd = subject.length;
    while (p < patternEnd && s < subjectEnd) {
      switch (pattern[p]) {
        case STAR: {
          while (p < patternEnd && this.#p(p + 1) === STAR) p++;
          if (p === patternEnd - 1) return true;
          for (; s < subjectEnd; s++) {
            if (this.match(p + 1, s, nesting + 1)) return true;
            if (this.#skipLongerMatches) return false;
          }
          this.#skipLongerMatches = true;
          return false;
        }
        case QUESTION:
          s++;
          break;
        case OPEN: {
          p++;
          const not = this.#p(p) === CARET;
          if (not) p++;
          let matched = false;
          const c = subject[s]!;
          for (;;) {
            if (this.#p(p) === BACKSLASH && patternEnd - p >= 2) {
              p++;
              if (pattern[p] === c) matched = true;
            } else if (this.#p(p) === CLOSE) {
              break;
            } else if (p >= patternEnd) {
              // Unclosed: step back so the step past the bracket below lands on the end.
              p--;
              break;
            } else if (patternEnd - p >= 3 && pattern[p + 1] === DASH) {
              let start = signed(pattern[p]!);
              let end = signed(pattern[p + 2]!);
              if (start > end) [start, end] = [end, start];
              p += 2;
              const value = signed(c);
              if (value >= start && value <= end) matched = true;
            } else if (pattern[p] === c) {
              matched = true;
            }
            p++;
          }
          if (not) matched = !matched;
          if (!matched) return false;
          s++;
          break;
        }
        case BACKSLASH:
          if (patternEnd - p >= 2) p++;
          if (pattern[p] !== subject[s]) return false;
          s++;
          break;
        default:
          if (pattern[p] !== subject[s]) return false;
          s++;
          break;
      }
      p++;
      if (s === subjectEnd) {
        while (this.#p(p) === STAR) p++;
        break;
      }
    }
    return p >= patternEnd && s === subjectEnd;
  }
}
