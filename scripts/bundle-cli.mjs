#!/usr/bin/env node
// Bundles the CLI into dist/cli.bundle.cjs, which dist/cli.js (src/cli.ts) loads with V8's code
// cache, then trains that cache by running the commands people start most. Why a bundle and a
// cache at all: docs/design.md, "A CLI that starts fast". Run by `npm run build` and by the test
// suite's global setup, so the tests run the CLI users get.
//   node scripts/bundle-cli.mjs [--no-train]
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const bundle = join(dist, 'cli.bundle.cjs');

// Left outside, each for a reason:
//   pino, pino-pretty  pino starts its transports (pretty logs) as worker threads from its own files
//   @aws-sdk/*         ~40 MB, loaded only by the commands that talk to AWS or S3
//   yaml-language-server  a test tool, never loaded by the agent
//   *.node             ssh2's and cpu-features' optional native parts, tried inside try/catch
const external = ['pino', 'pino-pretty', '@aws-sdk/*', 'yaml-language-server', '*.node'];

// Requires made lazy inside the bundle: modules dockerode loads at its start for features the agent
// uses only on some hosts (an ssh:// DOCKER_HOST, a BuildKit session), ~40 ms of ssh2, gRPC and
// protobuf on every `plan`. The function keeps the module's behaviour for whoever calls it; the
// build fails if an upgrade changed the line, rather than silently loading them again.
const deferred = [
  { file: 'docker-modem/lib/modem.js', line: "ssh = require('./ssh')," },
  { file: 'dockerode/lib/docker.js', line: "withSession = require('./session')," },
];
const deferRequires = {
  name: 'defer-requires',
  setup(b) {
    for (const { file, line } of deferred) {
      const path = join(root, 'node_modules', file);
      b.onLoad({ filter: new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`) }, async () => {
        const text = await readFile(path, 'utf8');
        if (!text.includes(line)) throw new Error(`${file} no longer has \`${line}\`: update scripts/bundle-cli.mjs`);
        const [name, call] = line.split(' = ');
        return { contents: text.replace(line, `${name} = (...args) => ${call.replace(/,$/, '')}(...args),`), loader: 'js', resolveDir: dirname(path) };
      });
    }
  },
};

mkdirSync(dist, { recursive: true });
rmSync(`${bundle}.cache`, { force: true });
// The launcher, so the tests' global setup needs no tsc run (npm run build emits the same file first).
await build({ entryPoints: [join(root, 'src', 'cli.ts')], outfile: join(dist, 'cli.js'), platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' });
await build({
  entryPoints: [join(root, 'src', 'cli-main.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external,
  // import() of what stays outside becomes require(): Node 20 loses a vm.Script's dynamic-import
  // callback for functions read from a code cache ("A dynamic import callback was not specified").
  supported: { 'dynamic-import': false },
  plugins: [deferRequires],
  // The one import.meta in src/ (version.ts finds package.json beside dist/).
  define: { 'import.meta.url': '__bundleUrl' },
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  // Smaller to read at every start; names are kept, so stack traces stay readable (and the map has the rest).
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  logLevel: 'warning',
});
// dockerode reads its BuildKit .proto files from beside itself (__dirname), which is dist/ now.
cpSync(join(root, 'node_modules', 'dockerode', 'lib', 'proto'), join(dist, 'proto'), { recursive: true });

if (!process.argv.includes('--no-train')) {
  // Each run adds the functions it compiled to the cache. plan and status run against nothing that
  // exists (a probe instance, an empty state dir): they read, fail or find no agent, and change nothing.
  const scratch = mkdtempSync(join(tmpdir(), 'certitrack-bundle-'));
  writeFileSync(join(scratch, 'network.yaml'), 'apiVersion: certitrack.io/v1\nkind: Network\nmetadata: { name: probe }\n');
  const runs = [
    [['--help'], [0]],
    [['validate', '--offline', join(root, 'examples', 'local')], [0]],
    [['plan', scratch, '--state-dir', join(scratch, 'state'), '--instance', 'certitrack-bundle-probe'], [0, 1, 2]],
    [['status', '--state-dir', join(scratch, 'state')], [0, 1, 2, 3]],
  ];
  try {
    for (const [args, codes] of runs) {
      const r = spawnSync(process.execPath, [join(dist, 'cli.js'), ...args], { env: { ...process.env, CERTITRACK_CODE_CACHE: 'refresh', NO_COLOR: '1' }, stdio: 'ignore', timeout: 60_000 });
      if (!codes.includes(r.status)) throw new Error(`training run \`${args.join(' ')}\` exited ${r.status ?? r.signal}`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
