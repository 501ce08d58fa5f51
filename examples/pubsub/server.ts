// A Redis-protocol pub/sub server on Flamingo, for unmodified Redis
// clients: redis-cli, ioredis, node-redis, redis-benchmark.
//
//   npm run example:pubsub -- --port 6380 [--host 127.0.0.1] [--workers N]
//   npm run example:pubsub -- --port 6380 --processes 3 --redis redis://127.0.0.1:6379 [--prefix P]
//
// One process prints `listening on HOST:PORT` as its first line. With
// --processes N it runs N copies of itself on one port (processes.ts: each
// with --share-port and --node auto, restarted if it dies), routed through
// Redis, and prints `listening on HOST:PORT with N processes` once every
// copy listens. SIGINT or SIGTERM shuts down gracefully.
//
// The parts: protocol.ts runs in the I/O workers (RESP framing, replies,
// fan-out, pattern matching), broker.ts and commands.ts on the main thread
// (sessions, subscriptions, publishing, the command table).

import { fileURLToPath } from 'node:url';
import { announceListening, supervise, supervisedChild } from '../processes.ts';
import { type ExampleFlags, exampleFlags, listenOrExit, stopOnSignal } from '../start.ts';
import { Broker } from './broker.ts';
import { execute } from './commands.ts';

const DEFAULT_PORT = 6380;
const MAX_PROCESSES = 255;
/** A request's arguments at most; Redis allows more, but a request is bounded by maxFrameBytes anyway. */
const MAX_ARGUMENTS = 1024 * 1024;

const USAGE = `usage: npm run example:pubsub -- [flags]

  --port N          port to listen on [default: ${DEFAULT_PORT}]
  --host ADDRESS    address to listen on [default: 127.0.0.1]
  --workers N       I/O worker threads [default: one per core]
  --redis URL       route channels between processes through Redis at redis://host:port
  --prefix TEXT     prefix of the Redis keys and channels Flamingo uses [default: flamingo]
  --processes N     run N copies on one port (needs --redis), restarting any that dies
  --share-port      let other processes listen on the port too (what --processes gives each copy)
  --node N|auto     node number, or 'auto' to lease one from Redis (what --processes gives each copy)`;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function readFlags(): ExampleFlags {
  try {
    return exampleFlags(DEFAULT_PORT, {
      redis: { type: 'string' },
      prefix: { type: 'string' },
      processes: { type: 'string' },
      'share-port': { type: 'boolean' },
      node: { type: 'string' },
      help: { type: 'boolean' },
    });
  } catch (error) {
    fail((error as Error).message);
  }
}

/** --processes N: this process supervises N copies of itself and serves nothing. */
async function superviseCopies(flags: ExampleFlags): Promise<void> {
  const processes = Number(flags.processes);
  if (!Number.isInteger(processes) || processes < 2 || processes > MAX_PROCESSES) fail(`--processes must be an integer from 2 to ${MAX_PROCESSES}`);
  if (flags.redis === undefined) fail('--processes needs --redis URL: the processes route channels to each other through Redis');
  const args = ['--host', String(flags.host), '--redis', String(flags.redis), '--share-port', '--node', 'auto'];
  if (flags.workers !== undefined) args.push('--workers', String(flags.workers));
  if (flags.prefix !== undefined) args.push('--prefix', String(flags.prefix));
  process.exitCode = await supervise({
    script: fileURLToPath(import.meta.url),
    args,
    processes,
    port: Number(flags.port),
    metricsPort: -1,
    name: 'pubsub',
    ready: (port) => console.log(`listening on ${flags.host}:${port} with ${processes} processes`),
  });
}

async function serve(flags: ExampleFlags): Promise<void> {
  const supervised = supervisedChild();
  const node = flags.node === undefined ? undefined : flags.node === 'auto' ? 'auto' : Number(flags.node);
  const server = await listenOrExit(flags, {
    protocol: { module: new URL('./protocol.ts', import.meta.url), options: { maxArguments: MAX_ARGUMENTS } },
    ...(flags.redis === undefined ? {} : { cluster: { redis: String(flags.redis), ...(flags.prefix === undefined ? {} : { prefix: String(flags.prefix) }) } }),
    ...(flags['share-port'] === true ? { sharePort: true } : {}),
    ...(node === undefined ? {} : { node }),
  });
  new Broker(server, execute);
  if (server.options.cluster !== null) {
    // Redis away: the server keeps serving and recovers by itself; said once per problem, not once per retry.
    let lastProblem = '';
    server.on('routeError', (error) => {
      if (error.message !== lastProblem) console.error(`route error: ${error.message}`);
      lastProblem = error.message;
    });
  }
  console.log(`listening on ${server.options.host}:${server.port}`);
  if (server.options.cluster !== null) console.log(`node ${server.node}, routing through Redis (live nodes ${server.nodes().join(', ')})`);
  const stopper = stopOnSignal(server);
  if (supervised) announceListening(server, stopper);
}

const flags = readFlags();
if (flags.help === true) console.log(USAGE);
else if (flags.processes !== undefined) await superviseCopies(flags);
else await serve(flags);
