// The echo demo's line protocol, for `--framing delimiter`: a few commands
// that route through the cluster layer, and every other line echoed back
// exactly as it came.
//
//   ID                   -> "ID <id>"                  this connection's id
//   SEND <id> <text>     -> <text> to connection <id>, on any node; no reply
//   SUB <topic>          -> "OK SUB <topic>"           once the subscription holds on every node
//   UNSUB <topic>        -> "OK UNSUB <topic>"
//   PUB <topic> <text>   -> <text> to every subscriber of <topic>, on every node; no reply
//   a refused command    -> "ERR <CODE> <message>"     (ERR_FLAMINGO_INVALID_ID, ERR_FLAMINGO_INVALID_TOPIC, ...)
//   anything else        -> echoed, byte for byte
//
// A command is an uppercase word at the start of a line followed by a space
// or the end of the line, so ordinary text ("SUBWAY", "Send it") echoes.
// Replies and deliveries are framed with server.frame(): they end in the
// server's delimiter. A topic is one word (PUB's text follows it), so a
// SUB or UNSUB with more than one word after it is refused.

import { FlamingoError, type Server, parseId } from '../src/main/index.ts';

const SPACE = 0x20;
const CR = 0x0d;

/** What a line starts with for each command; the first bytes are checked before anything else is. */
const ID = Buffer.from('ID');
const SEND = Buffer.from('SEND');
const SUB = Buffer.from('SUB');
const UNSUB = Buffer.from('UNSUB');
const PUB = Buffer.from('PUB');
/** First bytes of the commands: I, S, U, P. A line starting with any other byte is echoed without a further look. */
const FIRST = new Uint8Array(256);
for (const word of [ID, SEND, SUB, UNSUB, PUB]) FIRST[word[0]!] = 1;

/**
 * A 'data' listener: commands answered, other frames echoed. Lines are
 * expected with their delimiter kept (keepDelimiter), so an echo is exact;
 * a trailing delimiter and then a trailing \r are ignored when parsing.
 */
export function lineProtocol(server: Server): (id: number, data: Uint8Array) => void {
  const delimiter = server.options.framing.kind === 'delimiter' ? server.options.framing.delimiter : null;
  if (delimiter === null) throw new Error('the line protocol needs the delimiter framing');

  const reply = (id: number, text: string): void => {
    try {
      server.send(id, server.frame(text));
    } catch {
      // The server is shutting down or gone: nobody is left to tell.
    }
  };
  const refuse = (id: number, error: unknown): void => {
    const code = error instanceof FlamingoError ? error.code : (errorCode(error) ?? 'ERR_DEMO');
    const message = error instanceof Error ? error.message : String(error);
    reply(id, `ERR ${code} ${message.replace(/[\r\n]+/g, ' ')}`);
  };

  /** The line without its delimiter and a \r before it: a view, no copy. */
  const body = (data: Uint8Array): Buffer => {
    let end = data.length;
    if (end >= delimiter.length && delimiter.every((byte, i) => data[end - delimiter.length + i] === byte)) end -= delimiter.length;
    if (end > 0 && data[end - 1] === CR) end--;
    return Buffer.from(data.buffer, data.byteOffset, end);
  };

  const subscription = async (id: number, word: 'SUB' | 'UNSUB', topic: string): Promise<void> => {
    try {
      if (word === 'SUB') {
        // False: the connection closed meanwhile, and there is nobody to answer.
        if (await server.subscribe(id, topic)) reply(id, `OK SUB ${topic}`);
      } else {
        await server.unsubscribe(id, topic);
        reply(id, `OK UNSUB ${topic}`);
      }
    } catch (error) {
      refuse(id, error);
    }
  };

  /** Runs the command in `line`; false when the line is not a command (and is to be echoed). */
  const command = (id: number, line: Buffer): boolean => {
    if (isWord(line, ID)) {
      reply(id, `ID ${id}`);
    } else if (isWord(line, SEND)) {
      // `data` is a view into a ring, valid during this call only: frame() copies the text now.
      const [target, text] = split(line, SEND.length + 1);
      server.send(parseId(target.toString('latin1')), server.frame(text));
    } else if (isWord(line, SUB)) {
      void subscription(id, 'SUB', oneWord(line, SUB.length + 1));
    } else if (isWord(line, UNSUB)) {
      void subscription(id, 'UNSUB', oneWord(line, UNSUB.length + 1));
    } else if (isWord(line, PUB)) {
      const [topic, text] = split(line, PUB.length + 1);
      server.publish(topic.toString('utf8'), server.frame(text));
    } else {
      return false;
    }
    return true;
  };

  return (id, data) => {
    // The cost for plain echo: one table lookup on the first byte.
    if (FIRST[data[0]!] !== 1) {
      server.send(id, data);
      return;
    }
    let handled: boolean;
    try {
      handled = command(id, body(data));
    } catch (error) {
      refuse(id, error);
      return;
    }
    if (!handled) server.send(id, data);
  };
}

/** Whether `line` is `word` alone or `word` and a space. */
function isWord(line: Buffer, word: Buffer): boolean {
  if (line.length < word.length) return false;
  for (let i = 0; i < word.length; i++) if (line[i] !== word[i]) return false;
  return line.length === word.length || line[word.length] === SPACE;
}

/** What follows `from` (empty past the end). */
function rest(line: Buffer, from: number): Buffer {
  return line.subarray(Math.min(from, line.length));
}

/** From `from`: the word up to the next space, and everything after that space. */
function split(line: Buffer, from: number): [Buffer, Buffer] {
  const tail = rest(line, from);
  const space = tail.indexOf(SPACE);
  return space < 0 ? [tail, tail.subarray(tail.length)] : [tail.subarray(0, space), tail.subarray(space + 1)];
}

/** The topic of SUB or UNSUB: the one word after the command. */
function oneWord(line: Buffer, from: number): string {
  const [word, more] = split(line, from);
  if (more.length > 0) throw new FlamingoError('ERR_FLAMINGO_INVALID_TOPIC', 'a topic in the demo is one word: SUB <topic>');
  return word.toString('utf8');
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]+$/.test(code) ? code : undefined;
}
