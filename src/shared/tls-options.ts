// The `tls` option, and what server.setSecureContext() takes: the
// certificates and settings every I/O worker terminates TLS with. A
// SecureContext cannot cross threads; the options that make one can, so
// they are checked here and resolved to plain data (strings, and copies of
// any bytes) that is posted to every worker, each of which makes its own
// context from them.
//
// A value of the wrong shape throws ERR_FLAMINGO_INVALID_OPTION naming the
// key at fault. Material OpenSSL refuses (a key that is not PEM, a key that
// does not match its certificate, a wrong passphrase) throws
// ERR_FLAMINGO_TLS with OpenSSL's reason: the options are tried here, on the
// caller's thread, so bad certificates fail listen() or setSecureContext()
// before any worker sees them.

import { type SecureContext, type SecureContextOptions, createSecureContext } from 'node:tls';
import { FlamingoError, invalidOption } from './errors.ts';

/** PEM text, or its bytes. */
export type Pem = string | Uint8Array;
export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

/**
 * What tls.createSecureContext() takes, as far as it is data: `key` and
 * `cert` (or `pfx`) are required, the rest as Node documents it.
 */
export interface TlsOptions {
  /** The private key(s), PEM; an entry of an array may carry its own passphrase. */
  key?: Pem | readonly (Pem | { pem: Pem; passphrase?: string })[];
  /** The certificate chain(s), PEM: the server's certificate first, then its intermediates. */
  cert?: Pem | readonly Pem[];
  /** Trusted CA certificates, PEM, replacing Node's bundled ones. */
  ca?: Pem | readonly Pem[];
  /** Certificate revocation lists, PEM. */
  crl?: Pem | readonly Pem[];
  /** Key and certificate in one PKCS#12 archive, instead of key and cert. */
  pfx?: Pem | readonly (Pem | { buf: Pem; passphrase?: string })[];
  /** Of the key (or pfx). */
  passphrase?: string;
  /** OpenSSL cipher list (TLS 1.2 and earlier, and the TLS 1.3 suites by their names). */
  ciphers?: string;
  ecdhCurve?: string;
  sigalgs?: string;
  dhparam?: Pem;
  /** Default: Node's (TLSv1.2). */
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
  honorCipherOrder?: boolean;
  /** OpenSSL SSL_OP_* flags, ORed. */
  secureOptions?: number;
  /** Seconds a session may be resumed for. */
  sessionTimeout?: number;
  /** 48 bytes of session ticket keys. */
  ticketKeys?: Uint8Array;
  sessionIdContext?: string;
}

/** Checked TLS options: plain data, any bytes copied. */
export type ResolvedTls = Readonly<TlsOptions>;

type KeyKind = 'keys' | 'pfx' | 'pems' | 'pem' | 'text' | 'version' | 'boolean' | 'count' | 'ticketKeys';

/** Every key of TlsOptions, with what it takes (the Record type makes a key missing here a compile error). */
const KEYS: Readonly<Record<keyof TlsOptions, KeyKind>> = {
  key: 'keys',
  cert: 'pems',
  ca: 'pems',
  crl: 'pems',
  pfx: 'pfx',
  passphrase: 'text',
  ciphers: 'text',
  ecdhCurve: 'text',
  sigalgs: 'text',
  dhparam: 'pem',
  minVersion: 'version',
  maxVersion: 'version',
  honorCipherOrder: 'boolean',
  secureOptions: 'count',
  sessionTimeout: 'count',
  ticketKeys: 'ticketKeys',
  sessionIdContext: 'text',
};

const VERSIONS: readonly TlsVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
const TICKET_KEYS_BYTES = 48;
const PEM = 'PEM: a non-empty string or Uint8Array';
const EXPECTED: Readonly<Record<KeyKind, string>> = {
  keys: `${PEM}, or a non-empty array of them and of { pem, passphrase }`,
  pfx: 'a non-empty string or Uint8Array, or a non-empty array of them and of { buf, passphrase }',
  pems: `${PEM}, or a non-empty array of them`,
  pem: PEM,
  text: 'a non-empty string',
  version: `one of ${VERSIONS.map((v) => `"${v}"`).join(', ')}`,
  boolean: 'true or false',
  count: 'a non-negative integer',
  ticketKeys: `a Uint8Array of ${TICKET_KEYS_BYTES} bytes`,
};

