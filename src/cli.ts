#!/usr/bin/env node
// The command people run. A CLI that starts in 1 s is one nobody puts in a CI step or a shell
// loop, and most of that second was Node finding, reading and compiling ~1,500 modules (zod,
// yaml, dockerode, ssh2, grpc...). So the build bundles the CLI into one file (cli.bundle.cjs,
// scripts/bundle-cli.mjs) and this launcher compiles it with V8's code cache: the bytecode of every
// function the build's training run compiled is read back instead of parsed again. Node 20 has no
// module.enableCompileCache (22.1+), hence the vm.Script. Without a bundle beside it (running from
// src/ through tsx), it imports the program directly.
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const bundle = fileURLToPath(new URL('./cli.bundle.cjs', import.meta.url));
const cacheFile = `${bundle}.cache`;

/** The cache, when it was written from this very bundle (V8 itself checks only the source's length). */
function readCache(): Buffer | undefined {
  try {
    if (statSync(cacheFile).mtimeMs < statSync(bundle).mtimeMs) return undefined;
    return readFileSync(cacheFile);
  } catch {
    return undefined;
  }
}

/**
 * Writes the cache when there was none or V8 refused it (another Node, other flags), and always
 * with CERTITRACK_CODE_CACHE=refresh (the build's training run); =off neither reads nor writes it.
 * Atomic, so two CLIs starting at once never read half a file; a read-only install (systemd's
 * ProtectSystem) just runs uncached.
 */
function saveCacheOnExit(script: Script, hadCache: boolean): void {
  if (hadCache && !script.cachedDataRejected && process.env.CERTITRACK_CODE_CACHE !== 'refresh') return;
  process.once('exit', () => {
    try {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      // Not writable: the next start compiles again, as it would without a cache.
    }
  });
}

function runBundle(source: string): void {
  const off = process.env.CERTITRACK_CODE_CACHE === 'off';
  const cachedData = off ? undefined : readCache();
  // The CommonJS wrapper Node itself would put around the file, on one line so positions in stack traces stay right.
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source.replace(/^#!.*/, '')}\n})`;
  const script = new Script(wrapped, {
    filename: bundle,
    ...(cachedData ? { cachedData } : {}),
  });
  if (process.env.CERTITRACK_CODE_CACHE === 'debug') {
    process.stderr.write(`code cache: ${!cachedData ? 'none' : script.cachedDataRejected ? 'rejected' : 'used'}\n`);
  }
  if (!off) saveCacheOnExit(script, cachedData !== undefined);
  const main = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;
  const module = { exports: {} };
  main(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
}

let source: string | undefined;
try {
  source = readFileSync(bundle, 'utf8');
} catch {
  source = undefined;
}
if (source === undefined) await import('./cli-main.js');
else runBundle(source);
