// The Go original's echo server, on every core: each byte comes back exactly as it
// arrived. Try it with any client, e.g. `nc 127.0.0.1 9000`.
//
//   npm start -- --port 9100 --host 127.0.0.1 --workers 2
//
// Flags are the server options in kebab-case; PORT in the environment works
// too. SIGINT or SIGTERM shuts down gracefully.

import { parseArgs } from 'node:util';
import { FlamingoError, listen, type ServerOptions } from '../src/main/index.ts';

const usage = `usage: npm start -- [--port N] [--host ADDRESS] [--workers N] [--backlog N]
    [--framing raw|delimiter|length-prefix] [--delimiter TEXT (\\n, \\r\\n escapes)]
    [--length-bytes 1|2|4|8] [--little-endian] [--max-frame-bytes N]
    [--idle-timeout-ms N] [--frame-timeout-ms N] [--close-timeout-ms N] [--max-connections N]
    [--max-buffered-bytes N] [--slow-consumer close|drop]
    [--no-delay true|false] [--keep-alive-ms N] [--share-port] [--metrics-port N] [--quiet]`;

/** Integer flags, named as the option in kebab-case. */
const INTEGER_FLAGS = {
  workers: 'workers',
  backlog: 'backlog',
  'length-bytes': 'lengthBytes',
  'max-frame-bytes': 'maxFrameBytes',
  'idle-timeout-ms': 'idleTimeoutMs',
  'frame-timeout-ms': 'frameTimeoutMs',
  'close-timeout-ms': 'closeTimeoutMs',
  'max-connections': 'maxConnections',
  'max-buffered-bytes': 'maxBufferedBytes',
  'keep-alive-ms': 'keepAliveMs',
  'metrics-port': 'metricsPort',
} as const;

function parseFlags(): { options: ServerOptions; quiet: boolean } {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      framing: { type: 'string' },
      delimiter: { type: 'string' },
      'little-endian': { type: 'boolean' },
      'share-port': { type: 'boolean' },
      'no-delay': { type: 'string' },
      'slow-consumer': { type: 'string' },
      ...Object.fromEntries(Object.keys(INTEGER_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const options: ServerOptions = {
    port: integerFlag('port', String(values.port ?? process.env.PORT ?? '9000')),
    host: String(values.host ?? '127.0.0.1'),
  };
  const settable = options as Record<string, unknown>;
  for (const [flag, option] of Object.entries(INTEGER_FLAGS)) {
    const text = values[flag as keyof typeof values];
    if (text !== undefined) settable[option] = integerFlag(flag, String(text));
  }
  if (values.framing !== undefined) options.framing = values.framing as ServerOptions['framing'];
  if (values.delimiter !== undefined) options.delimiter = unescape(String(values.delimiter));
  if (values['little-endian']) options.littleEndian = true;
  if (values['share-port']) options.sharePort = true;
  if (values['no-delay'] !== undefined) options.noDelay = booleanFlag('no-delay', String(values['no-delay']));
  if (values['slow-consumer'] !== undefined) options.slowConsumer = values['slow-consumer'] as ServerOptions['slowConsumer'];
  // The demo echoes each frame exactly as it came on the wire.
  if (options.framing === 'delimiter') options.keepDelimiter = true;
  if (options.framing === 'length-prefix') options.keepHeader = true;
  return { options, quiet: values.quiet === true };
}

function booleanFlag(name: string, text: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new FlamingoError('ERR_FLAMINGO_INVALID_OPTION', `--${name} must be true or false; got ${JSON.stringify(text)}`);
}

function integerFlag(name: string, text: string): number {
  // Let the option check name the range; only reject what is not a number at all.
  if (!/^-?\d+$/.test(text)) throw new FlamingoError('ERR_FLAMINGO_INVALID_OPTION', `--${name} must be an integer; got ${JSON.stringify(text)}`);
  return Number(text);
}

/** Accepts \n, \r, \t and \\ escapes, so a shell can pass '\r\n'. */
function unescape(text: string): string {
  return text.replace(/\\([nrt\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '\\': '\\' })[c]!);
}

async function main(): Promise<void> {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags();
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exitCode = 2;
    return;
  }
  let server: Awaited<ReturnType<typeof listen>>;
  try {
    server = await listen(flags.options);
  } catch (error) {
    if (!(error instanceof FlamingoError)) throw error;
    console.error(`${error.code}: ${error.message}`);
    process.exitCode = 2;
    return;
  }
  server.on('data', (id, data) => server.send(id, data));
  const o = server.options;
  console.log(`flamingo echo listening on ${o.host}:${server.port} with ${server.workerCount} I/O workers (framing ${o.framing.kind})`);
  if (server.metricsPort >= 0) console.log(`metrics on http://${o.metricsHost}:${server.metricsPort}/metrics`);

  let last = server.stats();
  let lastAt = performance.now();
  const status = setInterval(() => {
    const now = server.stats();
    const at = performance.now();
    const seconds = (at - lastAt) / 1000;
    const rate = (a: number, b: number): string => ((a - b) / seconds).toFixed(0);
    const mb = (a: number, b: number): string => ((a - b) / seconds / 1e6).toFixed(2);
    const highWater = now.workers.map((w) => `${(w.eventRingHighWater / o.eventRingBytes * 100).toFixed(0)}%`).join('/');
    if (!flags.quiet) {
      console.log(
        `connections ${now.connections}  frames in ${rate(now.framesIn, last.framesIn)}/s  sends ${rate(now.sends, last.sends)}/s  ` +
          `in ${mb(now.bytesIn, last.bytesIn)} MB/s  out ${mb(now.bytesOut, last.bytesOut)} MB/s  event ring high-water ${highWater}`,
      );
    }
    last = now;
    lastAt = at;
  }, 1000);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(status);
    console.log(`${signal}: shutting down`);
    const report = await server.shutdown({ drainMs: 5000 });
    console.log(`stopped (${report.abandonedBytes} bytes abandoned)`);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

await main();
