// The Go original's echo server, on every core: each byte comes back exactly as it
// arrived. Try it with any client, e.g. `nc 127.0.0.1 9000`.
//
//   npm start -- --port 9100 --host 127.0.0.1 --workers 2
//
// Flags are the server options in kebab-case, derived from the option schema
// (`--help` lists them with their meaning and default); PORT in the
// environment works too. SIGINT or SIGTERM shuts down gracefully.
//
// With `--framing delimiter` it speaks a small line protocol besides echo
// (ID, SEND, SUB, UNSUB, PUB: see line-protocol.ts). With `--protocol
// websocket` it echoes every WebSocket message, text as text and binary as
// binary, to any WebSocket client (the ws package, a page served from this
// machine: new WebSocket('ws://127.0.0.1:9000/')). With `--redis URL` it
// routes ids and topics between processes through Redis, and with
// `--processes N` it runs N copies of itself on one port (processes.ts):
//
//   npm start -- --framing delimiter --redis redis://127.0.0.1:6379 --processes 3
//
// `--tls-cert cert.pem --tls-key key.pem` serves TLS, whatever the protocol
// (with `--protocol websocket`: wss://).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FlamingoError, listen, type ServerOptions } from '../src/main/index.ts';
import { CLUSTER_OPTIONS, type ClusterOptions } from '../src/shared/cluster-options.ts';
import { OPTIONS, type OptionDescriptor, type OptionName, resolveOptions, shownDefault } from '../src/shared/options.ts';
import type { TlsOptions } from '../src/shared/tls-options.ts';
import { lineProtocol } from './line-protocol.ts';
import { announceListening, supervise, supervisedChild } from './processes.ts';
import { stopOnSignal } from './start.ts';

/** The demo echoes on the main thread, so the event consumer is not a flag; cluster is one flag per key (CLUSTER_FLAGS), tls two files (TLS_FLAGS). */
const NOT_FLAGS: ReadonlySet<OptionName> = new Set(['consumer', 'cluster', 'tls']);

/** The cluster option's keys as flags: --redis, --prefix, --lease-ms, --route-buffer-bytes. */
const CLUSTER_FLAGS = CLUSTER_OPTIONS.map((option) => ({ flag: kebab(option.name), option }));

/** The tls option from two PEM files: --tls-cert and --tls-key. */
const TLS_FLAGS = [
  { flag: 'tls-cert', meaning: 'serve TLS with this certificate (chain), a PEM file, whatever the protocol (with websocket: wss://); needs --tls-key' },
  { flag: 'tls-key', meaning: "the certificate's private key, a PEM file" },
] as const;

/** Flags the supervisor sets for its children itself. */
const SUPERVISOR_SETS = new Set(['processes', 'node', 'share-port', 'port', 'metrics-port']);
/** The most processes --processes starts: one node number each. */
const MAX_PROCESSES = 255;

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
  flag: kebab(option.name),
  option,
  presence: option.kind === 'boolean' && !option.default,
  placeholder: placeholder(option),
}));

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

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
    case 'protocol':
      return 'NAME|URL';
    case 'tokens':
      return 'A,B';
    case 'tls':
      return 'FILE';
  }
}

