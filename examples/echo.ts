// The Go original's echo server, on every core: each byte comes back exactly as it
// arrived. Try it with any client, e.g. `nc 127.0.0.1 9000`.
//
//   npm start -- --port 9100 --host 127.0.0.1 --workers 2
//
// Flags are the server options in kebab-case, derived from the option schema
// (`--help` lists them with their meaning and default); PORT in the
// environment works too. SIGINT or SIGTERM shuts down gracefully.

import { parseArgs } from 'node:util';
import { FlamingoError, listen, type ServerOptions } from '../src/main/index.ts';
import { OPTIONS, type OptionDescriptor, type OptionName, shownDefault } from '../src/shared/options.ts';

/** The demo echoes on the main thread, so the event consumer is not a flag. */
const NOT_FLAGS: ReadonlySet<OptionName> = new Set(['consumer', 'cluster']);

/** The demo listens on a known port unless told otherwise, so a client knows where to connect. */
const DEFAULT_PORT = '9000';
/** Defaults of the demo's that differ from the library's, as --help shows them. */
const DEMO_DEFAULTS: Partial<Record<OptionName, string>> = { port: `${DEFAULT_PORT}, or PORT from the environment` };

interface Flag {
  readonly flag: string;
  readonly option: OptionDescriptor;
  /**
   * A boolean that is off by default is a presence flag that turns it on
   * (`--little-endian`); one that is on by default takes true|false
   * (`--no-delay false`), since naming it alone could not turn it off.
   */
  readonly presence: boolean;
  /** What the value looks like, for --help. */
  readonly placeholder: string;
}

const FLAGS: readonly Flag[] = OPTIONS.filter((option) => !NOT_FLAGS.has(option.name)).map((option: OptionDescriptor) => ({
  flag: option.name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
  option,
  presence: option.kind === 'boolean' && !option.default,
  placeholder: placeholder(option),
}));

function placeholder(option: OptionDescriptor): string {
  switch (option.kind) {
    case 'integer':
    case 'ringBytes':
      return 'N';
    case 'boolean':
      return option.default ? 'true|false' : '';
    case 'oneOf':
      return option.allowed.join('|');
    case 'host':
      return 'ADDRESS';
    case 'delimiter':
      return 'TEXT';
    case 'node':
      return 'N|auto';
    case 'cluster':
      return 'URL';
  }
}

/** One line per option: its flag, what it does and its default; then the demo's own flags. */
function usage(): string {
  const plain = (markdown: string): string => markdown.replaceAll('`', '');
  const rows: Array<[string, string]> = FLAGS.map(({ flag, option, placeholder }) => [
    `--${flag}${placeholder ? ` ${placeholder}` : ''}`,
    `${plain(option.meaning)} [default: ${DEMO_DEFAULTS[option.name as OptionName] ?? plain(shownDefault(option))}]`,
  ]);
  rows.push(['--quiet', 'no status line each second'], ['--help', 'print this and exit']);
  const width = Math.max(...rows.map(([left]) => left.length));
  return [
    'usage: npm start -- [flags]',
    '',
    'Flags are the server options in kebab-case; --delimiter takes \\n, \\r, \\t and \\\\ escapes.',
    '',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`),
  ].join('\n');
}

function parseFlags(): { options: ServerOptions; quiet: boolean } {
  const { values } = parseArgs({
    options: {
      ...Object.fromEntries(FLAGS.map(({ flag, presence }) => [flag, { type: presence ? ('boolean' as const) : ('string' as const) }])),
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  const options: Record<string, unknown> = {};
  for (const { flag, option, presence } of FLAGS) {
    const given = (values as Record<string, string | boolean | undefined>)[flag];
    if (given === undefined) continue;
    options[option.name] = presence ? true : flagValue(flag, option, String(given));
  }
  options.port ??= integerFlag('port', process.env.PORT ?? DEFAULT_PORT);
  // The demo echoes each frame exactly as it came on the wire.
  if (options.framing === 'delimiter') options.keepDelimiter ??= true;
  if (options.framing === 'length-prefix') options.keepHeader ??= true;
  return { options: options as ServerOptions, quiet: values.quiet === true };
}

/** Turns a flag's text into the option's type; the option check then names what is out of range. */
function flagValue(flag: string, option: OptionDescriptor, text: string): unknown {
  switch (option.kind) {
    case 'integer':
    case 'ringBytes':
      return integerFlag(flag, text);
    case 'boolean':
      return booleanFlag(flag, text);
    case 'oneOf':
      return typeof option.allowed[0] === 'number' ? integerFlag(flag, text) : text;
    case 'host':
      return text;
    case 'delimiter':
      return unescapeFlag(text);
    case 'node':
      return text === 'auto' ? text : integerFlag(flag, text);
    case 'cluster':
      return { redis: text };
  }
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
function unescapeFlag(text: string): string {
  return text.replace(/\\([nrt\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '\\': '\\' })[c]!);
}

async function main(): Promise<void> {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags();
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage()}`);
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
    const highWater = now.workers.map((w) => `${((w.eventRingHighWater / o.eventRingBytes) * 100).toFixed(0)}%`).join('/');
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
