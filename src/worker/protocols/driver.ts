// Runs the worker's protocol (the interface is src/shared/protocols/protocol.ts)
// and is its host. Every call into the protocol is guarded: a throw, or a
// host call the worker cannot use, closes that one connection with 'error'
// and counts PROTOCOL_ERRORS; nothing a protocol does reaches another
// connection or the worker's own loops.
//
// A host call acts only on the slot being served: the driver records which
// slot each guarded call serves (calls nest: a delivery can publish events,
// which polls the command rings, which encodes a send for another slot), and
// a host call for any other slot, or from outside every call, is refused.
//
// The built-in protocols are trusted: their host skips the checks on
// deliver(), the one host call on the per-message path, and what their
// encode() and closing() return is used unchecked. Everything else is
// checked for every protocol.

import { FlamingoError, describe } from '../../shared/errors.ts';
import { CloseCode } from '../../shared/records.ts';
import {
  type Farewell,
  MAX_PROTOCOL_CLOSE_CODE,
  type OpenRequest,
  PROTOCOL_CLOSE_REASONS,
  type Protocol,
  type ProtocolCloseReason,
  type ProtocolFactory,
  type ProtocolHost,
} from '../../shared/protocols/protocol.ts';
import { StatField } from '../../shared/stats.ts';

/** The longest a protocol timer may be set for. */
const MAX_TIMER_MS = 86_400_000;
/** `current` when no protocol call is running. */
const NO_SLOT = -1;
/** A close without a code of the protocol's own (ProtocolEffects.close). */
export const NO_PROTOCOL_CODE = -1;

/** What the driver does to a connection on the protocol's behalf (the worker's Connections). */
export interface ProtocolEffects {
  /** One whole message for the application; `text` sets the DATA record's TEXT flag. */
  deliver(slot: number, message: Uint8Array, text: boolean): void;
  /** Control bytes straight to the socket; `bytes` is the socket's to keep. */
  writeControl(slot: number, bytes: Uint8Array): void;
  /** The protocol's handshake is done: report the open, with its request as UTF-8 JSON. */
  open(slot: number, request: Uint8Array | undefined): void;
  /**
   * Closes with the close code; `finalBytes` (the socket's to keep) are
   * written first, and the socket ends once flushed. `protocolCode`: the
   * protocol's own code for the close event (0 to 65535), or NO_PROTOCOL_CODE.
   */
  close(slot: number, code: number, finalBytes: Uint8Array | undefined, protocolCode: number): void;
  setTimer(slot: number, delayMs: number): void;
  clearTimer(slot: number): void;
  /** The connection waits for its protocol to open it. */
  awaitsOpen(slot: number): boolean;
  /** The connection is closing for good: nothing the protocol does for it matters any more. */
  silenced(slot: number): boolean;
}

export interface DriverSetup {
  factory: ProtocolFactory<unknown>;
  options: unknown;
  /** The built-in protocols: deliver(), encode() and closing() are not checked. */
  trusted: boolean;
  /** For errors and warnings: "protocol module file:///…" or "built-in protocol 'delimiter'". */
  label: string;
  maxFrameBytes: number;
  /** maxConnectionsPerWorker: every slot is below it. */
  slotCount: number;
  /** The most UTF-8 JSON an open's request may take. */
  maxRequestBytes: number;
  stats: Float64Array;
}

export class ProtocolDriver {
  readonly label: string;
  /** The protocol reports its connections open itself (host.open). */
  readonly handshake: boolean;
  /** The protocol frames outgoing messages (encode). */
  readonly encodes: boolean;
  /** The protocol reports bytes held for incomplete messages: the frame clock and truncated counts apply. */
  readonly buffersFrames: boolean;
  /** The protocol uses timers (it has timeout()). */
  readonly timed: boolean;
  /** The protocol says goodbye when the application or a shutdown closes a connection (it has closing()). */
  readonly bidsFarewell: boolean;
  readonly #protocol: Protocol;
  readonly #link: HostLink = { effects: undefined };
  readonly #trusted: boolean;
  readonly #stats: Float64Array;
  #effects: ProtocolEffects | undefined;
  /** The slot of the protocol call running now, or NO_SLOT. */
  #current = NO_SLOT;
  #warned = false;

