// RESP replies, in the version each connection speaks (RESP2 unless it said
// HELLO 3), and the texts of Redis's errors, byte for byte: a client that
// matches on an error's text (ioredis falls back to RESP2 on NOPROTO) must
// find it here as it would in Redis.

export type RespVersion = 2 | 3;

/** A reply under construction: pieces, joined once. */
export class Reply {
  readonly #parts: Buffer[] = [];
  readonly version: RespVersion;

  constructor(version: RespVersion) {
    this.version = version;
  }

  /** `+text` */
  simple(text: string): this {
    return this.#text(`+${text}\r\n`);
  }

  /** `-ERR text`, or `-CODE text` for a text that starts with its own `-CODE` (as Redis's addReplyError). */
  error(text: string): this {
    return this.#text(`${text.startsWith('-') ? '' : '-ERR '}${errorText(text)}\r\n`);
  }

  integer(value: number): this {
    return this.#text(`:${value}\r\n`);
  }

  bulk(bytes: Uint8Array | string): this {
    // Copied: an argument is a view of the event ring, valid only while its data handler runs.
    const data = Buffer.from(bytes);
    this.#text(`$${data.length}\r\n`);
    this.#parts.push(data, CRLF);
    return this;
  }

  null(): this {
    return this.#text(this.version === 3 ? '_\r\n' : '$-1\r\n');
  }

  array(length: number): this {
    return this.#text(`*${length}\r\n`);
  }

  /** A map of `pairs` entries: flattened into an array in RESP2. */
  map(pairs: number): this {
    return this.#text(this.version === 3 ? `%${pairs}\r\n` : `*${pairs * 2}\r\n`);
  }

  /** A push (pub/sub confirmations and messages): an array in RESP2. */
  push(length: number): this {
    return this.#text(`${this.version === 3 ? '>' : '*'}${length}\r\n`);
  }

  /** Text meant for people (INFO): a verbatim string in RESP3, a bulk string in RESP2. */
  verbatim(text: string): this {
    if (this.version === 2) return this.bulk(text);
    const data = Buffer.from(`txt:${text}`);
    this.#text(`=${data.length}\r\n`);
    this.#parts.push(data, CRLF);
    return this;
  }

  get empty(): boolean {
    return this.#parts.length === 0;
  }

  bytes(): Buffer {
    return this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts);
  }

  #text(text: string): this {
    this.#parts.push(Buffer.from(text, 'latin1'));
    return this;
  }
}

const CRLF = Buffer.from('\r\n');

/** As Redis's addReplyErrorFormat: CR and LF trimmed from both ends, and any left inside turned into spaces, so the error stays one line. */
function errorText(text: string): string {
  return text.replace(/^[\r\n]+|[\r\n]+$/g, '').replace(/[\r\n]/g, ' ');
}

/** An argument as printf's `%.Ns` prints a C string: up to its first NUL, at most `max` bytes. */
function cString(bytes: Uint8Array, max: number): string {
  const nul = bytes.indexOf(0);
  const end = Math.min(nul === -1 ? bytes.length : nul, max);
  return Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('latin1');
}

/** Redis's reply to a command it does not know. */
export function unknownCommand(args: readonly Uint8Array[]): string {
  let rest = '';
  // Arguments are quoted until the text reaches 128 characters, the last one cut to fit.
  for (let i = 1; i < args.length && rest.length < 128; i++) rest += `'${cString(args[i]!, 128 - rest.length)}' `;
  return `unknown command '${cString(args[0]!, 128)}', with args beginning with: ${rest}`;
}

/** Redis's reply to a subcommand its container command does not have. */
export function unknownSubcommand(args: readonly Uint8Array[]): string {
  // sdstoupper() changes ASCII letters only.
  const container = cString(args[0]!, Infinity).replace(/[a-z]/g, (c) => c.toUpperCase());
  return `unknown subcommand '${cString(args[1]!, 128)}'. Try ${container} HELP.`;
}

export function wrongArity(fullName: string): string {
  return `wrong number of arguments for '${fullName}' command`;
}

/** Redis's reply, on a RESP2 connection with subscriptions, to a command other than the few pub/sub allows. */
export function notInSubscribedMode(fullName: string): string {
  return `Can't execute '${fullName}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`;
}

export const NOT_AN_INTEGER = 'value is not an integer or out of range';
