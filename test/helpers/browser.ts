// A real browser for the WebSocket tests: the system's Chromium (the
// Debian package `chromium`; .ci/run installs it) driven by puppeteer-core,
// headless, with its own temporary profile. Nothing is mocked: the page's
// `new WebSocket(url)` is Chromium's own implementation on a real socket.
// A missing Chromium fails the test with a message; it never skips.

import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function chromiumPath(): string {
  const found = CANDIDATES.find((candidate) => candidate !== undefined && existsSync(candidate));
  if (found === undefined) throw new Error('Chromium not found: install the Debian package chromium (apt-get install -y chromium) or set CHROMIUM_PATH');
  return found;
}

/** `trustSpki`: base64 SHA-256 public-key hashes the browser accepts for TLS (a test certificate's). */
export async function launchBrowser(options: { trustSpki?: readonly string[] } = {}): Promise<Browser> {
  const args = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'];
  if (options.trustSpki !== undefined && options.trustSpki.length > 0) args.push(`--ignore-certificate-errors-spki-list=${options.trustSpki.join(',')}`);
  return puppeteer.launch({ executablePath: chromiumPath(), headless: true, args, timeout: 30_000 });
}