  /** Calls the factory; a factory that throws or returns no protocol throws ERR_FLAMINGO_PROTOCOL. */
  constructor(setup: DriverSetup) {
    this.label = setup.label;
    this.#trusted = setup.trusted;
    this.#stats = setup.stats;
    const host = createHost(this, setup, this.#link);
    let protocol: unknown;
    try {
      protocol = setup.factory(host, setup.options);
    } catch (error) {
      throw new FlamingoError('ERR_FLAMINGO_PROTOCOL', `${setup.label}: its factory threw: ${messageOf(error)}`, { cause: error });
    }
    this.#protocol = checkShape(protocol, setup.label);
    this.handshake = this.#protocol.handshake === true;
    this.encodes = this.#protocol.encode !== undefined;
    this.buffersFrames = this.#protocol.pendingBytes !== undefined;
    this.timed = this.#protocol.timeout !== undefined;
    this.bidsFarewell = this.#protocol.closing !== undefined;
  }

  /** Wires the driver to the connections it acts on (they are built after it). */
  bind(effects: ProtocolEffects): void {
    this.#effects = effects;
    this.#link.effects = effects;
  }

  connect(slot: number): void {
    if (this.#protocol.connect === undefined) return;
    const outer = this.#current;
    this.#current = slot;
    try {
      this.#protocol.connect(slot);
    } catch (error) {
      this.#failed(slot, 'threw in connect()', error);
    } finally {
      this.#current = outer;
    }
  }

  read(slot: number, bytes: Uint8Array): void {
    const outer = this.#current;
    this.#current = slot;
    try {
      this.#protocol.read(slot, bytes);
    } catch (error) {
      this.#failed(slot, 'threw in read()', error);
    } finally {
      this.#current = outer;
    }
  }

  /** The bytes to write for one message, or undefined when the protocol failed (its connection is closing). */
  encode(slot: number, payload: Uint8Array, text: boolean): Uint8Array | readonly Uint8Array[] | undefined {
    const outer = this.#current;
    this.#current = slot;
    let encoded: unknown;
    try {
      encoded = this.#protocol.encode!(slot, payload, text);
    } catch (error) {
      this.#failed(slot, 'threw in encode()', error);
      return undefined;
    } finally {
      this.#current = outer;
    }
    if (this.#trusted || isBytes(encoded)) return encoded as Uint8Array | readonly Uint8Array[];
    this.#failed(slot, `returned ${describe(encoded)} from encode(), not a Uint8Array or an array of them`, undefined);
    return undefined;
  }

  timeout(slot: number): void {
    const outer = this.#current;
    this.#current = slot;
    try {
      this.#protocol.timeout!(slot);
    } catch (error) {
      this.#failed(slot, 'threw in timeout()', error);
    } finally {
      this.#current = outer;
    }
  }

  /**
   * What to write last as the application or a shutdown closes the slot's
   * connection; undefined when nothing, or when the protocol failed (counted:
   * the connection is closing anyway, and a failure does not change why).
   */
  closing(slot: number, reason: 'local' | 'shutdown'): Farewell | undefined {
    const outer = this.#current;
    this.#current = slot;
    let farewell: unknown;
    try {
      farewell = this.#protocol.closing!(slot, reason);
    } catch (error) {
      this.#counted('threw in closing()', error);
      return undefined;
    } finally {
      this.#current = outer;
    }
    if (farewell === undefined) return undefined;
    if (this.#trusted) return farewell as Farewell;
    const { finalBytes, code } = (typeof farewell === 'object' && farewell !== null ? farewell : {}) as Partial<Farewell>;
    if (finalBytes instanceof Uint8Array && (code === undefined || isProtocolCode(code))) return { finalBytes: Buffer.from(finalBytes), code };
    this.#counted(
      `returned ${describe(farewell)} from closing(), not { finalBytes: Uint8Array, code?: 0 to ${MAX_PROTOCOL_CLOSE_CODE} } or undefined`,
      undefined,
    );
    return undefined;
  }

  /** Bytes held for the slot's incomplete message; 0 when the protocol failed to say. */
  pendingBytes(slot: number): number {
    let bytes: unknown;
    try {
      bytes = this.#protocol.pendingBytes!(slot);
    } catch (error) {
      this.#failed(slot, 'threw in pendingBytes()', error);
      return 0;
    }
    if (typeof bytes === 'number' && bytes >= 0) return bytes;
    this.#failed(slot, `returned ${describe(bytes)} from pendingBytes(), not a number of bytes`, undefined);
    return 0;
  }

  /** The connection is gone: the protocol forgets it. A throw here is counted; there is nothing left to close. */
  disconnect(slot: number): void {
    if (this.#protocol.disconnect === undefined) return;
    try {
      this.#protocol.disconnect(slot);
    } catch (error) {
      this.#counted('threw in disconnect()', error);
    }
  }

  /**
   * Whether a host call for `slot` may act: it comes from inside the call
   * serving that slot, and the connection is not closing for good. A call
   * for another slot fails the slot being served; one from outside every
   * call is counted and ignored.
   */
  serving(slot: number, method: string): boolean {
    const current = this.#current;
    if (current === NO_SLOT) {
      this.#counted(`called host.${method}() outside any call of the protocol's (ignored)`, undefined);
      return false;
    }
    if (slot !== current) {
      this.#failed(current, `called host.${method}() for slot ${describe(slot)} while serving slot ${current}`, undefined);
      return false;
    }
    return !this.#effects!.silenced(slot);
  }

  /** The protocol used the host wrongly while serving `slot`. */
  misused(slot: number, what: string): void {
    this.#failed(slot, what, undefined);
  }

  /** Counts the failure, closes the slot's connection with 'error', and warns once per worker. */
  #failed(slot: number, what: string, error: unknown): void {
    this.#counted(what, error);
    this.#effects!.close(slot, CloseCode.error, undefined, NO_PROTOCOL_CODE);
  }

  #counted(what: string, error: unknown): void {
    this.#stats[StatField.PROTOCOL_ERRORS]!++;
    if (this.#warned) return;
    this.#warned = true;
    const detail = error instanceof Error ? (error.stack ?? error.message) : error === undefined ? undefined : String(error);
    process.emitWarning(
      `${this.label} ${what}${error === undefined ? '' : `: ${messageOf(error)}`}; its connection closes with 'error'. ` +
        'Every such failure is counted in stats().protocolErrors; only the first of each I/O worker is printed.',
      { code: 'ERR_FLAMINGO_PROTOCOL', detail },
    );
  }
}

/** Where a host's calls take effect: the connections, once the driver is bound to them. */
interface HostLink {
  effects: ProtocolEffects | undefined;
}

/**
 * The host a protocol is given: a frozen object whose methods close over
 * the driver, so a protocol reaches nothing of the worker but these
 * methods. Every call is checked; the trusted host (the built-in protocols)
 * skips the checks on deliver(), the one call on the per-frame path.
 */
function createHost(driver: ProtocolDriver, setup: DriverSetup, link: HostLink): ProtocolHost {
  const host: ProtocolHost = {
    maxFrameBytes: setup.maxFrameBytes,
    slotCount: setup.slotCount,

    deliver(slot: number, message: Uint8Array, text?: boolean): void {
      if (!driver.serving(slot, 'deliver')) return;
      if (!(message instanceof Uint8Array) || (text !== undefined && typeof text !== 'boolean')) {
        driver.misused(slot, `called host.deliver() with ${describe(message)}, not a Uint8Array (and an optional boolean)`);
        return;
      }
      const effects = link.effects!;
      if (effects.awaitsOpen(slot)) {
        driver.misused(slot, 'called host.deliver() before host.open()');
        return;
      }
      if (message.length > setup.maxFrameBytes) {
        effects.close(slot, CloseCode['frame-too-large'], undefined, NO_PROTOCOL_CODE);
        return;
      }
      effects.deliver(slot, message, text === true);
    },

    write(slot: number, bytes: Uint8Array): void {
      if (!driver.serving(slot, 'write')) return;
      if (!(bytes instanceof Uint8Array)) {
        driver.misused(slot, `called host.write() with ${describe(bytes)}, not a Uint8Array`);
        return;
      }
      if (bytes.length > 0) link.effects!.writeControl(slot, Buffer.from(bytes));
    },

    open(slot: number, request?: OpenRequest): void {
      if (!driver.serving(slot, 'open')) return;
      if (!driver.handshake || !link.effects!.awaitsOpen(slot)) {
        driver.misused(slot, 'called host.open() for a connection that is open already (only a protocol with handshake: true opens its connections, once)');
        return;
      }
      const encoded = request === undefined ? undefined : encodeRequest(request, setup.maxRequestBytes);
      if (typeof encoded === 'string') {
        driver.misused(slot, `called host.open() with a request that ${encoded}`);
        return;
      }
      link.effects!.open(slot, encoded);
    },

    close(slot: number, reason: ProtocolCloseReason, finalBytes?: Uint8Array, code?: number): void {
      if (!driver.serving(slot, 'close')) return;
      if (
        !(PROTOCOL_CLOSE_REASONS as readonly unknown[]).includes(reason) ||
        (finalBytes !== undefined && !(finalBytes instanceof Uint8Array)) ||
        (code !== undefined && !isProtocolCode(code))
      ) {
        const given = code !== undefined ? [reason, finalBytes, code] : finalBytes !== undefined ? [reason, finalBytes] : [reason];
        driver.misused(
          slot,
          `called host.close() with ${given.map(describe).join(', ')}: the reason must be one of ${PROTOCOL_CLOSE_REASONS.join(', ')}, the final bytes a Uint8Array, the code an integer from 0 to ${MAX_PROTOCOL_CLOSE_CODE}`,
        );
        return;
      }
      const bytes = finalBytes === undefined || finalBytes.length === 0 ? undefined : Buffer.from(finalBytes);
      link.effects!.close(slot, CloseCode[reason], bytes, code ?? NO_PROTOCOL_CODE);
    },

    setTimer(slot: number, delayMs: number): void {
      if (!driver.serving(slot, 'setTimer')) return;
      if (!driver.timed) {
        driver.misused(slot, 'called host.setTimer() without a timeout() method to call');
        return;
      }
      if (typeof delayMs !== 'number' || !(delayMs >= 0 && delayMs <= MAX_TIMER_MS)) {
        driver.misused(slot, `called host.setTimer() with ${describe(delayMs)}, not a delay from 0 to ${MAX_TIMER_MS} ms`);
        return;
      }
      link.effects!.setTimer(slot, delayMs);
    },

    clearTimer(slot: number): void {
      if (!driver.serving(slot, 'clearTimer')) return;
      if (driver.timed) link.effects!.clearTimer(slot);
    },
  };
  if (setup.trusted) {
    host.deliver = (slot: number, message: Uint8Array, text?: boolean): void => {
      link.effects!.deliver(slot, message, text === true);
    };
  }
  return Object.freeze(host);
}

function isProtocolCode(code: unknown): code is number {
  return Number.isInteger(code) && (code as number) >= 0 && (code as number) <= MAX_PROTOCOL_CLOSE_CODE;
}

/** The request as UTF-8 JSON, or what is wrong with it. */
function encodeRequest(request: OpenRequest, maxBytes: number): Uint8Array | string {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) return 'is not an object';
  const { path, headers, protocol } = request;
  if (path !== undefined && typeof path !== 'string') return 'has a path that is not a string';
  if (protocol !== undefined && typeof protocol !== 'string') return 'has a protocol that is not a string';
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return 'has headers that are not an object';
    for (const value of Object.values(headers)) if (typeof value !== 'string') return 'has a header value that is not a string';
  }
  const json = Buffer.from(JSON.stringify({ path, headers, protocol }), 'utf8');
  return json.length <= maxBytes ? json : `takes ${json.length} bytes as JSON, over the ${maxBytes} an open event carries`;
}

function isBytes(value: unknown): boolean {
  if (value instanceof Uint8Array) return true;
  if (!Array.isArray(value)) return false;
  for (const piece of value) if (!(piece instanceof Uint8Array)) return false;
  return true;
}

const METHODS = ['connect', 'read', 'encode', 'timeout', 'closing', 'pendingBytes', 'disconnect'] as const;

function checkShape(protocol: unknown, label: string): Protocol {
  const fail = (what: string): never => {
    throw new FlamingoError('ERR_FLAMINGO_PROTOCOL', `${label}: its factory must return a protocol object with a read(slot, bytes) method; ${what}`);
  };
  if (typeof protocol !== 'object' || protocol === null) return fail(`it returned ${describe(protocol)}`);
  const candidate = protocol as Record<string, unknown>;
  if (typeof candidate.read !== 'function') fail('it has no read method');
  for (const method of METHODS) {
    if (candidate[method] !== undefined && typeof candidate[method] !== 'function') fail(`its ${method} is ${describe(candidate[method])}, not a function`);
  }
  if (candidate.handshake !== undefined && typeof candidate.handshake !== 'boolean')
    fail(`its handshake is ${describe(candidate.handshake)}, not true or false`);
  return protocol as Protocol;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
