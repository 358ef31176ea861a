import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBenchAgent, tempDir } from '../lib/agent.js';
import { ComposeProject } from '../lib/compose.js';
import { waitAllReady } from '../lib/engine.js';
import type { BenchContext, Row } from '../lib/results.js';
import { toCompose, toManifests, type BenchStack } from '../lib/stack.js';
import { median } from '../lib/stats.js';

export interface ColdStartResult {
  agentMs: number[];
  composeMs: number[];
  agentCalls: number[];
  agentRequests: number[];
  /** The last round's deployments, left running when `keepLast` is set (the caller removes them). */
  kept: { manifestsDir: string; composeDir: string; instance?: string; stateDir?: string; project?: ComposeProject };
}

/**
 * Cold start to all-ready, alternating which tool goes first each round. The agent is the library
 * call the CLI's `apply` makes (buildAgent + applyOnce: load, reconcile, wait for every service to
 * be Ready); compose is `docker-compose up -d` plus polling until every container is running and,
 * where it has a healthcheck, healthy (compose 1.29 has no --wait). Nothing exists before a round.
 */
export async function coldStart(
  ctx: BenchContext,
  tag: string,
  stack: BenchStack,
  rounds: number,
  timeoutMs: number,
  opts: { keepLast?: boolean; composeBatch?: number } = {},
): Promise<ColdStartResult> {
  const keepLast = opts.keepLast ?? false;
  const manifestsDir = await tempDir(`${tag}-manifests`);
  await writeFile(join(manifestsDir, 'stack.yaml'), toManifests(stack, ctx.runId));
  const composeDir = await tempDir(`${tag}-compose`);
  const n = stack.services.length;
  const result: ColdStartResult = { agentMs: [], composeMs: [], agentCalls: [], agentRequests: [], kept: { manifestsDir, composeDir } };

  for (let round = 0; round < rounds; round++) {
    const last = round === rounds - 1;
    // Alternate who goes first; on the last round compose goes first so the agent's stack is the one left for later.
    const agentFirst = keepLast && last ? false : round % 2 === 0;
    for (const who of agentFirst ? ['agent', 'compose'] : ['compose', 'agent']) {
      if (who === 'agent') {
        const instance = ctx.cleanup.instance(`bench-${ctx.runId}-${tag}-${round}`);
        const stateDir = await tempDir(`${tag}-state`);
        const t0 = performance.now();
        const b = await createBenchAgent(manifestsDir, instance, { stateDir });
        const r = await b.agent.applyOnce(timeoutMs);
        const ms = performance.now() - t0;
        await b.agent.stop();
        if (!r.converged) throw new Error(`agent did not converge on ${tag} (not ready: ${r.notReady.join(', ')}; ${r.load.errors.join('; ')})\n${b.log.lines.slice(-5).join('\n')}`);
        await waitAllReady([`io.certitrack.instance=${instance}`], n, 10_000);
        result.agentMs.push(ms);
        result.agentCalls.push(b.calls.total());
        result.agentRequests.push(b.requests.total());
        ctx.say(`  ${tag} round ${round + 1}/${rounds}: agent ${Math.round(ms)} ms (${b.calls.total()} adapter calls, ${b.requests.total()} HTTP requests)`);
        if (keepLast && last) Object.assign(result.kept, { instance, stateDir });
        else {
          await ctx.cleanup.instanceGone(instance);
          await rm(stateDir, { recursive: true, force: true });
        }
      } else if (ctx.compose.available) {
        const project = new ComposeProject(ctx.cleanup.project(`bench${ctx.runId}${tag.replace(/[^a-z0-9]/g, '')}${round}`), composeDir);
        await project.write(toCompose(stack, ctx.runId));
        const batches = opts.composeBatch ? chunk(stack.services.map((s) => s.name), opts.composeBatch) : [undefined];
        const t0 = performance.now();
        for (const services of batches) await project.up({ services });
        await waitAllReady([project.label], n, timeoutMs);
        const ms = performance.now() - t0;
        result.composeMs.push(ms);
        ctx.say(`  ${tag} round ${round + 1}/${rounds}: compose ${Math.round(ms)} ms`);
        if (keepLast && last) result.kept.project = project;
        else await ctx.cleanup.projectGone(project.name);
      }
    }
  }
  if (!keepLast) {
    await rm(manifestsDir, { recursive: true, force: true });
    await rm(composeDir, { recursive: true, force: true });
  }
  return result;
}

function chunk<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

export function coldStartRow(ctx: BenchContext, benchmark: string, r: ColdStartResult): Row {
  return {
    benchmark,
    metric: 'to all ready, median',
    unit: 'ms',
    agent: median(r.agentMs),
    peer: ctx.compose.available ? median(r.composeMs) : undefined,
    peerName: 'docker-compose up -d',
    note: `${r.agentMs.length} rounds; agent: ${Math.round(median(r.agentCalls) ?? 0)} adapter calls / ${Math.round(median(r.agentRequests) ?? 0)} HTTP requests`,
    samples: { agent: r.agentMs, peer: r.composeMs },
  };
}

export async function runColdStarts(ctx: BenchContext, stacks: { tag: string; title: string; stack: BenchStack }[]): Promise<void> {
  for (const { tag, title, stack } of stacks) {
    ctx.say(`cold start: ${title}`);
    const r = await coldStart(ctx, tag, stack, ctx.opts.rounds, 180_000);
    ctx.rows.push(coldStartRow(ctx, title, r));
  }
}
