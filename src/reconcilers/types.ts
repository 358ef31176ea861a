import type { Logger } from 'pino';
import type { DesiredState } from '../manifests/desired-state.js';
import type { StatusBoard } from '../state/status-board.js';

/**
 * What a reconcile asks of the engine once it returns normally.
 * Throwing means "retry this key with per-key exponential backoff" (controller-runtime's contract);
 * throwing a {@link TerminalError} means "don't retry until something changes".
 */
export interface ReconcileResult {
  /** Look at this key again after this many milliseconds (waiting on a dependency, a schedule, a renewal). */
  requeueAfterMs?: number;
  /** Not converged yet (waiting on a dependency or a backoff): the revision is not "applied" until it is. */
  pending?: boolean;
}

/** An error that retrying cannot fix (a bad spec the schema could not catch, a missing image with pullPolicy Never). */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

export interface ReconcileContext {
  /** The snapshot this reconcile works against; never mutated. */
  readonly desired: DesiredState;
  /** A child logger already carrying the resource key and a reconcile id. */
  readonly log: Logger;
  readonly now: () => Date;
  readonly status: StatusBoard;
  /** Aborted when the agent shuts down; long operations should pass it on. */
  readonly signal: AbortSignal;
}

/** One step a reconcile would take: what `certitrack-agent plan` prints. */
export interface PlannedAction {
  kind: string;
  name: string;
  action: 'create' | 'recreate' | 'update' | 'start' | 'restart' | 'remove' | 'wait' | 'skip' | 'run';
  reason: string;
}

/**
 * One reconciler per kind. Both methods read desired and actual state fresh (level-triggered), so a
 * missed or duplicated call does no harm. Both must be idempotent.
 */
export interface Reconciler {
  readonly kind: string;
  /** Names of resources of this kind that exist in reality and were created by this agent (for pruning). */
  listOwned(): Promise<string[]>;
  /** Observe and plan, with no effects. */
  plan(name: string, ctx: ReconcileContext): Promise<PlannedAction[]>;
  /** Observe, plan and apply. */
  reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileResult>;
}

export const resourceKey = (kind: string, name: string): string => `${kind}/${name}`;

export function parseResourceKey(key: string): { kind: string; name: string } {
  const slash = key.indexOf('/');
  if (slash <= 0) throw new Error(`not a resource key: ${key}`);
  return { kind: key.slice(0, slash), name: key.slice(slash + 1) };
}