/** One line per option: its flag, what it does and its default; then the demo's own flags. */
function usage(): string {
  const plain = (markdown: string): string => markdown.replaceAll('`', '');
  const rows: Array<[string, string]> = FLAGS.map(({ flag, option, placeholder }) => [
    `--${flag}${placeholder ? ` ${placeholder}` : ''}`,
    `${plain(option.meaning)} [default: ${DEMO_DEFAULTS[option.name as OptionName] ?? plain(shownDefault(option))}]`,
  ]);
  for (const { flag, option } of CLUSTER_FLAGS) {
    const value = flag === 'redis' ? 'URL' : flag === 'prefix' ? 'TEXT' : 'N';
    const meaning =
      flag === 'redis'
        ? "route ids and topics between processes through Redis at 'redis://[user:password@]host:port' (rediss:// for TLS); repeat it or separate URLs with commas for the seeds of a Redis Cluster"
        : plain(option.meaning);
    rows.push([`--${flag} ${value}`, `${meaning} [default: ${flag === 'redis' ? 'off' : plain(option.shownDefault)}]`]);
  }
  for (const { flag, meaning } of TLS_FLAGS) rows.push([`--${flag} FILE`, `${meaning} [default: off]`]);
  rows.push(
    ['--processes N', 'run N copies of the demo on one port (--share-port, --node auto; needs --redis), restarting any that dies'],
    ['--quiet', 'no status line each second'],
    ['--help', 'print this and exit'],
  );
  const width = Math.max(...rows.map(([left]) => left.length));
  return [
    'usage: npm start -- [flags]',
    '',
    'Flags are the server options in kebab-case; --delimiter takes \\n, \\r, \\t and \\\\ escapes.',
    'With --framing delimiter, lines ID, SEND <id> <text>, SUB <topic>, UNSUB <topic> and PUB <topic> <text> are commands.',
    '',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`),
  ].join('\n');
}

interface Flags {
  options: ServerOptions;
  quiet: boolean;
  /** --processes N, or 0: serve in this process. */
  processes: number;
  /** The command line without the flags the supervisor sets for its children. */
  childArgs: string[];
}

function parseFlags(): Flags {
  const { values, tokens } = parseArgs({
    options: {
      ...Object.fromEntries(FLAGS.map(({ flag, presence }) => [flag, { type: presence ? ('boolean' as const) : ('string' as const) }])),
      ...Object.fromEntries(CLUSTER_FLAGS.map(({ flag }) => [flag, { type: 'string' as const, multiple: flag === 'redis' }])),
      ...Object.fromEntries(TLS_FLAGS.map(({ flag }) => [flag, { type: 'string' as const }])),
      processes: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    tokens: true,
  });
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  const given = values as Record<string, string | string[] | boolean | undefined>;
  const options: Record<string, unknown> = {};
  for (const { flag, option, presence } of FLAGS) {
    if (given[flag] === undefined) continue;
    options[option.name] = presence ? true : flagValue(flag, option, String(given[flag]));
  }
  options.port ??= integerFlag('port', process.env.PORT ?? DEFAULT_PORT);
  // The demo echoes each frame exactly as it came on the wire.
  if (options.framing === 'delimiter') options.keepDelimiter ??= true;
  if (options.framing === 'length-prefix') options.keepHeader ??= true;
  const tls = tlsFlags(given);
  if (tls !== undefined) options.tls = tls;
  const cluster = clusterFlags(given);
  if (cluster !== undefined) options.cluster = cluster;

  const processes = given.processes === undefined ? 0 : integerFlag('processes', String(given.processes));
  if (given.processes !== undefined) {
    if (processes < 2 || processes > MAX_PROCESSES) {
      throw new FlamingoError('ERR_FLAMINGO_INVALID_OPTION', `--processes must be an integer from 2 to ${MAX_PROCESSES}; got ${processes}`);
    }
    if (cluster === undefined) {
      throw new FlamingoError('ERR_FLAMINGO_INVALID_OPTION', '--processes needs --redis URL: the processes route ids and topics to each other through Redis');
    }
    if (options.node !== undefined && options.node !== 'auto') {
      throw new FlamingoError('ERR_FLAMINGO_INVALID_OPTION', '--processes leases a node number for each process (--node auto); drop --node');
    }
  }
  // Each child is this command line without what the supervisor decides per child.
  const argv = process.argv.slice(2);
  const dropped = new Set<number>();
  for (const token of tokens) {
    if (token.kind !== 'option' || !SUPERVISOR_SETS.has(token.name)) continue;
    dropped.add(token.index);
    if (token.value !== undefined && !token.inlineValue) dropped.add(token.index + 1);
  }
  const childArgs = [...argv.filter((_, i) => !dropped.has(i)), '--share-port', '--node', 'auto'];
  return { options: options as ServerOptions, quiet: values.quiet === true, processes, childArgs };
}

/** The cluster option from --redis (repeated or comma-separated: a Redis Cluster's seeds), --prefix, --lease-ms and --route-buffer-bytes. */
function clusterFlags(given: Record<string, string | string[] | boolean | undefined>): ClusterOptions | undefined {
  const texts = (given.redis as string[] | undefined) ?? [];
  if (texts.length === 0) {
    const orphan = CLUSTER_FLAGS.find(({ flag }) => given[flag] !== undefined);
    if (orphan !== undefined) throw new FlamingoError('ERR_FLAMINGO_INVALID_OPTION', `--${orphan.flag} needs --redis URL`);
    return undefined;
  }
  const urls = texts.flatMap((text) => text.split(',')).filter((url) => url !== '');
  // One URL is a standalone Redis; several (or one followed by a comma) are the seeds of a Redis Cluster.
  const cluster: ClusterOptions = { redis: urls.length === 1 && texts.length === 1 && !texts[0]!.includes(',') ? urls[0]! : urls };
  if (given.prefix !== undefined) cluster.prefix = String(given.prefix);
  if (given['lease-ms'] !== undefined) cluster.leaseMs = integerFlag('lease-ms', String(given['lease-ms']));
  if (given['route-buffer-bytes'] !== undefined) cluster.routeBufferBytes = integerFlag('route-buffer-bytes', String(given['route-buffer-bytes']));
  return cluster;
}

/** The tls option from --tls-cert and --tls-key, which go together. */
function tlsFlags(given: Record<string, string | string[] | boolean | undefined>): TlsOptions | undefined {
  const [cert, key] = TLS_FLAGS.map(({ flag }) => given[flag]);
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    throw new FlamingoError('ERR_FLAMINGO_INVALID_OPTION', '--tls-cert and --tls-key go together: a certificate and its private key, PEM files');
  }
  return { cert: readPem('tls-cert', String(cert)), key: readPem('tls-key', String(key)) };
}

function readPem(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new FlamingoError('ERR_FLAMINGO_INVALID_OPTION', `--${flag}: cannot read ${JSON.stringify(file)}: ${(error as Error).message}`);
  }
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
    case 'tls':
      // Not a flag itself (see TLS_FLAGS); a file of PEM if it were.
      return { cert: readPem(flag, text) };
    case 'protocol':
      // A built-in protocol's name, or the URL of a protocol module.
      return /^[a-z-]+$/.test(text) ? text : { module: text };
    case 'tokens':
      return text.split(',').filter((token) => token !== '');
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

/** The supervisor of --processes N: checks the options once here, then runs the children. */
async function superviseProcesses(flags: Flags): Promise<void> {
  let port: number;
  let metricsPort: number;
  try {
    const checked = resolveOptions({ ...flags.options, sharePort: true, node: 'auto' });
    port = checked.port;
    metricsPort = checked.metricsPort;
  } catch (error) {
    if (!(error instanceof FlamingoError)) throw error;
    console.error(`${error.code}: ${error.message}`);
    process.exitCode = 2;
    return;
  }
  const script = fileURLToPath(import.meta.url);
  process.exitCode = await supervise({ script, args: flags.childArgs, processes: flags.processes, port, metricsPort });
}

async function main(): Promise<void> {
  // Started by a supervisor (--processes)?
  const supervised = supervisedChild();
  let flags: Flags;
  try {
    flags = parseFlags();
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  if (flags.processes > 0) return superviseProcesses(flags);
  let server: Awaited<ReturnType<typeof listen>>;
  try {
    server = await listen(flags.options);
  } catch (error) {
    if (!(error instanceof FlamingoError)) throw error;
    console.error(`${error.code}: ${error.message}`);
    process.exitCode = 2;
    return;
  }
  const o = server.options;
  // With the delimiter framing, the line protocol; otherwise plain echo. A
  // text message (WebSocket) goes back as text: send() of a string.
  server.on('data', o.framing.kind === 'delimiter' ? lineProtocol(server) : (id, data, text) => server.send(id, text ? Buffer.from(data).toString() : data));
  const clustered = o.cluster !== null;
  if (clustered) {
    server.on('nodeUp', (node) => console.log(`node ${node} up`));
    server.on('nodeDown', (node) => console.log(`node ${node} down`));
    // Redis away: the server keeps serving and recovers by itself; say so once per problem, not once per retry.
    let lastProblem = '';
    let lastProblemAt = 0;
    server.on('routeError', (error) => {
      const now = Date.now();
      if (error.message === lastProblem && now - lastProblemAt < 10_000) return;
      lastProblem = error.message;
      lastProblemAt = now;
      console.error(`route error: ${error.message}`);
    });
  }
  const nodeText = clustered ? `node ${server.node} of ${server.nodes().join(',')}` : `node ${server.node}`;
  const protocol =
    o.protocol.kind === 'module'
      ? `protocol ${o.protocol.url}`
      : o.protocol.name === o.framing.kind
        ? `framing ${o.framing.kind}`
        : `protocol ${o.protocol.name}`;
  const tlsText = o.tls === null ? '' : ', TLS';
  console.log(`flamingo echo listening on ${o.host}:${server.port} with ${server.workerCount} I/O workers (${protocol}${tlsText}, ${nodeText})`);
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
      const r = now.routing;
      const p = last.routing;
      const routing = clustered
        ? `  node ${r.node} (${server.nodes().length} live)  routed in ${rate(r.routedIn, p.routedIn)}/s out ${rate(r.routedOut, p.routedOut)}/s  ` +
          `publishes ${rate(r.publishes, p.publishes)}/s in ${rate(r.publishesIn, p.publishesIn)}/s`
        : '';
      console.log(
        `connections ${now.connections}  frames in ${rate(now.framesIn, last.framesIn)}/s  sends ${rate(now.sends, last.sends)}/s  ` +
          `in ${mb(now.bytesIn, last.bytesIn)} MB/s  out ${mb(now.bytesOut, last.bytesOut)} MB/s  event ring high-water ${highWater}${routing}`,
      );
    }
    last = now;
    lastAt = at;
  }, 1000);

  const stopper = stopOnSignal(server, { before: () => clearInterval(status) });
  if (supervised) announceListening(server, stopper);
}

await main();
