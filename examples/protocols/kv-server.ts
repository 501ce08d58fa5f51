// A tiny Redis-compatible key-value store on the RESP protocol module
// (resp.ts, loaded by every I/O worker by URL): GET, SET, DEL; PING is
// answered in the workers without reaching this thread. Try it with
// `redis-cli -p 9002`.
//
//   node_modules/.bin/node examples/protocols/kv-server.ts [--port 9002] [--host 127.0.0.1] [--workers N]
//
// The first line it prints is `listening on HOST:PORT`. SIGINT or SIGTERM
// shuts down gracefully.

import { startExample, stopOnSignal } from '../start.ts';
import { parseRequest } from './resp.ts';

const { server } = await startExample(9002, {
  protocol: { module: new URL('./resp.ts', import.meta.url), options: { maxArguments: 16 } },
  maxFrameBytes: 64 * 1024,
});

const store = new Map<string, Buffer>();

server.on('data', (id, request) => {
  const [command, ...args] = parseRequest(request);
  // Bytes are sent as a bulk string; a string is a reply line of our own (see resp.ts).
  switch (command?.toString('latin1').toUpperCase()) {
    case 'GET':
      if (args.length !== 1) server.send(id, "-ERR wrong number of arguments for 'get'");
      else server.send(id, store.get(args[0]!.toString()) ?? '$-1');
      break;
    case 'SET':
      if (args.length !== 2) {
        server.send(id, "-ERR wrong number of arguments for 'set'");
        break;
      }
      // The arguments are views of the event ring: keep a copy.
      store.set(args[0]!.toString(), Buffer.from(args[1]!));
      server.send(id, '+OK');
      break;
    case 'DEL':
      server.send(id, `:${args.filter((key) => store.delete(key.toString())).length}`);
      break;
    default:
      server.send(id, `-ERR unknown command '${command?.toString('latin1').replace(/[\r\n]/g, ' ') ?? ''}'`);
  }
});

console.log(`listening on ${server.options.host}:${server.port}`);
stopOnSignal(server);
