import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBenchAgent, tempDir } from '../lib/agent.js';
import { ComposeProject } from '../lib/compose.js';
import { EventRecorder, waitAllReady } from '../lib/engine.js';
import type { BenchContext } from '../lib/results.js';
import { exampleStack, toCompose, toManifests, type BenchStack } from '../lib/stack.js';
import { percentile } from '../lib/stats.js';

/** The edited service: a leaf of the example stack, so neither tool has a reason to touch another. */
const EDITED = 'notification-worker';

function edited(stack: BenchStack, edit: number): BenchStack {
  return { ...stack, services: stack.services.map((s) => (s.name === EDITED ? { ...s, env: { EDIT: String(edit) } } : s)) };
}

/**
 * A manifest edit to the new container running: the agent watching its folder (chokidar, 300 ms
 * debounce) against editing the compose file and running `docker-compose up -d`. Measured from
 * the file write to the engine's `start` event of the replacement container, alternating tools.
 */
export async function changeApplied(ctx: BenchContext): Promise<void> {
  const base = exampleStack();
  const edits = ctx.opts.edits;
  const instance = ctx.cleanup.instance(`bench-${ctx.runId}-change`);
  const dir = await tempDir('change');
  const manifest = join(dir, 'stack.yaml');
  await writeFile(manifest, toManifests(edited(base, 0), ctx.runId));
  const composeDir = await tempDir('change-compose');
  const project = ctx.compose.available ? new ComposeProject(ctx.cleanup.project(`bench${ctx.runId}change`), composeDir) : undefined;

  ctx.say('change to applied: starting both stacks');
  const b = await createBenchAgent(dir, instance);
  const rec = new EventRecorder();
  const agentMs: number[] = [];
  const agentDoneMs: number[] = [];
  const composeMs: number[] = [];
  try {
    await b.agent.run();
    if (project) {
      await project.write(toCompose(edited(base, 0), ctx.runId));
      await project.up();
      await waitAllReady([project.label], base.services.length, 120_000);
    }
    await waitAllReady([`io.certitrack.instance=${instance}`], base.services.length, 120_000);
    await rec.start(ctx.runLabel);

    const agentEdit = async (edit: number): Promise<void> => {
      const t0 = Date.now();
      await writeFile(manifest, toManifests(edited(base, edit), ctx.runId));
      // StartFirst: the new container runs as <name>-<hash8> until it takes over the name.
      const started = await rec.next((e) => e.name.startsWith(`${instance}-${EDITED}`) && e.action === 'start', t0, 30_000);
      if (!started) throw new Error(`edit ${edit}: the agent did not start a new ${EDITED} within 30 s\n${b.log.lines.slice(-5).join('\n')}`);
      agentMs.push(started.atMs - t0);
      // The next edit starts from a settled service, as compose's does once `up -d` has returned:
      // an edit that lands mid-rollout waits for it (about 2 s ready gate + drain), which would be
      // measured as the next edit's latency. Docker names a rename event by the new name.
      const done = await rec.next((e) => e.name === `${instance}-${EDITED}` && e.action === 'rename', started.atMs, 30_000);
      if (!done) throw new Error(`edit ${edit}: the rollout of ${EDITED} did not complete within 30 s\n${b.log.lines.slice(-5).join('\n')}`);
      agentDoneMs.push(done.atMs - t0);
    };
    const composeEdit = async (edit: number): Promise<void> => {
      if (!project) return;
      const t0 = Date.now();
      await project.write(toCompose(edited(base, edit), ctx.runId));
      await project.up();
      const started = await rec.next((e) => e.name === `${project.name}_${EDITED}_1` && e.action === 'start', t0, 30_000);
      if (!started) throw new Error(`edit ${edit}: compose did not start a new ${EDITED}`);
      composeMs.push(started.atMs - t0);
    };
    for (let edit = 1; edit <= edits; edit++) {
      for (const step of edit % 2 === 0 ? [agentEdit, composeEdit] : [composeEdit, agentEdit]) {
        await step(edit);
        // Let the watcher's debounce window close so the next edit is a separate change.
        await new Promise((r) => setTimeout(r, 400));
      }
      if (edit % 5 === 0) ctx.say(`  ${edit}/${edits} edits`);
    }
  } finally {
    rec.stop();
    await b.agent.stop();
    await ctx.cleanup.instanceGone(instance);
    if (project) await ctx.cleanup.projectGone(project.name);
    await rm(dir, { recursive: true, force: true });
    await rm(composeDir, { recursive: true, force: true });
  }
  for (const [p, metric] of [[50, 'p50'], [95, 'p95']] as const) {
    ctx.rows.push({
      benchmark: 'change to applied (example stack)',
      metric: `edit -> new container running, ${metric}`,
      unit: 'ms',
      agent: percentile(agentMs, p),
      peer: project ? percentile(composeMs, p) : undefined,
      peerName: 'edit + docker-compose up -d',
      note: p === 50 ? `${agentMs.length} edits; agent watches its folder, compose is run by hand/CI; StartFirst rollout complete (old drained, name taken) p50 ${Math.round(percentile(agentDoneMs, 50) ?? 0)} ms` : undefined,
      samples: p === 50 ? { agent: agentMs, peer: composeMs } : undefined,
    });
  }
}
