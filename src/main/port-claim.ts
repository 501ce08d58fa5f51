// Port claims: a server keeps its port to itself unless it asks to share it
// (the sharePort option), although every I/O worker binds with reusePort.
//
// reusePort lets any socket of the same user that sets it too bind a port
// that is already listening, and the kernel then splits new connections
// between them: left alone, a second server started on a busy port would
// start without complaint and take part of the first one's traffic. Two
// checks, run on the main thread before the workers bind, prevent that:
//
// - The probe. A server that does not share binds a plain listener (no
//   reusePort) on its host, port and ipv6Only, then closes it. The kernel
//   refuses that bind if any socket holds the port, with reusePort or
//   without, so the server refuses a busy port as a plain net server would.
// - The marker. The probe cannot stop a later server that does set
//   reusePort from joining: the kernel lets it in. So a server that does
//   not share also holds, for its lifetime, a listener on a Linux abstract
//   unix socket named after its host and port, and a server that shares
//   first connects to that name; if something answers, it refuses the
//   port. (Connecting, not binding: sharers that start at the same moment
//   must not see each other's check as a holder.) An abstract name has no file: it lives
//   exactly as long as the socket, so a crashed process leaves no stale
//   claim. Other platforms have no abstract names: there only the probe runs.
//
// What stays open:
// - A race window. Between its probe and its workers' bind, an exclusive
//   server holds nothing on the TCP port, and a sharing server checks the
//   marker some time before its own workers bind. If the two starts
//   interleave just so (the sharer checks before the marker exists and binds
//   after the probe closed), they end up sharing. Starts of two exclusive
//   servers cannot both succeed: the second one's marker bind fails.
// - Spelling. The marker names the host as written. A sharer also checks
//   the wildcard hosts that cover its own ('0.0.0.0' and '::'), but an
//   exclusive 'localhost' and a sharing '127.0.0.1' do not see each other.
//   (An exclusive '::' with ipv6Only refuses a sharing IPv4 host it does
//   not cover: a false refusal, never a silent share.)
// - Abstract names carry no permissions: a local process that squats on a
//   name makes servers on that host and port refuse to start, as one that
//   squats on the port itself would.

import { createHash } from 'node:crypto';
import net from 'node:net';
import { FlamingoError } from '../shared/errors.ts';

export interface ClaimOptions {
  host: string;
  port: number;
  ipv6Only: boolean;
  sharePort: boolean;
}

/** Only Linux has the abstract unix socket namespace. */
const ABSTRACT_NAMES = process.platform === 'linux';

/** sun_path holds 108 bytes, the leading NUL included. */
const MAX_NAME_BYTES = 107;

/** What an exclusive server holds while it lives, so sharing servers see it; release() is idempotent. */
export class PortMarker {
  readonly #listener: net.Server;
  #released: Promise<void> | undefined;

  constructor(listener: net.Server) {
    this.#listener = listener;
  }

  release(): Promise<void> {
    this.#released ??= new Promise((resolve) => this.#listener.close(() => resolve()));
    return this.#released;
  }
}

/**
 * Claims a fixed port before the workers bind it. An exclusive server
 * probes the port and takes its marker; a sharing one checks that no
 * exclusive server holds it and returns undefined. Throws
 * ERR_FLAMINGO_LISTEN, with the socket error as its cause.
 */
export async function claimPort(o: ClaimOptions): Promise<PortMarker | undefined> {
  if (o.sharePort) {
    await refuseIfHeldExclusively(o.host, o.port);
    return undefined;
  }
  await probe(o);
  return markExclusive(o.host, o.port);
}

/**
 * Takes the marker of an exclusive server on host:port. For port 0 it runs
 * after the first worker bound: only then is the port known, and the
 * kernel picked one nobody held.
 */
export async function markExclusive(host: string, port: number): Promise<PortMarker | undefined> {
  if (!ABSTRACT_NAMES) return undefined;
  const listener = net.createServer((socket) => socket.destroy());
  try {
    await listenOn(listener, { path: markerName(host, port) });
  } catch (error) {
    const code = errorCode(error);
    const why = code === 'EADDRINUSE' ? 'another Flamingo server is claiming it (EADDRINUSE)' : `its marker socket failed (${code})`;
    throw new FlamingoError('ERR_FLAMINGO_LISTEN', `cannot listen on ${where(host, port)}: ${why}`, { cause: error });
  }
  // Accept errors (EMFILE, say) must not become uncaught 'error' events.
  listener.on('error', () => {});
  // The marker only mirrors the workers' listeners: it never keeps a process alive.
  listener.unref();
  return new PortMarker(listener);
}

/** Binds a plain listener where the workers will bind, then closes it. */
async function probe(o: ClaimOptions): Promise<void> {
  const listener = net.createServer();
  try {
    await listenOn(listener, { host: o.host, port: o.port, exclusive: true, ipv6Only: o.ipv6Only });
  } catch (error) {
    const code = errorCode(error);
    const hint =
      code === 'EADDRINUSE'
        ? 'another socket holds the port; to spread one port over several processes of one application, start each of them with the sharePort option'
        : error instanceof Error
          ? error.message
          : String(error);
    throw new FlamingoError('ERR_FLAMINGO_LISTEN', `cannot listen on ${where(o.host, o.port)}: ${code}, ${hint}`, { cause: error });
  }
  await new Promise((resolve) => listener.close(resolve));
}

/** Refuses a port that an exclusive server holds on this host or on a wildcard host covering it. */
async function refuseIfHeldExclusively(host: string, port: number): Promise<void> {
  if (!ABSTRACT_NAMES) return;
  for (const holder of coveringHosts(host)) {
    if (await answers(markerName(holder, port))) {
      throw new FlamingoError(
        'ERR_FLAMINGO_LISTEN',
        `cannot share ${where(host, port)}: ${where(holder, port)} is held by a Flamingo server that did not ask to share it; every server on a shared port must set sharePort`,
      );
    }
  }
}

/** Whether a listener holds the abstract name `path` (it accepts a connection). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    // ECONNREFUSED: nobody listens on the name.
    socket.once('error', () => resolve(false));
  });
}

/**
 * The hosts whose exclusive holder a sharing server on `host` would take
 * connections from: the host itself and the wildcards covering it (a
 * dual-stack '::' covers IPv4 too). A wildcard sharer does not cover a
 * specific address: the kernel prefers the specific listener.
 */
function coveringHosts(host: string): string[] {
  switch (net.isIP(host)) {
    case 4:
      return host === '0.0.0.0' ? [host, '::'] : [host, '0.0.0.0', '::'];
    case 6:
      return host === '::' ? [host] : [host, '::'];
    default:
      // A name may resolve to either family.
      return [host, '0.0.0.0', '::'];
  }
}

/** '\0flamingo:<host>:<port>', readable in `ss -xl`; a host too long for the name is hashed. */
function markerName(host: string, port: number): string {
  const name = `flamingo:${host}:${port}`;
  if (Buffer.byteLength(name) <= MAX_NAME_BYTES) return `\0${name}`;
  return `\0flamingo:${createHash('sha256').update(host).digest('hex')}:${port}`;
}

function listenOn(listener: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(options, () => {
      listener.off('error', reject);
      resolve();
    });
  });
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? 'error';
}

export function where(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
