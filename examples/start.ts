// What every small example does first: read --port, --host and --workers
// (plus its own flags), start a server with its options, and exit with
// code 2 and the error's code and message when an option is refused.

import { type ParseArgsConfig, parseArgs } from 'node:util';
import { FlamingoError, type Server, type ServerOptions, listen } from '../src/main/index.ts';

type Flags = NonNullable<ParseArgsConfig['options']>;

export type ExampleFlags = Record<string, string | boolean | undefined>;

export async function startExample<F extends Flags>(
  defaultPort: number,
  options: ServerOptions,
  extraFlags: F = {} as F,
): Promise<{ server: Server; flags: ExampleFlags }> {
  const flags = exampleFlags(defaultPort, extraFlags);
  return { server: await listenOrExit(flags, options), flags };
}

/** Reads --port, --host and --workers, and the example's own flags. */
export function exampleFlags<F extends Flags>(defaultPort: number, extraFlags: F = {} as F): ExampleFlags {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: String(defaultPort) },
      host: { type: 'string', default: '127.0.0.1' },
      workers: { type: 'string' },
      ...extraFlags,
    },
  });
  return values as ExampleFlags;
}

/** Listens with --port, --host and --workers and `options`; a refused option exits with code 2. */
export async function listenOrExit(flags: ExampleFlags, options: ServerOptions): Promise<Server> {
  try {
    // Invalid values (a port of 70000, 0 workers) are refused here with the option's name.
    return await listen({
      port: Number(flags.port),
      host: String(flags.host),
      ...(flags.workers === undefined ? {} : { workers: Number(flags.workers) }),
      ...options,
    });
  } catch (error) {
    if (!(error instanceof FlamingoError)) throw error;
    console.error(`${error.code}: ${error.message}`);
    process.exit(2);
  }
}

export interface Stopper {
  /** Shuts down once, however often it is called (a signal, or the example itself). */
  stop(why: string): Promise<void>;
  /** True from the moment shutdown begins. */
  readonly stopping: boolean;
}

/**
 * Shuts `server` down gracefully on SIGINT or SIGTERM. `before` runs while
 * sends are still accepted (what it sends is delivered before each
 * connection closes); `after` gets shutdown's report and returns the last
 * line to print.
 */
export function stopOnSignal(
  server: Server,
  hooks: { before?: () => void; after?: (report: { abandonedBytes: number }) => Promise<string> | string } = {},
): Stopper {
  let stopping = false;
  const stopper: Stopper = {
    get stopping() {
      return stopping;
    },
    async stop(why: string): Promise<void> {
      if (stopping) return;
      hooks.before?.();
      stopping = true;
      console.log(`${why}: shutting down`);
      const report = await server.shutdown({ drainMs: 5000 });
      console.log(hooks.after ? await hooks.after(report) : `stopped (${report.abandonedBytes} bytes abandoned)`);
    },
  };
  process.once('SIGINT', () => void stopper.stop('SIGINT'));
  process.once('SIGTERM', () => void stopper.stop('SIGTERM'));
  return stopper;
}
