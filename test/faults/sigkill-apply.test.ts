import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { spawnCli } from '../helpers/cli.js';
import { adapter, cleanupInstance, containersOf, docker, LogCapture, removeDir, tempDir, testInstance } from '../helpers/docker.js';
import { writeManifest } from '../helpers/manifests.js';
import { configFrom } from '../../src/config.js';
import { buildAgent } from '../../src/main.js';
import { seededRandom, stackForRound, type RoundStack } from './support/kill-stack.js';
import { Tally } from './support/tally.js';

// Issue 7: the agent (CLI `apply`, its own process) SIGKILLed at random moments of an apply, 20
// times over a 5-7 service stack with dependencies and spec changes between rounds. Started again
// on the same state dir it converges with no duplicate, orphaned or lost container and no
// duplicate network.
const ROUNDS = 20;
const instance = testInstance('fkill');
const seed = Number(process.env.CERTITRACK_FAULTS_SEED ?? Date.now() % 1_000_000);
const random = seededRandom(seed);
const tally = new Tally(`SIGKILL during apply (seed ${seed})`);
let dir: string;
let stateDir: string;
/** Milliseconds from "manifests loaded" to "revision applied" of a full cold apply: kills land inside this. */
let applyWindowMs = 3000;
const landed = { midApply: 0, finishedFirst: 0 };
const phases = new Map<string, number>();

beforeAll(async () => {
  dir = await tempDir('fkill');
  stateDir = await tempDir('fkill-state');
  await writeManifest(dir, 'stack.yaml', stackForRound(0, random).yaml);
  // A cold apply run to the end, to learn how long an apply takes on this machine right now.
  const cold = await runApply(undefined);
  expect(cold.code, cold.lastMessages.join('\n')).toBe(0);
  applyWindowMs = Math.max(1000, cold.applyMs ?? 3000);
});

afterAll(async () => {
  console.log(`${tally.line()}; kills mid-apply ${landed.midApply}, apply finished before the kill ${landed.finishedFirst}; last messages before the kill: ${JSON.stringify(Object.fromEntries(phases))}`);
  await cleanupInstance(instance);
  if (dir) await removeDir(dir);
  if (stateDir) await removeDir(stateDir);
});

interface ApplyRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  applyMs: number | undefined;
  /** The last few log messages (msg fields) before the process ended. */
  lastMessages: string[];
}

/**
 * Runs `certitrack-agent apply` as a child process; with `killAfterLoadMs`, SIGKILLs it that long
 * after it logged "manifests loaded" (so the kill lands inside the apply, not in module loading).
 */
function runApply(killAfterLoadMs: number | undefined): Promise<ApplyRun> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawnCli(['apply', dir, '--timeout', '90s', '--state-dir', stateDir, '--instance', instance, '--restart-backoff', '1s'], { LOG_LEVEL: 'info' });
    const messages: string[] = [];
    let loadedAt: number | undefined;
    let applyMs: number | undefined;
    let buffered = '';
    let timer: NodeJS.Timeout | undefined;
    // apply logs on stderr (JSON lines when not a terminal) and prints its result on stdout.
    child.stderr?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let msg: string;
        try {
          msg = (JSON.parse(line) as { msg?: string }).msg ?? '';
        } catch {
          messages.push(line.trim());
          continue;
        }
        messages.push(msg);
        if (msg === 'manifests loaded' && loadedAt === undefined) {
          loadedAt = Date.now();
          if (killAfterLoadMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAfterLoadMs);
        }
        if (msg === 'revision applied' && loadedAt !== undefined) applyMs = Date.now() - loadedAt;
      }
    });
    child.stdout?.on('data', (d: Buffer) => messages.push(d.toString().trim()));
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, applyMs, lastMessages: messages.slice(-5) });
    });
  });
}

/** The agent started again on the same state dir, as systemd would after the kill. */
async function convergeAgain(): Promise<{ converged: boolean; notReady: string[]; errors: string[] }> {
  const logs = new LogCapture('warn');
  const config = { ...configFrom({ manifestsDir: dir, stateDir, instance, listen: '127.0.0.1:0' }), restartBackoffBaseMs: 1000, restartBackoffMaxMs: 8000 };
  const agent = await buildAgent(config, { log: logs.logger, docker: adapter });
  try {
    const r = await agent.applyOnce(90_000);
    return { converged: r.converged, notReady: r.notReady, errors: [...r.load.errors, ...logs.lines.slice(-5)] };
  } finally {
    await agent.stop();
  }
}

/** Every problem with what runs compared to what is declared: duplicates, orphans, lost, stale. */
async function invariantViolations(stack: RoundStack): Promise<string[]> {
  const problems: string[] = [];
  const containers = await containersOf(instance);
  const byService = new Map<string, typeof containers>();
  for (const c of containers) {
    const s = c.Labels['io.certitrack.service'] ?? '(no service label)';
    byService.set(s, [...(byService.get(s) ?? []), c]);
  }
  for (const [service, list] of byService) {
    if (!stack.versions.has(service)) problems.push(`orphaned container for undeclared service ${service} (${list.map((c) => c.Names[0]).join(', ')})`);
    else if (list.length > 1) problems.push(`duplicate containers for ${service}: ${list.map((c) => `${c.Id.slice(0, 12)} ${c.State}`).join(', ')}`);
  }
  for (const [service, version] of stack.versions) {
    const list = byService.get(service) ?? [];
    if (list.length === 0) {
      problems.push(`lost: no container for ${service}`);
      continue;
    }
    const c = list[0]!;
    if (c.State !== 'running') problems.push(`${service} is ${c.State}`);
    const env = (await docker.getContainer(c.Id).inspect()).Config.Env;
    if (!env.includes(`VERSION=${version}`)) problems.push(`${service} runs a stale spec (${env.find((e) => e.startsWith('VERSION='))}, want ${version})`);
  }
  const networks = await docker.listNetworks({ filters: { label: [`io.certitrack.instance=${instance}`] } });
  const names = networks.map((n) => n.Name);
  for (const name of new Set(names)) if (names.filter((n) => n === name).length > 1) problems.push(`duplicate network ${name}`);
  for (const n of stack.networks) if (!names.includes(`${instance}-${n}`)) problems.push(`network ${n} missing`);
  return problems;
}

describe('SIGKILL at random moments of an apply', () => {
  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: converges after the kill with exactly the declared containers`, async (ctx) => {
      await tally.case(ctx, async (record) => {
        const stack = stackForRound(round, random);
        await writeManifest(dir, 'stack.yaml', stack.yaml);
        const killAfter = Math.floor(random() * applyWindowMs);
        const killed = await runApply(killAfter);
        if (killed.signal === 'SIGKILL') {
          landed.midApply++;
          const last = killed.lastMessages.at(-1) ?? '(nothing logged)';
          phases.set(last, (phases.get(last) ?? 0) + 1);
        } else landed.finishedFirst++;
        const again = await convergeAgain();
        expect(again.converged, `round ${round} (kill after ${killAfter} ms, ${killed.signal ?? `exit ${killed.code}`}): not ready ${again.notReady.join(', ')}; ${again.errors.join('\n')}`).toBe(true);
        const problems = await invariantViolations(stack);
        record(problems.length);
        expect(problems, `round ${round}, seed ${seed}, kill after ${killAfter} ms`).toEqual([]);
      });
    });
  }

  it('landed most kills inside an apply', () => {
    // The window is a cold apply's length; change rounds are shorter, so some applies finish first.
    expect(landed.midApply).toBeGreaterThanOrEqual(ROUNDS / 4);
  });
});
