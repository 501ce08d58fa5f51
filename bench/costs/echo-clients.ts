// A client process for the cost benchmarks: opens `count`
// connections (from source address 127.0.0.<src> so ports do not run out),
// keeps one verified message in flight on each for `seconds`, and prints one
// JSON line: messages, bytes, errors (any byte out of place, any lost
// connection), its CPU seconds.
//
//   node bench/costs/echo-clients.ts PORT COUNT SECONDS SIZE SRC

import net from 'node:net';

const [port, count, seconds, size, src] = process.argv.slice(2).map(Number) as [number, number, number, number, number];
let messages = 0;
let bytes = 0;
let errors = 0;
let running = true;
/** What went wrong, by kind: a byte out of place, a socket error (by code), a close. */
const failures: Record<string, number> = {};
function fail(kind: string): void {
  errors++;
  failures[kind] = (failures[kind] ?? 0) + 1;
}
const sockets: net.Socket[] = [];

/** The message for (connection, sequence): any misrouted or reordered byte shows. */
function message(connection: number, sequence: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (connection * 2654435761 + sequence * 40503 + 1) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function start(index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${src + (index % 50)}`, noDelay: true });
    let sequence = 0;
    let expected = message(index, sequence);
    let at = 0;
    socket.on('connect', () => {
      socket.write(expected);
      resolve();
    });
    socket.on('data', (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i++) {
        if (chunk[i] !== expected[at++]) {
          fail('mismatch');
          socket.destroy();
          return;
        }
        if (at === size) {
          messages++;
          bytes += size;
          at = 0;
          expected = message(index, ++sequence);
          if (running) socket.write(expected);
        }
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (running) fail(`error ${error.code ?? error.message}`);
      reject(error);
    });
    socket.on('close', () => {
      if (running) fail('closed');
    });
    sockets.push(socket);
  });
}

const opening: Promise<void>[] = [];
for (let i = 0; i < count; i++) {
  opening.push(start(i).catch(() => {}));
  if (i % 200 === 199) await Promise.all(opening.splice(0));
}
await Promise.all(opening);
process.stdout.write(`${JSON.stringify({ event: 'connected' })}\n`);
const cpu = process.cpuUsage();
const before = messages;
setTimeout(() => {
  running = false;
  const used = process.cpuUsage(cpu);
  process.stdout.write(
    `${JSON.stringify({ event: 'result', messages: messages - before, bytes, errors, failures, cpuSeconds: (used.user + used.system) / 1e6 })}\n`,
  );
  for (const socket of sockets) socket.destroy();
  process.exit(0);
}, seconds * 1000);
