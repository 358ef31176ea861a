import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBenchAgent, tempDir } from '../lib/agent.js';
import type { BenchContext } from '../lib/results.js';
import { median } from '../lib/stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(root, 'dist', 'cli.js');
/** What users run many times a day should start in 250 ms, about 3x a bare `node -e 0` on a quiet machine. */
const TARGET_MS = 250;

/** Wall-clock of one process from spawn to exit (plain timing; hyperfine is not needed). */
function timeProcess(args: string[]): Promise<{ ms: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, code, stderr }));
  });
}

/**
 * `cli start`: how long the built CLI takes from spawn to exit for the commands people run all
 * day (`--version`, `validate --offline` of the example stack, `status` of a running agent, `plan`
 * of a one-network folder against the engine), alternating with `node -e 0` on the same machine
 * in the same run. Needs `npm run build` (the CLI users run is dist/, not tsx).
 */
export async function cliStart(ctx: BenchContext): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const instance = ctx.cleanup.instance(`bench-${ctx.runId}-cli`);
  const dir = await tempDir('cli');
  await writeFile(join(dir, 'stack.yaml'), `apiVersion: certitrack.io/v1\nkind: Network\nmetadata: { name: cli-net }\n`);
  const b = await createBenchAgent(dir, instance);
  await b.agent.run();
  const planState = await tempDir('cli-plan-state');
  const commands: [string, string[]][] = [
    ['--version', ['--version']],
    ['validate --offline (example stack)', ['validate', '--offline', join(root, 'examples', 'local')]],
    ['status (running agent)', ['status', '--state-dir', b.config.stateDir]],
    ['plan (one network)', ['plan', dir, '--state-dir', planState, '--instance', instance]],
  ];
  const samples = ctx.opts.quick ? 3 : Math.max(10, ctx.opts.rounds * 4);
  try {
    const bare: number[] = [];
    for (const [title, args] of commands) {
      const times: number[] = [];
      for (let i = 0; i < samples; i++) {
        // Alternating, so machine load weighs on both alike.
        bare.push((await timeProcess(['-e', '0'])).ms);
        const r = await timeProcess([CLI, ...args]);
        if (r.code !== 0 && !(title.startsWith('plan') && r.code === 2)) throw new Error(`${title} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        times.push(r.ms);
      }
      const m = median(times) ?? 0;
      const node = median(bare.slice(-samples)) ?? 0;
      ctx.say(`cli start: ${title} ${Math.round(m)} ms (median of ${samples})`);
      ctx.rows.push({
        benchmark: 'cli start',
        metric: `${title}, median`,
        unit: 'ms',
        agent: m,
        peer: node,
        peerName: 'node -e 0',
        // On a busy machine bare node is slower too: 3x of it is the same target, measured fairly.
        note: m <= TARGET_MS ? `within ${TARGET_MS} ms` : m <= 3 * node ? `within 3x node (${TARGET_MS} ms on a quiet machine)` : `over ${TARGET_MS} ms and 3x node`,
        samples: { agent: times, peer: bare.slice(-samples) },
      });
    }
  } finally {
    await b.agent.stop();
  }
}
