import type { ContainerDetails } from '../../adapters/docker-types.js';
import type { ServiceSpec } from '../../manifests/kinds/service.js';

export type ServiceAction =
  | { type: 'remove'; containerId: string; reason: string }
  | { type: 'create'; reason: string; isRestart: boolean }
  | { type: 'start'; containerId: string; reason: string; isRestart: boolean }
  | { type: 'restart'; containerId: string; reason: string }
  | { type: 'wait'; reason: string; retryAfterMs: number };

export interface ServicePlanInput {
  /** undefined: no manifest declares the service any more. */
  desired?: { hash: string; restartPolicy: ServiceSpec['restartPolicy'] };
  /** Every container this agent owns for the service, in any state. */
  containers: readonly ContainerDetails[];
  /** undefined when every dependency is satisfied, else what we are waiting for. */
  waitingFor?: string;
  /** Milliseconds before a crash-loop restart is allowed (0: now). */
  restartDelayMs: number;
  /** Whether the agent already saw a container for this service (so a missing one was removed behind its back). */
  previouslyCreated: boolean;
}

/** How often to look again while waiting on a dependency; events usually wake us sooner. */
export const DEPENDENCY_POLL_MS = 2000;

/**
 * The pure heart of the Service reconciler: from what is declared and what runs, the actions that
 * converge them. No I/O, so every case is a plain-data unit test.
 */
export function planService(input: ServicePlanInput): ServiceAction[] {
  const { desired, containers } = input;
  if (!desired) return containers.map((c) => ({ type: 'remove', containerId: c.id, reason: 'no longer declared' }));

  const actions: ServiceAction[] = [];
  const matching = containers.filter((c) => c.labels['io.certitrack.spec-hash'] === desired.hash);
  for (const c of containers) {
    if (!matching.includes(c)) actions.push({ type: 'remove', containerId: c.id, reason: 'spec changed' });
  }
  // Keep one matching container (a running one if any); extras are duplicates from an interrupted run.
  const keep = [...matching].sort((a, b) => Number(b.running) - Number(a.running))[0];
  for (const c of matching) {
    if (c !== keep) actions.push({ type: 'remove', containerId: c.id, reason: 'duplicate container' });
  }

  const gate = (action: ServiceAction, restart: boolean): ServiceAction => {
    if (input.waitingFor) return { type: 'wait', reason: `waiting for ${input.waitingFor}`, retryAfterMs: DEPENDENCY_POLL_MS };
    if (restart && input.restartDelayMs > 0)
      return { type: 'wait', reason: `crash-loop backoff (${Math.ceil(input.restartDelayMs / 1000)}s)`, retryAfterMs: input.restartDelayMs };
    return action;
  };

  if (!keep) {
    const changed = containers.length > 0;
    const vanished = !changed && input.previouslyCreated;
    const reason = changed ? 'spec changed' : vanished ? 'container was removed' : 'not created yet';
    actions.push(gate({ type: 'create', reason, isRestart: vanished }, vanished));
    return actions;
  }

  if (keep.running) {
    if (keep.health === 'unhealthy') actions.push(gate({ type: 'restart', containerId: keep.id, reason: 'unhealthy' }, true));
    return actions;
  }

  if (keep.state === 'created') {
    actions.push(gate({ type: 'start', containerId: keep.id, reason: 'created but never started', isRestart: false }, false));
    return actions;
  }

  // exited or dead
  const wantsRestart =
    desired.restartPolicy === 'Always' || (desired.restartPolicy === 'OnFailure' && (keep.exitCode !== 0 || keep.oomKilled));
  if (wantsRestart) {
    const why = keep.oomKilled ? 'killed for lack of memory' : `exited with code ${keep.exitCode}`;
    actions.push(gate({ type: 'start', containerId: keep.id, reason: why, isRestart: true }, true));
  }
  return actions;
}

/** Whether a dependent may start against this container under the given condition. */
export function dependencySatisfied(c: ContainerDetails | undefined, condition: 'started' | 'healthy'): boolean {
  if (!c?.running) return false;
  return condition === 'started' || c.health === 'healthy';
}
