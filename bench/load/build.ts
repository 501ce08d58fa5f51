// The load benchmark measures what users run: JavaScript compiled from the
// TypeScript sources (the published package is `dist/`), not the sources
// through Node's type stripping. Stripping loads its compiler into every
// thread that imports a .ts file, about 17 MB of RSS each (three threads
// for Flamingo, one for plain net), and that is not what a deployment pays.
// The servers under test and Flamingo are compiled alike, so every server
// is measured the same way.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TSC = `${REPO}node_modules/typescript/bin/tsc`;

/**
 * Compiles the .ts files under `include` (directories below `root`) into
 * `outDir`, keeping their paths relative to `root`. Type errors do not stop
 * it (an old snapshot may not type-check under today's settings); a file
 * that did not come out does.
 */
function compile(root: string, include: readonly string[], outDir: string, mustExist: string): void {
  mkdirSync(outDir, { recursive: true });
  const config = `${outDir}tsconfig.json`;
  writeFileSync(
    config,
    JSON.stringify({
      extends: `${REPO}tsconfig.json`,
      compilerOptions: { noEmit: false, declaration: false, rootDir: root, outDir, noEmitOnError: false },
      include: include.map((dir) => `${root}${dir}`),
    }),
  );
  try {
    execFileSync(process.execPath, [TSC, '-p', config], { stdio: 'pipe' });
  } catch (error) {
    if (!existsSync(`${outDir}${mustExist}`)) throw error;
  }
  if (!existsSync(`${outDir}${mustExist}`)) throw new Error(`compiling ${root} did not produce ${outDir}${mustExist}`);
}

/** Compiles the working tree's src/ and the benchmark servers; returns the directory the servers' .js files are in. */
export function compileServers(buildDir: string): string {
  const outDir = `${buildDir}js/`;
  compile(REPO, ['src', 'bench/load/servers'], outDir, 'bench/load/servers/flamingo.js');
  return `${outDir}bench/load/servers/`;
}

/** Compiles a snapshot's src/ (in `dir`); returns its compiled main entry. */
export function compileSnapshot(dir: string): string {
  compile(dir, ['src'], `${dir}js/`, 'src/main/index.js');
  return `${dir}js/src/main/index.js`;
}
