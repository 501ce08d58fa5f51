// Errors carry a stable code (ERR_FLAMINGO_*) and a message naming the value
// at fault and what was expected. `instanceof FlamingoError` works across
// duplicate copies of the package because the check goes by a registered
// symbol, not by class identity.

const kFlamingoError = Symbol.for('flamingo.error');

export type FlamingoErrorCode =
  | 'ERR_FLAMINGO_INVALID_OPTION'
  | 'ERR_FLAMINGO_UNKNOWN_OPTION'
  | 'ERR_FLAMINGO_INVALID_ID'
  | 'ERR_FLAMINGO_INVALID_PAYLOAD'
  | 'ERR_FLAMINGO_PAYLOAD_TOO_LARGE'
  | 'ERR_FLAMINGO_SERVER_CLOSED'
  | 'ERR_FLAMINGO_NODE_VERSION'
  | 'ERR_FLAMINGO_LISTEN'
  | 'ERR_FLAMINGO_CONSUMER'
  | 'ERR_FLAMINGO_METRICS'
  | 'ERR_FLAMINGO_CLUSTER'
  | 'ERR_FLAMINGO_LEASE_LOST'
  | 'ERR_FLAMINGO_INVALID_TOPIC'
  | 'ERR_FLAMINGO_PROTOCOL'
  | 'ERR_FLAMINGO_TLS';

export class FlamingoError extends Error {
  readonly code: FlamingoErrorCode;

  /** `options.cause` keeps the error this one explains (a socket's EADDRINUSE, say). */
  constructor(code: FlamingoErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FlamingoError';
    this.code = code;
    Object.defineProperty(this, kFlamingoError, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kFlamingoError] === true;
  }
}

export function invalidOption(name: string, expected: string, got: unknown): FlamingoError {
  return new FlamingoError('ERR_FLAMINGO_INVALID_OPTION', `option "${name}" must be ${expected}; got ${describe(got)}`);
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
