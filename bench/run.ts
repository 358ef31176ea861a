/**
 * The agent against what users would pick instead, on this machine, with one command:
 *
 *   npm run bench                      # about 12 minutes on 2 cores
 *   npm run bench -- --quick           # a smoke run of every benchmark, about 2 minutes
 *   npm run bench -- --rounds 3 --idle-seconds 20 --only cold,heal
 *   npm run bench -- --only cli         # CLI start times (needs npm run build)
 *
 * Peers: Debian's docker-compose 1.29 (`up -d` on an equivalent compose file generated from the
 * same stack description) and Docker's own `restart: unless-stopped`. Both run in the same run, on
 * the same image, alternating, several rounds; the table shows medians and agent/peer ratios, and
 * the samples go to bench/results/. Every container, network and volume created carries this
 * run's labels and is removed at the end (also on Ctrl-C). Method: docs/benchmarks.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { changeApplied } from './cases/change-applied.js';
import { deployUnderLoad } from './cases/deploy-under-load.js';
import { cliStart } from './cases/cli-start.js';
import { runColdStarts } from './cases/cold-start.js';
import { scale } from './cases/scale.js';
import { selfHealing } from './cases/self-healing.js';
import { removeTempDirs } from './lib/agent.js';
import { Cleanup } from './lib/cleanup.js';
import { checkCompose, killComposeChildren } from './lib/compose.js';
import { docker } from './lib/engine.js';
import { parseOptions } from './lib/options.js';
import { renderTable, type BenchContext } from './lib/results.js';
import { BENCH_LABEL, chainStack, exampleStack, IMAGE } from './lib/stack.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  // Never let the agent's AWS SDK reach for the EC2 metadata address from a benchmark.
  process.env.AWS_EC2_METADATA_DISABLED ??= 'true';
  const say = (m: string): void => void process.stderr.write(`[bench] ${m}\n`);

  try {
    await docker.ping();
  } catch {
    say('Docker does not answer on /var/run/docker.sock; start it (bash scripts/setup.sh) and run again.');
    return 1;
  }
  try {
    await docker.getImage(IMAGE).inspect();
  } catch {
    say(`image ${IMAGE} is missing; build it with: bash scripts/build-images.sh`);
    return 1;
  }
  const compose = await checkCompose();
  if (!compose.available) say(compose.hint ?? 'docker-compose missing');

  const runId = randomBytes(3).toString('hex');
  const runLabel = `${BENCH_LABEL}=${runId}`;
  const cleanup = new Cleanup(runLabel);
  const ctx: BenchContext = { opts, runId, runLabel, cleanup, compose, rows: [], say };
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    say('interrupted: removing what this run created');
    killComposeChildren();
    // Twice: an agent still running in this process may recreate something between list and exit.
    void cleanup.removeOwned().then(() => cleanup.removeOwned()).then(removeTempDirs).finally(() => process.exit(130));
  });

  const server = await docker.version();
  const machine = {
    cpu: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}`,
    memoryGiB: Number((totalmem() / 1024 ** 3).toFixed(1)),
    kernel: release(),
    docker: server.Version,
    compose: compose.version ?? 'not installed',
    node: process.version,
  };
  const started = new Date();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  say(`run ${runId}: ${command}; ${machine.cpu}, Docker ${machine.docker}, docker-compose ${machine.compose}`);

  const selected = (name: string): boolean => opts.only.size === 0 || opts.only.has(name);
  const steps: [string, () => Promise<void>][] = [
    ['cold', () => runColdStarts(ctx, [
      { tag: 'example', title: 'cold start, example stack (6 services)', stack: exampleStack() },
      { tag: 'chain', title: `cold start, ${opts.chainServices}-service healthy chain`, stack: chainStack(opts.chainServices) },
    ])],
    ['heal', () => selfHealing(ctx)],
    ['change', () => changeApplied(ctx)],
    ['scale', () => scale(ctx)],
    ['deploy', () => deployUnderLoad(ctx)],
    ['cli', () => cliStart(ctx)],
  ];
  const failures: string[] = [];
  const durations: Record<string, number> = {};
  try {
    for (const [name, step] of steps) {
      if (!selected(name) || interrupted) continue;
      const t0 = Date.now();
      try {
        await step();
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
        say(`${name} FAILED: ${(err as Error).message}`);
        ctx.rows.push({ benchmark: name, metric: 'FAILED', unit: 'count', agent: 'error', peer: undefined, peerName: '', note: (err as Error).message.split('\n')[0] });
      }
      durations[name] = Math.round((Date.now() - t0) / 1000);
    }
  } finally {
    await cleanup.removeOwned();
    await removeTempDirs();
  }

  const totalSeconds = Math.round((Date.now() - started.getTime()) / 1000);
  process.stdout.write(`\ncertitrack-agent benchmarks — ${started.toISOString()} — ${command}\n`);
  process.stdout.write(`machine: ${machine.cpu}, ${machine.memoryGiB} GiB, kernel ${machine.kernel}, Docker ${machine.docker}, docker-compose ${machine.compose}, Node ${machine.node}\n\n`);
  process.stdout.write(renderTable(ctx.rows));
  process.stdout.write(`\ntook ${totalSeconds} s (${Object.entries(durations).map(([k, v]) => `${k} ${v} s`).join(', ')})\n`);

  const dir = join(root, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const json = JSON.stringify({ runId, date: started.toISOString(), command, machine, options: { ...opts, only: [...opts.only] }, durations, totalSeconds, failures, rows: ctx.rows }, null, 2) + '\n';
  const file = join(dir, `bench-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, json);
  await writeFile(join(dir, 'latest.json'), json);
  say(`results written to ${file} (and bench/results/latest.json)`);
  return failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[bench] ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
