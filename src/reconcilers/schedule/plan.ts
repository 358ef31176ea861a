import type { ScheduleSpec } from '../../manifests/kinds/schedule.js';
import type { Resource } from '../../manifests/resource.js';
import { type JobObservation, type LeftoversAction, planLeftovers, planRetire, planSlot, type RetireAction, type SlotAction } from '../../schedule/job-plan.js';

/** Everything a Schedule reconcile can do: remove leftovers of earlier runs, run or note the slot, retire. */
export type ScheduleAction = LeftoversAction | SlotAction | RetireAction;

/**
 * A Schedule's actions, pure: a declared one removes leftover job containers (while none of its runs
 * is in progress) and then runs the due slot or notes when the next one is; one no longer declared
 * is retired, keeping its run history.
 */
export function plan(desired: Resource<ScheduleSpec> | undefined, observed: JobObservation, now: Date): ScheduleAction[] {
  if (!desired) return [planRetire(observed, now, { run: 'run', kept: 'run history kept' })];
  const slot = planSlot(desired.spec, observed.lastScheduled, now);
  const busy = slot.action === 'run' && observed.running ? ` (a run is in progress; concurrencyPolicy ${desired.spec.concurrencyPolicy})` : '';
  return [...planLeftovers(observed, desired.spec.timeout, now), { ...slot, reason: `${slot.reason}${busy}` }];
}
