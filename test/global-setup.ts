import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Builds the CLI bundle the tests spawn (dist/cli.js → dist/cli.bundle.cjs, with its code cache),
 * so every CLI test runs what users run, not the sources through tsx. About two seconds.
 */
export default function setup(): void {
  const root = join(import.meta.dirname, '..');
  execFileSync(process.execPath, [join(root, 'scripts', 'bundle-cli.mjs')], { cwd: root, stdio: 'inherit' });
}
