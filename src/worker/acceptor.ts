// The worker's acceptor: its reusePort listener, admission under the
// server-wide maxConnections cap, and refusal over a limit. Accepting is all
// it does. With TLS, an admitted socket is wrapped (tls-termination.ts)
// before it is taken: it counts from the TCP accept, as any connection, and
// a refused one never starts a handshake. Like Ranch's acceptor, when the
// process has no file descriptor left for a new connection it counts the
// error, stops accepting for BACKOFF_MS and tries again, instead of dying
// or spinning.
//
// Why it looks for itself (Node 24, libuv 1.52, Linux, as observed with a
// lowered `ulimit -n` and strace): a failed accept() never reaches
// JavaScript; the listener's 'error' event does not fire. On EMFILE or
// ENFILE, libuv closes a spare descriptor it keeps per event loop, accepts
// every queued connection and closes it at once (the clients see their
// connection end), and reopens the spare. The limit is per process but the
// spare per thread: another thread can take the freed descriptor first
// (two workers accepting a flood at once did, every time), and from then on
// the listener stays readable, every loop turn fails the same accept, and
// the thread spins at 100% CPU while the queued clients hang, until
// descriptors free up. libuv's source returns from other accept failures
// (ENOBUFS, ENOMEM) just as silently; no probe here sees those.
//
// So while it listens the acceptor opens and closes the null device every
// PROBE_MS. When that fails with EMFILE or ENFILE an accept would too: it
// counts an accept error and closes its listener, which ends any spin (the
// kernel resets the connections queued on that listener and sends new ones
// to the other workers' listeners; with none left listening, connects are
// refused). Every BACKOFF_MS it probes again, and once a descriptor is free
// it listens again on the same port. An 'error' the listener does emit (a
// runtime that reports accept failures) is counted and backed off the same
// way. While every worker backs off, nothing holds the port: a process that
// binds it then takes it, as during a worker restart.

import { closeSync, openSync } from 'node:fs';
import { type ListenOptions, type Server, type Socket, createServer } from 'node:net';
import { devNull } from 'node:os';
import type { AcceptErrors } from '../shared/control.ts';
import type { ResolvedOptions } from '../shared/options.ts';
import { ADMITTED_ALL, StatField, admittedBy } from '../shared/stats.ts';
import type { TlsTermination } from './tls-termination.ts';

/** How long accepting stops after an accept error. */
export const BACKOFF_MS = 100;
/**
 * How often a listening acceptor checks that a descriptor is to be had: a
 * spin on EMFILE lasts at most this long, and an idle worker pays one
 * open and close of the null device (about 14 µs) this often.
 */
export const PROBE_MS = 250;

export interface AcceptorParts {
  options: Pick<ResolvedOptions, 'host' | 'backlog' | 'ipv6Only' | 'maxConnections'>;
  /** The admission words every worker shares (layout in stats.ts). */
  admission: SharedArrayBuffer;
  /** This worker's index: its own admission word. */
  worker: number;
  stats: Float64Array;
  /** Takes an admitted socket (a TLSSocket with `tls`); false when there is no room for it after all (it is then refused). */
  take: (socket: Socket) => boolean;
  /** Wraps each admitted socket in TLS; absent, connections are plain TCP. */
  tls?: TlsTermination;
  /** Says whether a descriptor can be had now; descriptorShortage unless a test stands in. */
  probe?: () => string | undefined;
}

const State = { IDLE: 0, LISTENING: 1, BACKING_OFF: 2, STOPPED: 3 } as const;
type State = (typeof State)[keyof typeof State];

export class Acceptor {
  readonly #options: AcceptorParts['options'];
  readonly #admission: Int32Array;
  readonly #ownWord: number;
  readonly #stats: Float64Array;
  readonly #take: (socket: Socket) => boolean;
  readonly #tls: TlsTermination | undefined;
  readonly #shortage: () => string | undefined;
  #state: State = State.IDLE;
  #server: Server | undefined;
  /** A listener being reopened after a back-off, not yet listening. */
  #reopening: Server | undefined;
  /** The port bound by the first listen, which every reopen binds again. */
  #port = 0;
  #probeTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #lastCode: string | null = null;

  constructor(parts: AcceptorParts) {
    this.#options = parts.options;
    this.#admission = new Int32Array(parts.admission);
    this.#ownWord = admittedBy(parts.worker);
    this.#stats = parts.stats;
    this.#take = parts.take;
    this.#tls = parts.tls;
    this.#shortage = parts.probe ?? descriptorShortage;
  }

