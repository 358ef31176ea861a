import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBenchAgent, tempDir } from '../lib/agent.js';
import { docker, EventRecorder, execIn, waitAllReady, type EngineEvent } from '../lib/engine.js';
import type { BenchContext } from '../lib/results.js';
import { PEER_LABEL, SICK_HEALTH, toDockerRun, toManifests, type BenchService } from '../lib/stack.js';
import { median } from '../lib/stats.js';

/** How long to watch for a restart that Docker's policy is documented never to do. */
const NEVER_WAIT_MS = 10_000;
const TRIAL_TIMEOUT_MS = 20_000;

const isUnhealthy = (e: EngineEvent): boolean => e.action.startsWith('health_status') && e.action.includes('unhealthy');

/**
 * Time from the failure to the container running again, from the engine's own event timestamps:
 * `die` (or `health_status: unhealthy`) to the next `start` of the same container name. Undefined
 * when nothing restarted it within `timeoutMs`.
 */
async function recovery(rec: EventRecorder, name: string, trigger: () => Promise<void>, failure: (e: EngineEvent) => boolean, timeoutMs: number): Promise<number | undefined> {
  const after = Date.now() - 5;
  await trigger();
  const failed = await rec.next((e) => e.name === name && failure(e), after, TRIAL_TIMEOUT_MS);
  if (!failed) throw new Error(`${name}: the failure was never seen in the engine's events`);
  const started = await rec.next((e) => e.name === name && e.action === 'start', failed.atMs, timeoutMs);
  return started ? started.atMs - failed.atMs : undefined;
}

const crash = (name: string) => () => execIn(name, ['kill', '-USR1', '1']);
const kill = (name: string) => () => docker.getContainer(name).kill().then(() => undefined);
const sicken = (name: string) => () => execIn(name, ['touch', '/tmp/sick']);
const died = (e: EngineEvent): boolean => e.action === 'die';

/**
 * The agent (running, event-driven, shipped defaults) against Docker's `restart: unless-stopped`
 * on identical containers. Each round uses fresh services, so every measurement is a first
 * failure (neither tool's crash-loop backoff is involved).
 */
export async function selfHealing(ctx: BenchContext): Promise<void> {
  const n = ctx.opts.rounds;
  const services: BenchService[] = [];
  for (let i = 0; i < n; i++) {
    services.push({ name: `crash-${i}`, role: 'crashable' }, { name: `kill-${i}`, role: 'crashable' }, { name: `sick-${i}`, role: 'sickable', health: SICK_HEALTH });
  }
  const instance = ctx.cleanup.instance(`bench-${ctx.runId}-heal`);
  const dir = await tempDir('heal');
  await writeFile(join(dir, 'stack.yaml'), toManifests({ networks: [], volumes: [], services }, ctx.runId));
  const peer = (s: string): string => `bench-${ctx.runId}-docker-${s}`;

  ctx.say('self-healing: starting the agent and the Docker-policy containers');
  const b = await createBenchAgent(dir, instance);
  const rec = new EventRecorder();
  try {
    await b.agent.run();
    const deadline = Date.now() + 120_000;
    while (!(b.agent.parts.controller.isApplied() && b.agent.notReadyServices().length === 0)) {
      if (Date.now() > deadline) throw new Error(`agent not ready: ${b.agent.notReadyServices().join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const peerServices = services.filter((s) => s.name.startsWith('crash-') || s.name === 'kill-0' || s.name === 'sick-0');
    for (const s of peerServices) {
      const c = await docker.createContainer(toDockerRun(s, peer(s.name), ctx.runId, 'unless-stopped'));
      await c.start();
    }
    await waitAllReady([`${PEER_LABEL}=${ctx.runId}`], peerServices.length, 60_000);
    await rec.start(ctx.runLabel);

    const agentExit: number[] = [];
    const dockerExit: number[] = [];
    const agentKill: number[] = [];
    const agentSick: number[] = [];
    for (let i = 0; i < n; i++) {
      const a = (): Promise<void> => recovery(rec, `${instance}-crash-${i}`, crash(`${instance}-crash-${i}`), died, TRIAL_TIMEOUT_MS).then((ms) => void (ms !== undefined && agentExit.push(ms)));
      const d = (): Promise<void> => recovery(rec, peer(`crash-${i}`), crash(peer(`crash-${i}`)), died, TRIAL_TIMEOUT_MS).then((ms) => void (ms !== undefined && dockerExit.push(ms)));
      for (const step of i % 2 === 0 ? [a, d] : [d, a]) await step();
      const k = await recovery(rec, `${instance}-kill-${i}`, kill(`${instance}-kill-${i}`), died, TRIAL_TIMEOUT_MS);
      if (k !== undefined) agentKill.push(k);
      const s = await recovery(rec, `${instance}-sick-${i}`, sicken(`${instance}-sick-${i}`), isUnhealthy, TRIAL_TIMEOUT_MS);
      if (s !== undefined) agentSick.push(s);
      ctx.say(`  round ${i + 1}/${n}: exit agent ${agentExit.at(-1)?.toFixed(0)} ms / docker ${dockerExit.at(-1)?.toFixed(0)} ms; docker kill agent ${k?.toFixed(0)} ms; unhealthy agent ${s?.toFixed(0)} ms`);
    }
    // Docker's documented "never", checked once each, both at the same time.
    ctx.say(`  watching Docker's policy for ${NEVER_WAIT_MS / 1000} s after docker kill and after unhealthy`);
    const [dockerKill, dockerSick] = await Promise.all([
      recovery(rec, peer('kill-0'), kill(peer('kill-0')), died, NEVER_WAIT_MS),
      recovery(rec, peer('sick-0'), sicken(peer('sick-0')), isUnhealthy, NEVER_WAIT_MS),
    ]);
    const never = (ms: number | undefined): number | string => ms ?? `never (${NEVER_WAIT_MS / 1000} s)`;
    const lost = (got: number[]): string => (got.length < n ? `; ${n - got.length} of ${n} never recovered` : '');
    ctx.rows.push(
      {
        benchmark: 'self-healing: process exits (code 3)',
        metric: 'die -> running, median',
        unit: 'ms',
        agent: median(agentExit),
        peer: median(dockerExit),
        peerName: 'Docker restart: unless-stopped',
        note: `${n} rounds, first failure of a fresh container each${lost(agentExit)}`,
        samples: { agent: agentExit, peer: dockerExit },
      },
      {
        benchmark: 'self-healing: docker kill',
        metric: 'die -> running, median',
        unit: 'ms',
        agent: median(agentKill),
        peer: never(dockerKill),
        peerName: 'Docker restart: unless-stopped',
        note: `Docker treats docker kill as a manual stop${lost(agentKill)}`,
        samples: { agent: agentKill },
      },
      {
        benchmark: 'self-healing: unhealthy',
        metric: 'unhealthy -> running, median',
        unit: 'ms',
        agent: median(agentSick),
        peer: never(dockerSick),
        peerName: 'Docker restart: unless-stopped',
        note: `the agent stops (1 s grace) and starts it${lost(agentSick)}`,
        samples: { agent: agentSick },
      },
    );
  } finally {
    rec.stop();
    await b.agent.stop();
    await ctx.cleanup.instanceGone(instance);
    await ctx.cleanup.removeOwned([`${PEER_LABEL}=${ctx.runId}`]);
    await rm(dir, { recursive: true, force: true });
  }
}
