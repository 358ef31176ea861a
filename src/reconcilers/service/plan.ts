import { LABEL_SPEC, LABEL_SPEC_HASH, type ContainerDetails } from '../../adapters/docker-types.js';
import type { FieldChange } from '../../engine/reconcile.js';
import type { ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import type { Ownership } from '../ownership.js';
import { desiredContainer, type DesiredContainer } from './container-spec.js';
import type { ImageObservation, ServiceObservation } from './observe.js';
import { restartDelay, type RestartBackoffPolicy } from './restart-backoff.js';
import { specChanges } from './spec-diff.js';

/** What the Service planner can decide; each carries what apply needs, as plain data. */
export type ServiceAction =
  | { action: 'build'; reason: string; image: string; context: string; dockerfile: string; args: Readonly<Record<string, string>>; contextHash: string }
  | { action: 'pull'; reason: string; image: string }
  | { action: 'remove'; reason: string; containerId: string }
  | { action: 'create'; reason: string; container: DesiredContainer; isRestart: boolean; predicted?: true }
  | { action: 'recreate'; reason: string; replace: readonly string[]; container: DesiredContainer; changes: readonly FieldChange[]; predicted?: true }
  | { action: 'start'; reason: string; containerId: string; isRestart: boolean }
  | { action: 'restart'; reason: string; containerId: string }
  /** Held back: by a dependency, a missing network or volume, the crash-loop backoff, or (fatal) something only the user can fix. */
  | { action: 'wait'; reason: string; retryAfterMs: number; fatal?: true; changes?: readonly FieldChange[] };

export interface ServicePlanOptions {
  own: Ownership;
  backoff: RestartBackoffPolicy;
  /** pullPolicy Always re-pulls (or rebuilds) at most this often. */
  refreshMs: number;
}

/** How often to look again while waiting on a dependency, network or volume; events usually wake us sooner. */
export const DEPENDENCY_POLL_MS = 2000;

/**
 * The pure heart of the Service reconciler: from what is declared and what was observed, the
 * actions that converge them, in order. No I/O, no clock but `now`, so every case is a plain-data
 * unit test and `certitrack-agent plan` shows exactly what apply does.
 *
 * An image build or pull comes first; the container actions after it are predictions (the image id
 * the new container gets is known only once the image is there), so apply performs the image
 * action and looks again.
 */
export function plan(desired: Resource<ServiceSpec> | undefined, observed: ServiceObservation, now: Date, opts: ServicePlanOptions): ServiceAction[] {
  const { containers } = observed;
  if (!desired || !observed.declared) return containers.map((c) => ({ action: 'remove', containerId: c.id, reason: 'no longer declared' }));
  const d = observed.declared;

  const imageAction = planImage(desired, d.image, now, opts.refreshMs);
  if (imageAction?.action === 'wait') return [imageAction];
  const container = desiredContainer(desired, opts.own, d.facts);
  const predicted = imageAction !== undefined;

  const actions: ServiceAction[] = imageAction ? [imageAction] : [];
  const matching = predicted ? [] : containers.filter((c) => c.labels[LABEL_SPEC_HASH] === container.hash);
  const stale = containers.filter((c) => !matching.includes(c));
  // Keep one matching container (a running one if any); extras are duplicates from an interrupted run.
  const keep = [...matching].sort((a, b) => Number(b.running) - Number(a.running))[0];
  for (const c of matching) if (c !== keep) actions.push({ action: 'remove', containerId: c.id, reason: 'duplicate container' });

  const blocker = blockedBy(d);
  const gate = (action: ServiceAction, restart: boolean): ServiceAction => {
    if (blocker) return { action: 'wait', reason: `${action.action} once ${blocker}: ${action.reason}`, retryAfterMs: DEPENDENCY_POLL_MS, ...changesOf(action) };
    const delay = restart ? restartDelay(d.restarts, ranForOf(keep), now.getTime(), opts.backoff) : 0;
    if (delay > 0) return { action: 'wait', reason: `crash-loop backoff (${Math.ceil(delay / 1000)}s) before ${action.action}: ${action.reason}`, retryAfterMs: delay };
    return action;
  };

  if (!keep) {
    if (stale.length > 0) {
      const newest = [...stale].sort((a, b) => (b.startedAt?.getTime() ?? 0) - (a.startedAt?.getTime() ?? 0))[0];
      const changes = predicted ? [{ path: 'spec.image (image id)', from: JSON.stringify(newest?.image ?? ''), to: '(the image about to be built or pulled)' }] : specChanges(parseSpec(newest), container.hashed);
      actions.push(gate({ action: 'recreate', replace: stale.map((c) => c.id), container, changes, reason: 'spec changed', ...(predicted ? { predicted } : {}) }, false));
      return actions;
    }
    const vanished = d.createdHash === container.hash;
    const create: ServiceAction = { action: 'create', container, isRestart: vanished, reason: vanished ? 'container was removed' : 'not created yet', ...(predicted ? { predicted } : {}) };
    actions.push(gate(create, vanished));
    return actions;
  }
  for (const c of stale) actions.push({ action: 'remove', containerId: c.id, reason: 'spec changed' });

  if (keep.running) {
    if (keep.health === 'unhealthy') actions.push(gate({ action: 'restart', containerId: keep.id, reason: 'unhealthy' }, true));
    return actions;
  }
  if (keep.state === 'created') {
    actions.push(gate({ action: 'start', containerId: keep.id, reason: 'created but never started', isRestart: false }, false));
    return actions;
  }
  // exited or dead
  const policy = desired.spec.restartPolicy;
  if (policy === 'Always' || (policy === 'OnFailure' && (keep.exitCode !== 0 || keep.oomKilled))) {
    const why = keep.oomKilled ? 'killed for lack of memory' : `exited with code ${keep.exitCode}`;
    actions.push(gate({ action: 'start', containerId: keep.id, reason: why, isRestart: true }, true));
  }
  return actions;
}

/** A build, a pull, a fatal wait (the image can never appear), or nothing. */
function planImage(svc: Resource<ServiceSpec>, image: ImageObservation, now: Date, refreshMs: number): ServiceAction | undefined {
  const { build, pullPolicy } = svc.spec;
  const refreshDue = pullPolicy === 'Always' && (image.refreshedAt === undefined || now.getTime() - image.refreshedAt >= refreshMs);
  if (build) {
    const why = !image.id ? 'image not present' : image.builtFromContext !== image.contextHash ? 'build context changed' : refreshDue ? 'pullPolicy Always: rebuild due' : undefined;
    if (!why) return undefined;
    return { action: 'build', image: svc.spec.image, context: build.context, dockerfile: build.dockerfile, args: build.args, contextHash: image.contextHash ?? '', reason: why };
  }
  if (pullPolicy === 'Never') return image.id ? undefined : { action: 'wait', fatal: true, retryAfterMs: 0, reason: `image ${svc.spec.image} is not present and pullPolicy is Never` };
  if (!image.id) return { action: 'pull', image: svc.spec.image, reason: 'image not present' };
  return refreshDue ? { action: 'pull', image: svc.spec.image, reason: 'pullPolicy Always: refresh due' } : undefined;
}

function blockedBy(d: NonNullable<ServiceObservation['declared']>): string | undefined {
  if (d.missingNetworks.length > 0) return `network ${d.missingNetworks.join(', ')} exists`;
  if (d.missingVolumes.length > 0) return `volume ${d.missingVolumes.join(', ')} exists`;
  const dep = d.dependencies.find((x) => !x.satisfied);
  return dep ? `${dep.service} is ${dep.condition}` : undefined;
}

const changesOf = (a: ServiceAction): { changes?: readonly FieldChange[] } => (a.action === 'recreate' && a.changes.length > 0 ? { changes: a.changes } : {});

/** The spec a container was created from, when it carries one (containers from before did not). */
function parseSpec(c: ContainerDetails | undefined): Record<string, unknown> | undefined {
  const raw = c?.labels[LABEL_SPEC];
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** How long the container ran before it last stopped (crash-loop backoff resets after a long run). */
export function ranForOf(c: ContainerDetails | undefined): number | undefined {
  return c?.startedAt && c.finishedAt && c.finishedAt > c.startedAt ? c.finishedAt.getTime() - c.startedAt.getTime() : undefined;
}
