import { pino, type Logger } from 'pino';
import type { KindAction, ObserveContext, ReconcileResult, Reconciler } from '../../src/engine/reconcile.js';
import { resourceKey } from '../../src/engine/reconcile.js';
import type { DesiredState } from '../../src/manifests/desired-state.js';
import type { KindName } from '../../src/manifests/kinds/index.js';
import type { StatusBoard } from '../../src/state/status-board.js';

export interface StepOptions {
  now?: () => Date;
  log?: Logger;
  signal?: AbortSignal;
}

const observeContext = (desired: DesiredState, opts: StepOptions): ObserveContext => ({
  desired,
  log: opts.log ?? pino({ level: 'silent' }),
  signal: opts.signal ?? new AbortController().signal,
});

/** `certitrack-agent plan` for one key, as the controller composes it: observe, then the pure plan. */
export async function planOnce<K extends KindName, O, A extends KindAction>(r: Reconciler<K, O, A>, name: string, desired: DesiredState, opts: StepOptions = {}): Promise<A[]> {
  const observed = await r.observe(name, observeContext(desired, opts));
  return r.plan(desired.get(r.kind, name), observed, (opts.now ?? (() => new Date()))());
}

/** One reconcile of one key, as the controller composes it: observe → plan → apply. */
export async function reconcileOnce<K extends KindName, O, A extends KindAction>(
  r: Reconciler<K, O, A>,
  name: string,
  desired: DesiredState,
  status: StatusBoard,
  opts: StepOptions = {},
): Promise<ReconcileResult> {
  const now = opts.now ?? (() => new Date());
  const ctx = observeContext(desired, opts);
  const observed = await r.observe(name, ctx);
  const actions = r.plan(desired.get(r.kind, name), observed, now());
  return r.apply(actions, { ...ctx, name, key: resourceKey(r.kind, name), observed, status, now });
}
