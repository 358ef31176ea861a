import { LABEL_SPEC, LABEL_SPEC_HASH, type ContainerDetails } from '../../adapters/docker-types.js';
import type { FieldChange } from '../../engine/reconcile.js';
import { rolloutStrategy, type RolloutStrategy, type ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import type { Ownership } from '../ownership.js';
import { desiredContainer, type DesiredContainer } from './container-spec.js';
import type { Follower, ImageObservation, ServiceObservation } from './observe.js';
import { restartDelay, type RestartBackoffPolicy } from './restart-backoff.js';
import { changedMounts } from './mounted-files.js';
import { reloadCommand } from './reload.js';
import { SETTLE_MS, type RolloutResult, type RolloutState } from './rollout-record.js';
import { specChanges } from './spec-diff.js';

/**
 * What the Service planner can decide: `type` says what apply does, `action` how plan shows it.
 * Each carries what apply needs, as plain data.
 */
export type ServiceAction =
  | { type: 'build'; action: 'build'; reason: string; image: string; context: string; dockerfile: string; args: Readonly<Record<string, string>>; contextHash: string }
  | { type: 'pull'; action: 'pull'; reason: string; image: string }
  | { type: 'remove'; action: 'remove'; reason: string; containerId: string }
  | { type: 'create'; action: 'create'; reason: string; container: DesiredContainer; isRestart: boolean; predicted?: true }
  /** StopFirst: the old container(s) stop, then the new one starts under the service's name. */
  | { type: 'replace'; action: 'recreate'; reason: string; replace: readonly string[]; container: DesiredContainer; changes: readonly FieldChange[]; fromHash?: string; predicted?: true }
  /** StartFirst, step 1: the new container starts beside the serving one, under a versioned name. */
  | { type: 'start-new'; action: 'recreate'; reason: string; container: DesiredContainer; changes: readonly FieldChange[]; fromHash?: string }
  /**
   * StartFirst, step 2: the new one is ready; it takes the service's Docker name (the old one moves
   * to its versioned name first), followers reload onto it, and the old ones start draining.
   */
  | { type: 'cutover'; action: 'recreate'; reason: string; newId: string; toHash: string; oldIds: readonly string[]; renames: readonly Rename[]; drainMs: number; followers: readonly Follower[] }
  /** StartFirst, step 3, once the drain is over: the old ones stop (and the new one takes the name, if a switch from before did not). */
  | { type: 'finish-cutover'; action: 'recreate'; reason: string; newId: string; oldIds: readonly string[]; renames: readonly Rename[]; followers: readonly Follower[] }
  /** StartFirst: the new container failed; it goes and the old one keeps serving (taking the name back if the switch had given it away). */
  | { type: 'rollback'; action: 'remove'; reason: string; containerId: string; failure: string; renames?: readonly Rename[] }
  /** Finishes a cutover interrupted after the old container went: the new one takes the service's name. */
  | { type: 'rename'; action: 'update'; reason: string; containerId: string; name: string }
  /** A rollout without an old container to fall back on (StopFirst, first create) has ended either way. */
  | { type: 'finish-rollout'; action: 'note'; reason: string; result: Extract<RolloutResult, 'succeeded' | 'failed'> }
  | { type: 'start'; action: 'start'; reason: string; containerId: string; isRestart: boolean }
  | { type: 'restart'; action: 'restart'; reason: string; containerId: string }
  /** A bind-mounted file from the manifests changed and the service declares a reload: no new container. */
  | { type: 'reload'; action: 'reload'; reason: string; containerId: string; command: readonly string[]; changes: readonly FieldChange[] }
  /** Held back: by a dependency, a missing network or volume, a backoff, or (fatal) something only the user can fix. */
  | { type: 'wait'; action: 'wait'; reason: string; retryAfterMs: number; fatal?: true; changes?: readonly FieldChange[] };

/** A container to rename, in order (a name must be free before another container takes it). */
export interface Rename {
  containerId: string;
  name: string;
}

export interface ServicePlanOptions {
  own: Ownership;
  backoff: RestartBackoffPolicy;
  /** pullPolicy Always re-pulls (or rebuilds) at most this often. */
  refreshMs: number;
}

/** How often to look again while waiting on a dependency, network or volume; events usually wake us sooner. */
export const DEPENDENCY_POLL_MS = 2000;
/** How often to look again at a new container that is not ready yet (health events usually come first). */
export const READY_POLL_MS = 2000;
/** How often to look again at a service another process holds (a restore); its end starts the container itself. */
export const HOLD_POLL_MS = 5000;

type Declared = NonNullable<ServiceObservation['declared']>;

/**
 * The pure heart of the Service reconciler: from what is declared and what was observed, the
 * actions that converge them, in order. No I/O, no clock but `now`, so every case is a plain-data
 * unit test and `certitrack-agent plan` shows exactly what apply does.
 *
 * A spec change is a rollout: StartFirst starts the new container beside the serving one and cuts
 * over once it is ready (or rolls back), across as many reconciles as that takes; StopFirst
 * replaces the container and watches the new one against the same deadline. An image build or
 * pull comes first; the container actions after it are predictions (the image id the new
 * container gets is known only once the image is there), so apply performs the image action and
 * looks again.
 */
export function plan(desired: Resource<ServiceSpec> | undefined, observed: ServiceObservation, now: Date, opts: ServicePlanOptions): ServiceAction[] {
  const { containers } = observed;
  if (!desired || !observed.declared) return containers.map((c) => ({ type: 'remove', action: 'remove', containerId: c.id, reason: 'no longer declared' }));
  const d = observed.declared;
  if (d.held) return [{ type: 'wait', action: 'wait', retryAfterMs: HOLD_POLL_MS, reason: `stopped by ${d.held.reason} (PID ${d.held.pid}, since ${d.held.since}): left alone until it ends` }];

  const imageAction = planImage(desired, d.image, now, opts.refreshMs);
  if (imageAction?.type === 'wait') return [imageAction];
  const strategy = rolloutStrategy(desired.spec);
  const stableName = opts.own.dockerName(desired.name);
  const base = desiredContainer(desired, opts.own, d.facts);
  if (imageAction) return [imageAction, ...predicted(base, containers)];

  const wanted = base.hash;
  const candidates = containers.filter((c) => c.labels[LABEL_SPEC_HASH] === wanted);
  const others = containers.filter((c) => !candidates.includes(c));
  const rollout = d.rollout?.toHash === wanted ? d.rollout : undefined;
  const ctx: PlanContext = { desired, d, now, opts, strategy, stableName, rollout };

  if (candidates.length === 0) return planChange(ctx, base, others);

  const actions: ServiceAction[] = [];
  // Keep one container of the wanted spec: a running one, the one with the service's name first.
  const keep = [...candidates].sort((a, b) => Number(b.running) - Number(a.running) || Number(b.name === stableName) - Number(a.name === stableName))[0] as ContainerDetails;
  for (const c of candidates) if (c !== keep) actions.push({ type: 'remove', action: 'remove', containerId: c.id, reason: 'duplicate container' });

  if (others.length > 0 && keep.name !== stableName) return [...actions, ...planStartFirstProgress(ctx, keep, others, observed.followers, containers)];
  if (others.length > 0 && rollout?.strategy === 'StartFirst' && !rollout.retryAt && !rollout.failedAt) return [...actions, ...planDrain(ctx, keep, others, observed.followers)];
  for (const c of others) actions.push({ type: 'remove', action: 'remove', containerId: c.id, reason: 'spec changed' });
  if (keep.name !== stableName) actions.push({ type: 'rename', action: 'update', containerId: keep.id, name: stableName, reason: `finish the rollout: the new container takes the name ${stableName}` });
  actions.push(...planFinish(ctx, keep), ...planReload(ctx, keep), ...planHeal(ctx, keep));
  return actions;
}

/** A changed bind-mounted file reaches a running container through its declared reload. */
function planReload(ctx: PlanContext, keep: ContainerDetails): ServiceAction[] {
  const reload = ctx.desired.spec.reload;
  if (!reload || !keep.running) return [];
  const changed = changedMounts(ctx.d.mounted, ctx.d.mountedGiven);
  if (changed.length === 0) return [];
  const changes = changed.map((source) => ({ path: `spec.volumes (content of ${source})`, from: JSON.stringify(ctx.d.mountedGiven?.[source]?.digest ?? null), to: JSON.stringify(ctx.d.mounted[source]?.digest ?? null) }));
  return [{ type: 'reload', action: 'reload', containerId: keep.id, command: reloadCommand(reload), changes, reason: `${changed.join(', ')} changed: reloading in place` }];
}

interface PlanContext {
  desired: Resource<ServiceSpec>;
  d: Declared;
  now: Date;
  opts: ServicePlanOptions;
  strategy: RolloutStrategy;
  stableName: string;
  /** The rollout state for the wanted spec (undefined when it is about another spec). */
  rollout: RolloutState | undefined;
}

/** No container of the wanted spec yet: the first create, a recreate after a removal, or a rollout. */
function planChange(ctx: PlanContext, base: DesiredContainer, others: ContainerDetails[]): ServiceAction[] {
  const { d, now, rollout } = ctx;
  if (others.length === 0) {
    const vanished = d.createdHash === base.hash;
    return [gate(ctx, { type: 'create', action: 'create', container: base, isRestart: vanished, reason: vanished ? 'container was removed' : 'not created yet' }, vanished ? undefined : false)];
  }
  const serving = servingContainer(others, ctx.stableName);
  const changes = specChanges(parseSpec(serving), base.hashed);
  const fromHash = serving.labels[LABEL_SPEC_HASH];
  const retryAt = rollout?.retryAt ? Date.parse(rollout.retryAt) : undefined;
  if (retryAt !== undefined && now.getTime() < retryAt) {
    // The same spec failed: the old version keeps serving (and is healed) until the backoff ends or the spec changes.
    const wait: ServiceAction = {
      type: 'wait',
      action: 'wait',
      retryAfterMs: retryAt - now.getTime(),
      reason: `rollout failed ${rollout?.failures ?? 1} time(s) (${rollout?.lastError ?? 'unknown'}); next attempt at ${new Date(retryAt).toISOString()}`,
      changes,
    };
    const extras = others.filter((c) => c !== serving).map((c): ServiceAction => ({ type: 'remove', action: 'remove', containerId: c.id, reason: 'superseded container' }));
    return [...extras, wait, ...planHeal(ctx, serving)];
  }
  if (ctx.strategy === 'StartFirst' && serving.running) {
    const container = { ...base, create: { ...base.create, name: versionedName(ctx.stableName, base.hash) } };
    return [gate(ctx, { type: 'start-new', action: 'recreate', container, changes, reason: 'spec changed: starting the new version beside the old one', ...(fromHash ? { fromHash } : {}) }, false)];
  }
  const why = ctx.strategy === 'StartFirst' ? 'spec changed (nothing is serving, so nothing to keep)' : 'spec changed';
  return [gate(ctx, { type: 'replace', action: 'recreate', replace: others.map((c) => c.id), container: base, changes, reason: why, ...(fromHash ? { fromHash } : {}) }, false)];
}

/**
 * StartFirst after the new container took the service's name: the switch is finished if it was
 * cut short (followers not told yet), then the old ones drain and stop.
 */
function planDrain(ctx: PlanContext, next: ContainerDetails, old: ContainerDetails[], followers: readonly Follower[]): ServiceAction[] {
  if (!next.running && old.some((c) => c.running)) {
    const why = exitedWhy(next);
    return [{ type: 'rollback', action: 'remove', containerId: next.id, failure: why, ...nameBack(ctx, old), reason: `rollout failed: ${why} while the old version drained; it takes the name back and keeps serving` }];
  }
  const drainUntil = drainEnd(ctx);
  if (drainUntil === undefined) return [cutover(ctx, next, old, [], followers, 'finish the switch: the new version has the name; followers are told, then the old one drains')];
  if (ctx.now.getTime() < drainUntil) return [drainWait(ctx, drainUntil)];
  return [{ type: 'finish-cutover', action: 'recreate', newId: next.id, oldIds: old.map((c) => c.id), renames: [], followers, reason: 'the drain is over: the old version stops' }];
}

/** The switch to `next`: renames first, then the followers, then the drain of `old`. */
function cutover(ctx: PlanContext, next: ContainerDetails, old: readonly ContainerDetails[], renames: readonly Rename[], followers: readonly Follower[], reason: string): ServiceAction {
  return { type: 'cutover', action: 'recreate', newId: next.id, toHash: next.labels[LABEL_SPEC_HASH] ?? '', oldIds: old.map((c) => c.id), renames, drainMs: ctx.desired.spec.rollout.drain, followers, reason };
}

/** When the drain of the rollout on record ends, if it has begun. */
const drainEnd = (ctx: PlanContext): number | undefined => (ctx.rollout?.drainUntil === undefined ? undefined : Date.parse(ctx.rollout.drainUntil));

const drainWait = (ctx: PlanContext, until: number): ServiceAction => ({
  type: 'wait',
  action: 'wait',
  retryAfterMs: until - ctx.now.getTime(),
  reason: `the new version serves; the old one drains until ${new Date(until).toISOString()}`,
});

const exitedWhy = (c: ContainerDetails): string => (c.oomKilled ? 'the new container was killed for lack of memory' : `the new container exited with code ${c.exitCode}`);

/**
 * The renames of a switch: the old container that holds the service's name moves to its versioned
 * name (with its id when that is taken), then the new one takes the service's name.
 */
function switchRenames(stableName: string, next: ContainerDetails, old: readonly ContainerDetails[], all: readonly ContainerDetails[]): Rename[] {
  const taken = new Set(all.map((c) => c.name));
  const out: Rename[] = [];
  for (const c of old) {
    if (c.name !== stableName) continue;
    const versioned = versionedName(stableName, c.labels[LABEL_SPEC_HASH] ?? c.id);
    const name = taken.has(versioned) ? `${versioned}-${c.id.slice(0, 8)}` : versioned;
    taken.add(name);
    out.push({ containerId: c.id, name });
  }
  if (next.name !== stableName) out.push({ containerId: next.id, name: stableName });
  return out;
}

/** On a rollback, the service's name goes back to a running old container if none holds it (a switch was cut short). */
function nameBack(ctx: PlanContext, old: readonly ContainerDetails[]): { renames?: Rename[] } {
  if (old.some((c) => c.name === ctx.stableName)) return {};
  const back = old.find((c) => c.running);
  return back ? { renames: [{ containerId: back.id, name: ctx.stableName }] } : {};
}

/** StartFirst with the new container beside the old one(s): wait, cut over, or roll back. */
function planStartFirstProgress(ctx: PlanContext, next: ContainerDetails, old: ContainerDetails[], followers: readonly Follower[], all: readonly ContainerDetails[]): ServiceAction[] {
  const { now, desired } = ctx;
  // Created but never started: an apply killed between the two steps.
  if (next.state === 'created') return [{ type: 'start', action: 'start', containerId: next.id, reason: 'the new version was created but never started', isRestart: false }];
  if (!next.running) {
    const why = exitedWhy(next);
    return [{ type: 'rollback', action: 'remove', containerId: next.id, failure: why, ...nameBack(ctx, old), reason: `rollout failed: ${why}; the old version keeps serving` }];
  }
  const drainUntil = drainEnd(ctx);
  if (drainUntil !== undefined) {
    // Switched over already: the old ones drain, whatever the new one's health does meanwhile (it is healed after).
    // (A switch recorded before the name moved at the switch itself: the name moves at the end.)
    if (now.getTime() < drainUntil) return [drainWait(ctx, drainUntil)];
    return [{ type: 'finish-cutover', action: 'recreate', newId: next.id, oldIds: old.map((c) => c.id), renames: [{ containerId: next.id, name: ctx.stableName }], followers, reason: 'the drain is over: the old version stops and the new one takes the name' }];
  }
  if (isReady(next, now)) return [cutover(ctx, next, old, switchRenames(ctx.stableName, next, old, all), followers, 'the new version is ready: it takes the name, followers switch to it, the old one drains and stops')];
  const startedAt = Date.parse(ctx.rollout?.startedAt ?? '') || next.startedAt?.getTime() || now.getTime();
  const deadline = startedAt + desired.spec.rollout.progressDeadline;
  if (now.getTime() >= deadline) {
    const why = `not ready within the progress deadline of ${Math.round(desired.spec.rollout.progressDeadline / 1000)}s${next.healthOutput ? ` (last healthcheck: ${next.healthOutput})` : next.health ? ` (health: ${next.health})` : ''}`;
    return [{ type: 'rollback', action: 'remove', containerId: next.id, failure: why, ...nameBack(ctx, old), reason: `rollout failed: ${why}; the old version keeps serving` }];
  }
  return [{ type: 'wait', action: 'wait', retryAfterMs: Math.min(READY_POLL_MS, deadline - now.getTime()), reason: `the new version is starting (${next.health ?? 'running'}); cut over once it is ready` }];
}

/** A rollout with no old container to fall back on ends when its container is ready, or fails at the deadline. */
function planFinish(ctx: PlanContext, keep: ContainerDetails): ServiceAction[] {
  const r = ctx.rollout;
  if (!r || r.retryAt) return [];
  if (isReady(keep, ctx.now)) return [{ type: 'finish-rollout', action: 'note', result: 'succeeded', reason: r.failedAt ? 'ready, after missing its progress deadline' : 'rollout complete: the new version is ready' }];
  if (r.failedAt) return [];
  if (ctx.now.getTime() >= Date.parse(r.startedAt) + ctx.desired.spec.rollout.progressDeadline) {
    const why = !keep.running ? `the new container exited with code ${keep.exitCode}` : `not ready within the progress deadline${keep.healthOutput ? ` (last healthcheck: ${keep.healthOutput})` : ''}`;
    return [{ type: 'finish-rollout', action: 'note', result: 'failed', reason: `rollout failed: ${why}; there is no old version to keep, so the container is healed as usual` }];
  }
  return [];
}

/** Keeps the container running: starts what exited (per restartPolicy), restarts what is unhealthy. */
function planHeal(ctx: PlanContext, keep: ContainerDetails): ServiceAction[] {
  if (keep.running) return keep.health === 'unhealthy' ? [gate(ctx, { type: 'restart', action: 'restart', containerId: keep.id, reason: 'unhealthy' }, keep)] : [];
  if (keep.state === 'created') return [gate(ctx, { type: 'start', action: 'start', containerId: keep.id, reason: 'created but never started', isRestart: false }, false)];
  const policy = ctx.desired.spec.restartPolicy;
  if (policy === 'Always' || (policy === 'OnFailure' && (keep.exitCode !== 0 || keep.oomKilled))) {
    const why = keep.oomKilled ? 'killed for lack of memory' : `exited with code ${keep.exitCode}`;
    return [gate(ctx, { type: 'start', action: 'start', containerId: keep.id, reason: why, isRestart: true }, keep)];
  }
  return [];
}

/**
 * Holds an action back while its network, volume or dependency is missing, and a restart while the
 * crash-loop backoff runs (`restarted` is the container whose restarts count, or undefined for a
 * recreate after a removal; false when the action is no restart).
 */
function gate(ctx: PlanContext, action: ServiceAction, restarted: ContainerDetails | undefined | false): ServiceAction {
  const blocker = blockedBy(ctx.d);
  if (blocker) return { type: 'wait', action: 'wait', reason: `${action.action} once ${blocker}: ${action.reason}`, retryAfterMs: DEPENDENCY_POLL_MS, ...changesOf(action) };
  if (restarted === false) return action;
  const delay = restartDelay(ctx.d.restarts, ranForOf(restarted), ctx.now.getTime(), ctx.opts.backoff);
  if (delay > 0) return { type: 'wait', action: 'wait', reason: `crash-loop backoff (${Math.ceil(delay / 1000)}s) before ${action.action}: ${action.reason}`, retryAfterMs: delay };
  return action;
}

/** After an image build or pull, what the container step will most likely be (shown, not applied). */
function predicted(base: DesiredContainer, containers: ContainerDetails[]): ServiceAction[] {
  if (containers.length === 0) return [{ type: 'create', action: 'create', container: base, isRestart: false, predicted: true, reason: 'not created yet (after the image is ready)' }];
  const newest = servingContainer(containers, base.create.name ?? '');
  const changes = [{ path: 'spec.image (image id)', from: JSON.stringify(newest.image), to: '(the image about to be built or pulled)' }];
  return [{ type: 'replace', action: 'recreate', replace: containers.map((c) => c.id), container: base, changes, predicted: true, reason: 'the image changes' }];
}

/** A build, a pull, a fatal wait (the image can never appear), or nothing. */
function planImage(svc: Resource<ServiceSpec>, image: ImageObservation, now: Date, refreshMs: number): ServiceAction | undefined {
  const { build, pullPolicy } = svc.spec;
  const refreshDue = pullPolicy === 'Always' && (image.refreshedAt === undefined || now.getTime() - image.refreshedAt >= refreshMs);
  if (build) {
    const why = !image.id ? 'image not present' : image.builtFromContext !== image.contextHash ? 'build context changed' : refreshDue ? 'pullPolicy Always: rebuild due' : undefined;
    if (!why) return undefined;
    return { type: 'build', action: 'build', image: svc.spec.image, context: build.context, dockerfile: build.dockerfile, args: build.args, contextHash: image.contextHash ?? '', reason: why };
  }
  if (pullPolicy === 'Never') return image.id ? undefined : { type: 'wait', action: 'wait', fatal: true, retryAfterMs: 0, reason: `image ${svc.spec.image} is not present and pullPolicy is Never` };
  if (!image.id) return { type: 'pull', action: 'pull', image: svc.spec.image, reason: 'image not present' };
  return refreshDue ? { type: 'pull', action: 'pull', image: svc.spec.image, reason: 'pullPolicy Always: refresh due' } : undefined;
}

function blockedBy(d: Declared): string | undefined {
  if (d.missingNetworks.length > 0) return `network ${d.missingNetworks.join(', ')} exists`;
  if (d.missingVolumes.length > 0) return `volume ${d.missingVolumes.join(', ')} exists`;
  const dep = d.dependencies.find((x) => !x.satisfied);
  return dep ? `${dep.service} is ${dep.condition}` : undefined;
}

/** Serving: running, and healthy when it has a healthcheck (what the Ready condition reports). */
export const isServing = (c: ContainerDetails): boolean => c.running && (c.health === undefined || c.health === 'healthy');

/**
 * Ready to take over in a rollout: running and healthy, or (no healthcheck) running for a short
 * settle time, so a process that dies at once is not mistaken for a good version.
 */
export function isReady(c: ContainerDetails, now: Date): boolean {
  if (!c.running) return false;
  if (c.health !== undefined) return c.health === 'healthy';
  return c.startedAt !== undefined && now.getTime() - c.startedAt.getTime() >= SETTLE_MS;
}

/** The container that serves now: the one with the service's name if running, else any running, else the newest. */
function servingContainer(containers: readonly ContainerDetails[], stableName: string): ContainerDetails {
  const byStart = [...containers].sort((a, b) => (b.startedAt?.getTime() ?? 0) - (a.startedAt?.getTime() ?? 0));
  return containers.find((c) => c.running && c.name === stableName) ?? byStart.find((c) => c.running) ?? (byStart[0] as ContainerDetails);
}

/** The name a StartFirst container has until it takes over: the service's name plus its spec hash. */
export const versionedName = (stableName: string, hash: string): string => `${stableName}-${hash.slice(0, 8)}`;

const changesOf = (a: ServiceAction): { changes?: readonly FieldChange[] } => ('changes' in a && a.changes && a.changes.length > 0 ? { changes: a.changes } : {});

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
