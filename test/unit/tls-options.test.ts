// The tls option (and what setSecureContext takes): checked like every
// other option, with a coded error naming the key and what it accepts, and
// tried on OpenSSL before any worker sees it.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlamingoError } from '../../src/shared/errors.ts';
import { resolveOptions } from '../../src/shared/options.ts';
import { resolveTls } from '../../src/shared/tls-options.ts';
import { type TestCert, makeTestCert } from '../helpers/tls-cert.ts';

function failure(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return `${(error as { code: string }).code}: ${(error as Error).message}`;
  }
}

describe('the tls option', () => {
  let cert: TestCert;
  let other: TestCert;

  beforeAll(() => {
    cert = makeTestCert();
    other = makeTestCert({ name: 'other.example' });
  });

  afterAll(() => {
    cert?.remove();
    other?.remove();
  });

  it('is off by default, and its handshake timeout is 10 s', () => {
    expect(resolveOptions({})).toMatchObject({ tls: null, tlsHandshakeTimeoutMs: 10_000 });
  });

  it('resolves to plain data a worker can be posted: strings kept, bytes copied into Uint8Arrays', () => {
    const key = Buffer.from(cert.key);
    const o = resolveOptions({ tls: { key, cert: [cert.cert], minVersion: 'TLSv1.3', honorCipherOrder: true }, tlsHandshakeTimeoutMs: 500 });
    expect(o.tls).toEqual({ key: new Uint8Array(key), cert: [cert.cert], minVersion: 'TLSv1.3', honorCipherOrder: true });
    expect(Buffer.isBuffer(o.tls!.key)).toBe(false);
    key.fill(0);
    expect(Buffer.from(o.tls!.key as Uint8Array).toString()).toBe(cert.key);
    expect(structuredClone(o)).toEqual(o);
    expect(o.tlsHandshakeTimeoutMs).toBe(500);
  });

  it('takes keys with their own passphrase and several certificates', () => {
    expect(resolveTls({ key: [{ pem: cert.key }], cert: [cert.cert], ca: [cert.cert, other.cert] })).toEqual({
      key: [{ pem: cert.key }],
      cert: [cert.cert],
      ca: [cert.cert, other.cert],
    });
  });

  it('refuses a wrong shape, naming the key and what it takes', () => {
    const tls = (value: unknown) => failure(() => resolveOptions({ tls: value as never }));
    expect(tls('cert.pem')).toMatch(/^ERR_FLAMINGO_INVALID_OPTION: option "tls" must be an object with key and cert \(PEM\), or pfx/);
    expect(tls({ key: cert.key })).toMatch(/^ERR_FLAMINGO_INVALID_OPTION: option "tls" must be an object with key and cert/);
    expect(tls({ key: cert.key, cert: 42 })).toMatch(/^ERR_FLAMINGO_INVALID_OPTION: option "tls.cert" must be PEM/);
    expect(tls({ key: '', cert: cert.cert })).toMatch(/option "tls.key" must be PEM/);
    expect(tls({ key: [], cert: cert.cert })).toMatch(/option "tls.key" must be PEM/);
    expect(tls({ key: [{ pem: cert.key, extra: 1 }], cert: cert.cert })).toMatch(/option "tls.key" must be/);
    expect(tls({ key: cert.key, cert: cert.cert, minVersion: 'SSLv3' })).toMatch(
      /option "tls.minVersion" must be one of "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"/,
    );
    expect(tls({ key: cert.key, cert: cert.cert, ticketKeys: new Uint8Array(47) })).toMatch(/option "tls.ticketKeys" must be a Uint8Array of 48 bytes/);
    expect(tls({ key: cert.key, cert: cert.cert, SNICallback: () => {} })).toMatch(/^ERR_FLAMINGO_UNKNOWN_OPTION: unknown option "tls.SNICallback"/);
  });

  it('refuses what OpenSSL refuses with ERR_FLAMINGO_TLS and its reason: a key that is not the certificate’s, text that is not PEM', () => {
    expect(failure(() => resolveTls({ key: other.key, cert: cert.cert }))).toMatch(/^ERR_FLAMINGO_TLS: option "tls": OpenSSL refused .*key values mismatch/);
    expect(failure(() => resolveTls({ key: cert.key, cert: 'not PEM' }))).toMatch(/^ERR_FLAMINGO_TLS/);
    expect(failure(() => resolveTls({ key: cert.key, cert: cert.cert, ciphers: 'NO-SUCH-CIPHER' }))).toMatch(/^ERR_FLAMINGO_TLS/);
  });

  it('refuses tlsHandshakeTimeoutMs without tls, and one out of range', () => {
    expect(failure(() => resolveOptions({ tlsHandshakeTimeoutMs: 1000 }))).toMatch(/option "tlsHandshakeTimeoutMs" must be unset unless tls is set/);
    expect(failure(() => resolveOptions({ tls: { key: cert.key, cert: cert.cert }, tlsHandshakeTimeoutMs: -1 }))).toMatch(
      /option "tlsHandshakeTimeoutMs" must be an integer from 0/,
    );
  });

  it('any value in any key either resolves or throws a coded FlamingoError, never anything else', () => {
    const keys = ['key', 'cert', 'ca', 'crl', 'pfx', 'passphrase', 'ciphers', 'minVersion', 'honorCipherOrder', 'secureOptions', 'ticketKeys', 'dhparam'];
    const anything = fc.oneof(
      fc.anything(),
      fc.uint8Array({ maxLength: 64 }),
      fc.array(fc.oneof(fc.string(), fc.uint8Array(), fc.record({ pem: fc.anything(), passphrase: fc.anything() }))),
    );
    fc.assert(
      fc.property(fc.constantFrom(...keys), anything, (key, value) => {
        try {
          resolveTls({ key: cert.key, cert: cert.cert, [key]: value });
        } catch (error) {
          if (!(error instanceof FlamingoError)) throw error;
        }
      }),
      { numRuns: 300 },
    );
  });
});
