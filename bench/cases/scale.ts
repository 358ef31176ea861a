import { rm } from 'node:fs/promises';
import { isChange } from '../../src/engine/reconcile.js';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { createBenchAgent, tempDir, type BenchAgent } from '../lib/agent.js';
import { ComposeProject, ComposeStalled } from '../lib/compose.js';
import { docker } from '../lib/engine.js';
import { CountingSocketProxy } from '../lib/counting.js';
import type { BenchContext } from '../lib/results.js';
import { flatStack, toCompose, type BenchStack } from '../lib/stack.js';
import { median } from '../lib/stats.js';
import { coldStart, coldStartRow } from './cold-start.js';

const MiB = 1024 * 1024;
/** Services per `docker-compose up -d` call when one call for all of them stalls. */
const COMPOSE_BATCH = 40;
/** No output from docker-compose for this long: it has deadlocked (docker/compose#7486). */
const STALL_MS = 20_000;

/**
 * One plain `docker-compose up -d` of the whole stack, not timed: compose 1.x is known to deadlock
 * with a hundred services or more. When it does, the timed rounds use batches (what users do).
 */
async function composeCanStartAtOnce(ctx: BenchContext, stack: BenchStack): Promise<{ ok: boolean; note?: string }> {
  if (!ctx.compose.available) return { ok: true };
  const dir = await tempDir('scale-probe');
  const project = new ComposeProject(ctx.cleanup.project(`bench${ctx.runId}probe`), dir);
  await project.write(toCompose(stack, ctx.runId));
  ctx.say(`scale: one plain docker-compose up -d of ${stack.services.length} services (compose 1.x may deadlock)`);
  try {
    await project.up({ stallMs: STALL_MS });
    return { ok: true };
  } catch (err) {
    if (!(err instanceof ComposeStalled)) throw err;
    // Let the engine finish the creates compose had in flight before removing anything.
    await new Promise((r) => setTimeout(r, 3000));
    const made = (await docker.listContainers({ all: true, filters: { label: [project.label] } })).length;
    ctx.say(`  plain up -d stalled after creating ${made}/${stack.services.length} containers; timing batches of ${COMPOSE_BATCH}`);
    return { ok: false, note: `one plain up -d of all ${stack.services.length} stalled after ${made} containers (compose 1.x thread-pool deadlock, docker/compose#7486, #8161)` };
  } finally {
    await ctx.cleanup.projectGone(project.name);
  }
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * 200 services: cold start against compose; then, with that deployment left running, the agent
 * idle (CPU, RSS, Docker API requests per minute) and the no-op passes (resync, plan) against
 * compose's own no-op (`up -d` on an unchanged project).
 */
export async function scale(ctx: BenchContext): Promise<void> {
  const n = ctx.opts.scaleServices;
  const stack = flatStack(n);
  const title = `cold start, ${n} services`;
  const plain = await composeCanStartAtOnce(ctx, stack);
  const batch = plain.ok ? undefined : COMPOSE_BATCH;
  ctx.say(`scale: ${title} (${ctx.opts.scaleRounds} rounds${batch ? `, compose in batches of ${batch}` : ''})`);
  const cold = await coldStart(ctx, 'scale', stack, ctx.opts.scaleRounds, 15 * 60_000, { keepLast: true, composeBatch: batch });
  const row = coldStartRow(ctx, title, cold);
  if (!plain.ok) {
    row.peerName = `docker-compose up -d, ${Math.ceil(n / COMPOSE_BATCH)} batches of ${COMPOSE_BATCH}`;
    row.note = `${row.note ?? ''}; ${plain.note}`;
  }
  ctx.rows.push(row);
  const { kept } = cold;
  if (!kept.instance || !kept.stateDir) throw new Error('scale: the agent deployment was not kept');

  // The same process with no agent running, for what the runtime itself costs (tsx, timers of
  // agents built and stopped earlier in this run, other load on the machine).
  const baselineSeconds = Math.min(10, ctx.opts.idleSeconds);
  const base0 = process.cpuUsage();
  await sleep(baselineSeconds * 1000);
  const base = process.cpuUsage(base0);
  const baselineMsPerS = (base.user + base.system) / 1000 / baselineSeconds;

  let b: BenchAgent | undefined;
  let resync: NoopResult = { ms: [], calls: [], requests: [], byName: {} };
  try {
    b = await createBenchAgent(kept.manifestsDir, kept.instance, { stateDir: kept.stateDir });
    await b.agent.run();
    const deadline = Date.now() + 120_000;
    while (!(b.agent.parts.controller.isApplied() && b.agent.notReadyServices().length === 0)) {
      if (Date.now() > deadline) throw new Error(`scale: agent not ready on its own deployment: ${b.agent.notReadyServices().slice(0, 5).join(', ')}`);
      await sleep(100);
    }
    // What starting on an existing deployment cost, then let its first burst settle.
    const startup = { calls: b.calls.total(), requests: b.requests.total() };
    await b.agent.parts.controller.whenIdle();
    await sleep(1000);
    await idle(ctx, b, n, startup, baselineMsPerS);
    resync = await noopResync(ctx, b, n);
  } finally {
    await b?.agent.stop();
  }
  const composeNoopResult = await composeNoop(ctx, kept.project, n);
  ctx.rows.push({
    benchmark: `no-op pass, ${n} services`,
    metric: 'resync vs compose up -d, median',
    unit: 'ms',
    agent: median(resync.ms),
    peer: composeNoopResult ? median(composeNoopResult.ms) : undefined,
    peerName: 'docker-compose up -d (unchanged)',
    note:
      `agent: ${median(resync.calls)} adapter calls / ${median(resync.requests)} HTTP requests per pass ${JSON.stringify(resync.byName)}` +
      (composeNoopResult ? `; compose: ${median(composeNoopResult.requests)} HTTP requests per pass (socket proxy)` : ''),
    samples: { agent: resync.ms, peer: composeNoopResult?.ms },
  });
  await noopPlan(ctx, kept.manifestsDir, kept.instance, n);

  await ctx.cleanup.instanceGone(kept.instance);
  if (kept.project) await ctx.cleanup.projectGone(kept.project.name);
  await rm(kept.manifestsDir, { recursive: true, force: true });
  await rm(kept.composeDir, { recursive: true, force: true });
  await rm(kept.stateDir, { recursive: true, force: true });
}

async function idle(ctx: BenchContext, b: BenchAgent, n: number, startup: { calls: number; requests: number }, baselineMsPerS: number): Promise<void> {
  const seconds = ctx.opts.idleSeconds;
  ctx.say(`scale: agent idle for ${seconds} s over ${n} running services`);
  const calls = b.calls.snapshot();
  const requests = b.requests.snapshot();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  let rssMax = process.memoryUsage().rss;
  for (let s = 0; s < seconds; s++) {
    await sleep(1000);
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
  }
  const wallMs = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  const mem = process.memoryUsage();
  const c = b.calls.since(calls);
  const r = b.requests.since(requests);
  const perMin = (x: number): number => (x * 60_000) / wallMs;
  const where = 'the bench process hosting the agent (tsx loader included)';
  ctx.rows.push(
    {
      benchmark: `idle, ${n} services, ${seconds} s`,
      metric: 'CPU time',
      unit: 'ms',
      agent: cpuMs,
      peer: 'n/a',
      peerName: 'compose is not a daemon',
      note: `${((cpuMs / wallMs) * 100).toFixed(2)}% of one core; ${where}; the same process without an agent: ${baselineMsPerS.toFixed(1)} ms/s`,
    },
    {
      benchmark: `idle, ${n} services, ${seconds} s`,
      metric: 'RSS (max)',
      unit: 'MiB',
      agent: rssMax / MiB,
      peer: 'n/a',
      peerName: '',
      note: `heap used ${(mem.heapUsed / MiB).toFixed(0)} MiB; ${where}`,
    },
    {
      benchmark: `idle, ${n} services, ${seconds} s`,
      metric: 'Docker API requests',
      unit: 'per-min',
      agent: perMin(r.total),
      peer: 'n/a',
      peerName: '',
      note: `adapter calls ${perMin(c.total).toFixed(1)}/min ${JSON.stringify(c.byName)}; the event stream is one long request; startup on the running deployment: ${startup.calls} calls / ${startup.requests} requests`,
    },
  );
}

interface NoopResult {
  ms: number[];
  calls: number[];
  requests: number[];
  byName: Record<string, number>;
}

/** A full resync of the running agent (what the 5-minute timer and an event reconnect do). */
async function noopResync(ctx: BenchContext, b: BenchAgent, n: number): Promise<NoopResult> {
  ctx.say(`no-op: resync over ${n} services (${ctx.opts.rounds} rounds)`);
  const out: NoopResult = { ms: [], calls: [], requests: [], byName: {} };
  for (let i = 0; i < ctx.opts.rounds; i++) {
    const c0 = b.calls.snapshot();
    const r0 = b.requests.snapshot();
    const t0 = performance.now();
    await b.agent.parts.controller.resync('bench');
    await b.agent.parts.controller.whenIdle();
    out.ms.push(performance.now() - t0);
    const c = b.calls.since(c0);
    out.calls.push(c.total);
    out.requests.push(b.requests.since(r0).total);
    out.byName = c.byName;
  }
  return out;
}

async function noopPlan(ctx: BenchContext, manifestsDir: string, instance: string, n: number): Promise<void> {
  ctx.say(`no-op: plan over ${n} services (${ctx.opts.rounds} rounds)`);
  const ms: number[] = [];
  const calls: number[] = [];
  const requests: number[] = [];
  let changes = 0;
  for (let i = 0; i < ctx.opts.rounds; i++) {
    const stateDir = await tempDir('plan-state');
    const b = await createBenchAgent(manifestsDir, instance, { stateDir });
    const t0 = performance.now();
    const { load, actions } = await b.agent.plan();
    ms.push(performance.now() - t0);
    if (!load.ok) throw new Error(`plan: manifests rejected: ${load.errors.join('; ')}`);
    changes = actions.filter(isChange).length;
    calls.push(b.calls.total());
    requests.push(b.requests.total());
    await b.agent.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
  ctx.rows.push({
    benchmark: `no-op pass, ${n} services`,
    metric: 'plan: time, median',
    unit: 'ms',
    agent: median(ms),
    peer: 'n/a',
    peerName: 'compose 1.29 has no dry run',
    note: `${median(calls)} adapter calls / ${median(requests)} HTTP requests; ${changes} changes planned (must be 0)`,
    samples: { agent: ms },
  });
}

async function composeNoop(ctx: BenchContext, project: ComposeProject | undefined, n: number): Promise<{ ms: number[]; requests: number[] } | undefined> {
  if (!project) return undefined;
  const rounds = Math.min(ctx.opts.rounds, 3);
  ctx.say(`no-op: docker-compose up -d on the unchanged ${n}-service project (${rounds} rounds)`);
  const proxy = new CountingSocketProxy(join(tmpdir(), `certitrack-bench-${ctx.runId}.sock`));
  await proxy.start();
  const ms: number[] = [];
  const requests: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const before = proxy.counter.snapshot();
      const t0 = performance.now();
      await project.up({ dockerHost: `unix://${proxy.path}` });
      ms.push(performance.now() - t0);
      requests.push(proxy.counter.since(before).total);
    }
  } finally {
    await proxy.stop();
  }
  return { ms, requests };
}
