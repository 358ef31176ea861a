import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_VERSION } from '../../src/version.js';
import { ROOT } from '../helpers/cli.js';

// A copy of the built CLI (test/global-setup.ts builds it), so these tests can age and break its
// code cache without touching the dist/ every other test spawns.
let home: string;
let dist: string;
const cacheFile = () => join(dist, 'cli.bundle.cjs.cache');

/** Runs the copy; `cache` is what the launcher says of the code cache (on stderr, when asked). */
function launch(args: string[]): { code: number | null; stdout: string; cache: string | undefined } {
  const r = spawnSync(process.execPath, [join(dist, 'cli.js'), ...args], { encoding: 'utf8', env: { ...process.env, CERTITRACK_CODE_CACHE: 'debug' } });
  return { code: r.status, stdout: r.stdout.trim(), cache: /^code cache: (\w+)$/m.exec(r.stderr)?.[1] };
}

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'cli-launcher-'));
  dist = join(home, 'dist');
  mkdirSync(dist);
  // -a semantics by hand: the cache must not come out older than the bundle.
  for (const f of ['cli.js', 'cli.bundle.cjs', 'cli.bundle.cjs.cache']) {
    copyFileSync(join(ROOT, 'dist', f), join(dist, f));
    const { atime, mtime } = statSync(join(ROOT, 'dist', f));
    utimesSync(join(dist, f), atime, mtime);
  }
  copyFileSync(join(ROOT, 'package.json'), join(home, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(home, 'node_modules'));
});

afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('the CLI launcher', () => {
  it('runs the bundle with the code cache the build trained', () => {
    const r = launch(['--version']);
    expect(r).toEqual({ code: 0, stdout: AGENT_VERSION, cache: 'used' });
    expect(launch(['validate', '--offline', join(ROOT, 'examples', 'local')])).toMatchObject({ code: 0, cache: 'used' });
  });

  it('ignores a cache older than the bundle (a rebuilt bundle of the same length would otherwise load stale bytecode) and writes a new one', () => {
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(cacheFile(), old, old);
    expect(launch(['--version'])).toEqual({ code: 0, stdout: AGENT_VERSION, cache: 'none' });
    expect(statSync(cacheFile()).mtimeMs).toBeGreaterThan(old.getTime());
    expect(launch(['--version']).cache).toBe('used');
  });

  it('compiles from source when V8 refuses the cache, and replaces it', () => {
    writeFileSync(cacheFile(), Buffer.alloc(4096, 7));
    expect(launch(['--version'])).toEqual({ code: 0, stdout: AGENT_VERSION, cache: 'rejected' });
    expect(launch(['--version']).cache).toBe('used');
  });

  it('runs without any cache, and CERTITRACK_CODE_CACHE=off never reads one', () => {
    rmSync(cacheFile());
    expect(launch(['--version'])).toEqual({ code: 0, stdout: AGENT_VERSION, cache: 'none' });
    expect(existsSync(cacheFile())).toBe(true);
    const off = spawnSync(process.execPath, [join(dist, 'cli.js'), '--version'], { encoding: 'utf8', env: { ...process.env, CERTITRACK_CODE_CACHE: 'off' } });
    expect(off.status).toBe(0);
    expect(off.stdout.trim()).toBe(AGENT_VERSION);
    rmSync(cacheFile());
    spawnSync(process.execPath, [join(dist, 'cli.js'), '--version'], { env: { ...process.env, CERTITRACK_CODE_CACHE: 'off' } });
    expect(existsSync(cacheFile())).toBe(false);
  });

  it('ships the files dockerode reads from beside itself', () => {
    expect(existsSync(join(ROOT, 'dist', 'proto', 'auth.proto'))).toBe(true);
  });
});
