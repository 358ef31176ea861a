import pino from 'pino';
import type { ApplyContext, KindAction, ObserveContext, ReconcileResult, Reconciler } from '../../src/engine/reconcile.js';
import type { DesiredState } from '../../src/manifests/desired-state.js';
import type { KindName } from '../../src/manifests/kinds/index.js';
import type { StatusBoard } from '../../src/state/status-board.js';

/** What a test hands one reconciler: the snapshot, a status board and its own clock. */
export interface StepContext {
  desired: DesiredState;
  status: StatusBoard;
  now: () => Date;
}

const silent = pino({ level: 'silent' });

function observeContext(ctx: StepContext): ObserveContext {
  return { desired: ctx.desired, log: silent, signal: new AbortController().signal };
}

/** observe + plan, as `certitrack-agent plan` does for one key. */
export async function planOf<K extends KindName, O, A extends KindAction>(r: Reconciler<K, O, A>, name: string, ctx: StepContext): Promise<A[]> {
  return r.plan(ctx.desired.get(r.kind, name), await r.observe(name, observeContext(ctx)), ctx.now());
}

/** observe → plan → apply for one key, as the controller composes them. */
export async function reconcileOnce<K extends KindName, O, A extends KindAction>(r: Reconciler<K, O, A>, name: string, ctx: StepContext): Promise<ReconcileResult> {
  const base = observeContext(ctx);
  const observed = await r.observe(name, base);
  const actions = r.plan(ctx.desired.get(r.kind, name), observed, ctx.now());
  const applyCtx: ApplyContext<O> = { ...base, name, key: `${r.kind}/${name}`, observed, status: ctx.status, now: ctx.now };
  return r.apply(actions, applyCtx);
}