  get errors(): AcceptErrors {
    return { count: this.#stats[StatField.ACCEPT_ERRORS]!, lastCode: this.#lastCode, listening: this.#state === State.LISTENING };
  }

  /** Starts listening; resolves with the bound port. A failure here (EADDRINUSE, say) rejects and is not retried. */
  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const listener = this.#createListener();
      listener.once('error', reject);
      listener.listen(this.#listenOptions(port), () => {
        listener.off('error', reject);
        listener.on('error', (error: NodeJS.ErrnoException) => this.#failed(listener, error.code));
        this.#port = boundPort(listener, port);
        if (this.#state === State.STOPPED) {
          listener.close();
        } else {
          this.#listening(listener);
        }
        resolve(this.#port);
      });
    });
  }

  /** Stops accepting for good; open connections are kept. */
  stop(): Promise<void> {
    this.#state = State.STOPPED;
    this.#stopProbing();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#reopening?.close();
    this.#reopening = undefined;
    const listener = this.#server;
    this.#server = undefined;
    if (listener === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      // close() would also wait for every connection; the listener itself is
      // gone once close() returns, which is all this promises.
      listener.close();
      setImmediate(resolve);
    });
  }

  /** An admitted socket is gone: its place under maxConnections is free again. */
  release(): void {
    Atomics.sub(this.#admission, ADMITTED_ALL, 1);
    Atomics.sub(this.#admission, this.#ownWord, 1);
  }

  readonly #onConnection = (raw: Socket): void => {
    if (this.#state === State.STOPPED || !this.#admit()) {
      this.#refuse(raw);
      return;
    }
    // The current certificates, whichever listener accepted it (a reopened one too).
    const socket = this.#tls === undefined ? raw : this.#tls.wrap(raw);
    if (!this.#take(socket)) {
      this.release();
      this.#refuse(socket);
    }
  };

  /** Takes a place under the server-wide maxConnections cap, shared by every worker. */
  #admit(): boolean {
    Atomics.add(this.#admission, this.#ownWord, 1);
    if (Atomics.add(this.#admission, ADMITTED_ALL, 1) < this.#options.maxConnections) return true;
    this.release();
    return false;
  }

  /** A connection over a limit: accepted, closed at once, counted, never delivered. */
  #refuse(socket: Socket): void {
    this.#stats[StatField.REJECTED]!++;
    socket.on('error', ignore);
    socket.destroy();
  }

  #createListener(): Server {
    // Half-open: a peer's FIN must not end the socket before replies are
    // written (see the 'end' handler in connections.ts).
    return createServer({ allowHalfOpen: true }, this.#onConnection);
  }

  #listenOptions(port: number): ListenOptions {
    const o = this.#options;
    return { host: o.host, port, backlog: o.backlog, reusePort: true, ipv6Only: o.ipv6Only };
  }

  #listening(listener: Server): void {
    this.#server = listener;
    this.#state = State.LISTENING;
    this.#probeTimer = setInterval(this.#probe, PROBE_MS);
    this.#probeTimer.unref();
  }

  readonly #probe = (): void => {
    const code = this.#shortage();
    if (code !== undefined && this.#server !== undefined) this.#failed(this.#server, code);
  };

  /** Accepting failed on `listener` (or reopening it did): count it, close it, try again after BACKOFF_MS. */
  #failed(listener: Server, code: string | undefined): void {
    if (this.#state === State.STOPPED || (listener !== this.#server && listener !== this.#reopening)) return;
    this.#countError();
    this.#lastCode = code ?? 'unknown';
    this.#stopProbing();
    if (listener === this.#server) this.#server = undefined;
    if (listener === this.#reopening) this.#reopening = undefined;
    listener.close();
    this.#backOff();
  }

  #countError(): void {
    this.#stats[StatField.ACCEPT_ERRORS]!++;
  }

  #backOff(): void {
    this.#state = State.BACKING_OFF;
    this.#retryTimer = setTimeout(this.#reopen, BACKOFF_MS);
  }

  readonly #reopen = (): void => {
    this.#retryTimer = undefined;
    if (this.#state !== State.BACKING_OFF) return;
    const code = this.#shortage();
    if (code !== undefined) {
      // Still none free: one more failed attempt, one more pause.
      this.#countError();
      this.#lastCode = code;
      this.#backOff();
      return;
    }
    const listener = this.#createListener();
    this.#reopening = listener;
    listener.on('error', (error: NodeJS.ErrnoException) => this.#failed(listener, error.code));
    listener.listen(this.#listenOptions(this.#port), () => {
      // Stopped meanwhile: a close() before the bind took effect did not stop it.
      if (listener !== this.#reopening) {
        listener.close();
        return;
      }
      this.#reopening = undefined;
      this.#listening(listener);
    });
  };

  #stopProbing(): void {
    clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
  }
}

/**
 * 'EMFILE' or 'ENFILE' when no file descriptor can be had now (the process's
 * limit or the system's), so an accept would fail too; otherwise undefined.
 */
export function descriptorShortage(): string | undefined {
  try {
    closeSync(openSync(devNull, 'r'));
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'EMFILE' || code === 'ENFILE' ? code : undefined;
  }
}

function boundPort(listener: Server, asked: number): number {
  const address = listener.address();
  return typeof address === 'object' && address !== null ? address.port : asked;
}

function ignore(): void {}
