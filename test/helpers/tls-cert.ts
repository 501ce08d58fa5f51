// Test certificates made by the real `openssl` binary, in a temporary
// directory: a self-signed certificate for localhost and 127.0.0.1, or for
// another name (a wrong certificate), and the SHA-256 of its public key (what
// Chromium's --ignore-certificate-errors-spki-list pins, so a browser
// trusts exactly this key and nothing else).

import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestCert {
  key: string;
  cert: string;
  keyFile: string;
  certFile: string;
  /** Base64 SHA-256 of the certificate's SubjectPublicKeyInfo. */
  spki: string;
  remove(): void;
}

/** `name`: the one DNS name the certificate is for (default localhost, with IP 127.0.0.1); another name makes a wrong certificate. */
export function makeTestCert(options: { name?: string } = {}): TestCert {
  const dir = mkdtempSync(path.join(tmpdir(), 'flamingo-cert-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const name = options.name ?? 'localhost';
  const san = name === 'localhost' ? 'subjectAltName=DNS:localhost,IP:127.0.0.1' : `subjectAltName=DNS:${name}`;
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-subj',
      `/CN=${name}`,
      '-addext',
      san,
      '-out',
      certFile,
      '-days',
      '2',
    ],
    { stdio: 'pipe' },
  );
  const cert = readFileSync(certFile, 'utf8');
  const der = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
  return {
    key: readFileSync(keyFile, 'utf8'),
    cert,
    keyFile,
    certFile,
    spki: createHash('sha256').update(der).digest('base64'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
