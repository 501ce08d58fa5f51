// Inline commands (`SET k "a b"\r\n`), split into arguments by the rules of
// Redis's sdssplitargs(): blanks between arguments; "double quotes" with
// \n \r \t \b \a \xHH and \<any> escapes; 'single quotes' with only \'; a
// closing quote must be followed by a blank or the end of the line. A line
// that breaks these rules is refused: Redis answers "unbalanced quotes".

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const DOUBLE = 0x22;
const SINGLE = 0x27;
const BACKSLASH = 0x5c;

/** C's isspace(): space, \t, \n, \v, \f, \r. */
function isSpace(byte: number): boolean {
  return byte === SPACE || (byte >= TAB && byte <= CR);
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  return -1;
}

const ESCAPES: Record<number, number> = { 110: LF, 114: CR, 116: TAB, 98: 0x08, 97: 0x07 };

/**
 * The arguments of the inline command in line[from, to) (its line end
 * excluded), or undefined for unbalanced quotes. The line is read as Redis
 * reads a C string: a NUL ends it.
 */
export function splitInline(line: Uint8Array, from: number, to: number): Buffer[] | undefined {
  const at = (i: number): number => (i < to ? line[i]! : NUL);
  const args: Buffer[] = [];
  let p = from;
  for (;;) {
    while (at(p) !== NUL && isSpace(at(p))) p++;
    if (at(p) === NUL) return args;
    const current: number[] = [];
    let inDouble = false;
    let inSingle = false;
    for (let done = false; !done; ) {
      const c = at(p);
      if (inDouble) {
        if (c === BACKSLASH && at(p + 1) === 0x78 && hexValue(at(p + 2)) >= 0 && hexValue(at(p + 3)) >= 0) {
          current.push(hexValue(at(p + 2)) * 16 + hexValue(at(p + 3)));
          p += 3;
        } else if (c === BACKSLASH && at(p + 1) !== NUL) {
          p++;
          current.push(ESCAPES[at(p)] ?? at(p));
        } else if (c === DOUBLE) {
          if (at(p + 1) !== NUL && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (c === NUL) {
          return undefined;
        } else {
          current.push(c);
        }
      } else if (inSingle) {
        if (c === BACKSLASH && at(p + 1) === SINGLE) {
          p++;
          current.push(SINGLE);
        } else if (c === SINGLE) {
          if (at(p + 1) !== NUL && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (c === NUL) {
          return undefined;
        } else {
          current.push(c);
        }
      } else if (c === SPACE || c === LF || c === CR || c === TAB || c === NUL) {
        // Only these end an unquoted argument; \v and \f are skipped between arguments but kept inside one.
        done = true;
      } else if (c === DOUBLE) {
        inDouble = true;
      } else if (c === SINGLE) {
        inSingle = true;
      } else {
        current.push(c);
      }
      if (at(p) !== NUL) p++;
    }
    args.push(Buffer.from(current));
  }
}
