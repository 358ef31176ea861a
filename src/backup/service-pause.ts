import { LABEL_SERVICE } from '../adapters/docker-types.js';
import type { ContainerClient } from '../adapters/docker/index.js';
import type { Ownership } from '../reconcilers/ownership.js';
import type { ServiceHolds } from '../state/service-holds.js';
import { type MountTarget, ownedContainersMounting } from './mounting-containers.js';

export interface ServicePauseDeps {
  containers: ContainerClient;
  own: Ownership;
  /** Tells the running agent not to heal what is stopped here; absent, nothing is told. */
  holds?: ServiceHolds;
}

/** The running containers of this agent's Services that mount `target`, by Service name. */
export async function runningServicesMounting(deps: ServicePauseDeps, target: MountTarget): Promise<{ service: string; id: string }[]> {
  const mounting = await ownedContainersMounting(deps.containers, deps.own, target);
  return mounting.flatMap((c) => (c.running && c.labels[LABEL_SERVICE] ? [{ service: c.labels[LABEL_SERVICE], id: c.id }] : []));
}

/**
 * Runs `fn` with the Services that mount `target` stopped (with their own stop grace), held so the
 * agent does not start them again meanwhile, and starts them afterwards, whether `fn` succeeded or
 * not: they are the agent's to keep running. Resolves with `fn`'s result and the Services it stopped.
 */
export async function withServicesStopped<T>(deps: ServicePauseDeps, target: MountTarget | undefined, reason: string, fn: () => Promise<T>): Promise<{ value: T; restarted: string[] }> {
  const running = target ? await runningServicesMounting(deps, target) : [];
  const release = deps.holds ? await deps.holds.hold(running.map((r) => r.service), reason) : async (): Promise<void> => undefined;
  const stopped: typeof running = [];
  let outcome: { value: T } | { error: unknown };
  try {
    for (const r of running) {
      await deps.containers.stop(r.id);
      stopped.push(r);
    }
    outcome = { value: await fn() };
  } catch (error) {
    outcome = { error };
  }
  const failed: string[] = [];
  for (const r of stopped) await deps.containers.start(r.id).catch((err: unknown) => failed.push(`${r.service}: ${(err as Error).message}`));
  await release();
  // A start that failed is the agent's to heal now that the hold is gone; it is said, never hidden.
  const notStarted = failed.length > 0 ? ` (could not start again: ${failed.join('; ')}; the agent heals them)` : '';
  if ('error' in outcome) {
    const err = outcome.error as Error;
    throw notStarted ? new Error(`${err.message}${notStarted}`, { cause: err }) : err;
  }
  if (notStarted) throw new Error(`restored, but${notStarted}`);
  return { value: outcome.value, restarted: stopped.map((r) => r.service) };
}