/** Checks TLS options and tries them on OpenSSL; returns a copy that can be posted to the workers. */
export function resolveTls(value: unknown): ResolvedTls {
  const required = 'an object with key and cert (PEM), or pfx';
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) throw invalidOption('tls', required, value);
  const given = value as Readonly<Record<string, unknown>>;
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(KEYS, key)) {
      throw new FlamingoError('ERR_FLAMINGO_UNKNOWN_OPTION', `unknown option "tls.${key}"; known: ${Object.keys(KEYS).join(', ')}`);
    }
  }
  const resolved: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(KEYS) as [keyof TlsOptions, KeyKind][]) {
    if (given[key] !== undefined) resolved[key] = resolveKey(key, kind, given[key]);
  }
  if (resolved.pfx === undefined && (resolved.key === undefined || resolved.cert === undefined)) throw invalidOption('tls', required, value);
  try {
    makeSecureContext(resolved as ResolvedTls);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new FlamingoError('ERR_FLAMINGO_TLS', `option "tls": OpenSSL refused the key or certificates: ${reason}`, { cause: error });
  }
  return resolved as ResolvedTls;
}

/** The context OpenSSL makes of checked options; throws what OpenSSL says of bad ones. */
export function makeSecureContext(options: ResolvedTls): SecureContext {
  // Node's types say Buffer; it takes any Uint8Array (what a Buffer becomes when posted to a worker).
  return createSecureContext(options as SecureContextOptions);
}

function resolveKey(key: keyof TlsOptions, kind: KeyKind, value: unknown): unknown {
  const fail = (): never => {
    throw invalidOption(`tls.${key}`, EXPECTED[kind], value);
  };
  switch (kind) {
    case 'keys':
      return pemList(value, 'pem') ?? fail();
    case 'pfx':
      return pemList(value, 'buf') ?? fail();
    case 'pems':
      return pemList(value, undefined) ?? fail();
    case 'pem':
      return pem(value) ?? fail();
    case 'text':
      return typeof value === 'string' && value.length > 0 ? value : fail();
    case 'version':
      return (VERSIONS as readonly unknown[]).includes(value) ? value : fail();
    case 'boolean':
      return typeof value === 'boolean' ? value : fail();
    case 'count':
      return Number.isSafeInteger(value) && (value as number) >= 0 ? value : fail();
    case 'ticketKeys':
      return value instanceof Uint8Array && value.length === TICKET_KEYS_BYTES ? new Uint8Array(value) : fail();
  }
}

/** PEM text as is, or a copy of its bytes; undefined when it is neither, or empty. */
function pem(value: unknown): Pem | undefined {
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  if (value instanceof Uint8Array) return value.length > 0 ? new Uint8Array(value) : undefined;
  return undefined;
}

/**
 * One PEM, or a non-empty array of them; with `field`, an entry may also be
 * `{ [field]: PEM, passphrase? }` (a key or pfx with its own passphrase).
 */
function pemList(value: unknown, field: 'pem' | 'buf' | undefined): unknown {
  if (!Array.isArray(value)) return pem(value);
  if (value.length === 0) return undefined;
  const entries: unknown[] = [];
  for (const entry of value as unknown[]) {
    const plain = pem(entry);
    if (plain !== undefined) {
      entries.push(plain);
      continue;
    }
    if (field === undefined || typeof entry !== 'object' || entry === null) return undefined;
    const { [field]: material, passphrase, ...rest } = entry as Record<string, unknown>;
    const bytes = pem(material);
    if (bytes === undefined || Object.keys(rest).length > 0 || (passphrase !== undefined && typeof passphrase !== 'string')) return undefined;
    entries.push(passphrase === undefined ? { [field]: bytes } : { [field]: bytes, passphrase });
  }
  return entries;
}
