import type { Logger } from 'pino';
import type { ApplyContext, KindAction, ObserveContext, ReconcileResult, Reconciler } from '../engine/reconcile.js';
import type { DesiredState } from '../manifests/desired-state.js';
import type { KindName } from '../manifests/kinds/index.js';
import type { StatusBoard } from '../state/status-board.js';

export { parseResourceKey, resourceKey, TerminalError, type ReconcileResult } from '../engine/reconcile.js';

/**
 * TRANSITIONAL: the pre-contract reconciler shape (observe and decide inside both `plan` and
 * `reconcile`), bridged onto the observe → plan → apply contract by {@link fromLegacy} while the
 * remaining kinds move over. Delete with the last user.
 */
export interface ReconcileContext {
  readonly desired: DesiredState;
  readonly log: Logger;
  readonly now: () => Date;
  readonly status: StatusBoard;
  readonly signal: AbortSignal;
}

export interface PlannedAction {
  kind: string;
  name: string;
  action: 'create' | 'recreate' | 'update' | 'start' | 'restart' | 'remove' | 'wait' | 'skip' | 'run';
  reason: string;
}

export interface LegacyReconciler {
  readonly kind: string;
  listOwned(): Promise<string[]>;
  plan(name: string, ctx: ReconcileContext): Promise<PlannedAction[]>;
  reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileResult>;
}

/** Observes by running the legacy plan (its decisions are the observation) and applies by running the legacy reconcile. */
export function fromLegacy<K extends KindName>(kind: K, legacy: LegacyReconciler, status: StatusBoard, now: () => Date): Reconciler<K, readonly KindAction[], KindAction> {
  const legacyContext = (ctx: ObserveContext): ReconcileContext => ({ desired: ctx.desired, log: ctx.log, signal: ctx.signal, status, now });
  return {
    kind,
    listOwned: () => legacy.listOwned(),
    observe: async (name, ctx) => (await legacy.plan(name, legacyContext(ctx))).map(toContractAction),
    plan: (_desired, observed) => [...observed],
    apply: (_actions, ctx: ApplyContext<readonly KindAction[]>) => legacy.reconcile(ctx.name, legacyContext(ctx)),
  };
}

function toContractAction(a: PlannedAction): KindAction {
  return { action: a.action === 'skip' ? 'note' : a.action, reason: a.reason };
}

