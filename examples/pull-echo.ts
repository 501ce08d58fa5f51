// An echo server in the Go original's pull style: no listeners, only loops
// that await recvOpen(), recvData() and recvClose(). Try it with
// `nc 127.0.0.1 9001`.
//
//   node_modules/.bin/node examples/pull-echo.ts [--port 9001] [--host 127.0.0.1] [--workers N] [--loops 4]
//
// The first line it prints is `listening on HOST:PORT` (use --port 0 for a
// free port). SIGINT or SIGTERM shuts down gracefully.

import { startExample, stopOnSignal } from './start.ts';

const { server, flags: values } = await startExample(9001, {}, { loops: { type: 'string', default: '4' } });

// Start the loops now, before awaiting anything else, so they see every event
// of their kind. Every pull resolves with null once the server has shut down
// and every event of its kind was handed out, so each loop ends by itself.

let connected = 0;

async function openLoop(): Promise<void> {
  for (let open = await server.recvOpen(); open !== null; open = await server.recvOpen()) {
    connected++;
    console.log(`open ${open.id} from ${open.address}:${open.port} (${connected} connected)`);
  }
}

async function closeLoop(): Promise<void> {
  for (let close = await server.recvClose(); close !== null; close = await server.recvClose()) {
    connected--;
    console.log(`close ${close.id}: ${close.reason} (${connected} connected)`);
  }
}

/** Several of these run at once; each frame goes to exactly one of them. */
async function dataLoop(): Promise<number> {
  let echoed = 0;
  for (let event = await server.recvData(); event !== null; event = await server.recvData()) {
    // event.data is a copy this loop owns, so it may cross an await safely.
    server.send(event.id, event.data);
    echoed++;
  }
  return echoed;
}

const loops = Math.max(1, Math.min(64, Number(values.loops) || 1));
const echoLoops = Promise.all(Array.from({ length: loops }, dataLoop));
const eventLoops = Promise.all([openLoop(), closeLoop()]);

console.log(`listening on ${server.options.host}:${server.port}`);
console.log(`${server.workerCount} I/O workers, ${loops} data loops`);

stopOnSignal(server, {
  after: async (report) => {
    // The pulls resolve null now, so every loop has ended or is about to.
    const echoed = await echoLoops;
    await eventLoops;
    const total = echoed.reduce((sum, n) => sum + n, 0);
    return `stopped: ${total} frames echoed, ${report.abandonedBytes} bytes abandoned`;
  },
});
