import type { KindAction, ReconcileResult, Reconciler } from '../../src/engine/reconcile.js';
import type { DesiredState } from '../../src/manifests/desired-state.js';
import type { KindName } from '../../src/manifests/kinds/index.js';
import type { StatusBoard } from '../../src/state/status-board.js';
import { planOnce, reconcileOnce as reconcileWith } from './contract.js';

/** What a test hands one reconciler: the snapshot, a status board and its own clock. */
export interface StepContext {
  desired: DesiredState;
  status: StatusBoard;
  now: () => Date;
}

/** observe + plan for one key (contract.ts's planOnce, taking a StepContext). */
export function planOf<K extends KindName, O, A extends KindAction>(r: Reconciler<K, O, A>, name: string, ctx: StepContext): Promise<A[]> {
  return planOnce(r, name, ctx.desired, { now: ctx.now });
}

/** observe → plan → apply for one key (contract.ts's reconcileOnce, taking a StepContext). */
export function reconcileOnce<K extends KindName, O, A extends KindAction>(r: Reconciler<K, O, A>, name: string, ctx: StepContext): Promise<ReconcileResult> {
  return reconcileWith(r, name, ctx.desired, ctx.status, { now: ctx.now });
}
