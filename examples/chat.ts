// A line-based chat room: every line a client sends goes to every other
// client, prefixed with the sender's id (or its nickname). Joins, leaves
// and nickname changes are announced. Try it with two or more
// `nc 127.0.0.1 9003`.
//
//   node_modules/.bin/node examples/chat.ts [--port 9003] [--host 127.0.0.1] [--workers N]
//
// Commands a client may type: `/nick NAME` (a letter, then letters, digits,
// - or _, up to 24 in all; names are unique and never look like an id). The first line it prints is `listening on HOST:PORT` (use --port 0
// for a free port). SIGINT or SIGTERM tells everyone, then shuts down
// gracefully.

import { startExample, stopOnSignal } from './start.ts';

/** Longest line a client may send; a longer one closes it with 'frame-too-large'. */
const MAX_LINE_BYTES = 4096;
const NICK = /^[A-Za-z][A-Za-z0-9_-]{0,23}$/;

const { server } = await startExample(9003, {
  // One frame per line, without its '\n' (a trailing '\r' is trimmed below).
  framing: 'delimiter',
  delimiter: '\n',
  keepDelimiter: false,
  maxFrameBytes: MAX_LINE_BYTES + 1,
});

/** Who is in the room: id -> nickname (the id itself until one is chosen). */
const members = new Map<number, string>();
// Queued before shutdown begins, so shutdown delivers it before closing each connection.
const stopper = stopOnSignal(server, { before: () => broadcast('* the server is shutting down') });

/** Sends one line to every member except `except`: one copy per I/O worker, not per client. */
function broadcast(line: string, except?: number): void {
  const ids = [...members.keys()].filter((id) => id !== except);
  if (ids.length > 0) server.sendMany(ids, `${line}\n`);
}

server.on('open', (id, { address, port }) => {
  broadcast(`* ${id} joined`);
  members.set(id, String(id));
  server.send(id, `* welcome, you are ${id}; ${members.size - 1} others here; /nick NAME to choose a name\n`);
  console.log(`join ${id} from ${address}:${port} (${members.size} in the room)`);
});

server.on('data', (id, bytes) => {
  // `bytes` is a view into the ring, valid only during this call: decode it now.
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8').replace(/\r$/, '');
  const name = members.get(id);
  if (name === undefined || text === '') return;
  const nick = /^\/nick\s+(.*)$/.exec(text);
  if (nick !== null) {
    const wanted = nick[1]!.trim();
    if (!NICK.test(wanted)) {
      server.send(id, `* a name is a letter, then letters, digits, - or _, up to 24 in all\n`);
      return;
    }
    if ([...members.values()].includes(wanted)) {
      server.send(id, `* ${wanted} is taken\n`);
      return;
    }
    members.set(id, wanted);
    broadcast(`* ${name} is now ${wanted}`);
    return;
  }
  broadcast(`${name}: ${text}`, id);
});

server.on('close', (id, reason) => {
  const name = members.get(id);
  members.delete(id);
  if (name === undefined) return;
  console.log(`leave ${id}: ${reason} (${members.size} in the room)`);
  // During shutdown sends are refused (they return false): don't bother.
  if (!stopper.stopping) broadcast(`* ${name} left (${reason})`);
});

console.log(`listening on ${server.options.host}:${server.port}`);
console.log(`${server.workerCount} I/O workers, lines up to ${MAX_LINE_BYTES} bytes`);
