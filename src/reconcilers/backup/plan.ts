import { type RetryState, retryDue } from '../../backup/retry.js';
import type { BackupSpec } from '../../manifests/kinds/backup.js';
import type { Resource } from '../../manifests/resource.js';
import { type JobObservation, planRetire, planSlot, requeueWithin, type RetireAction, type SlotAction, type SlotStep, untilSlot } from '../../schedule/job-plan.js';

/** What observe reads for a Backup: the scheduled-job facts and the pending retry of a failed run. */
export interface BackupObservation extends JobObservation {
  readonly retry?: RetryState;
}

/** The schedule's step for a Backup; a run for a new slot supersedes the retry of an older one. */
export interface BackupSlotAction extends SlotAction {
  readonly clearsRetry?: true;
}

export type BackupAction = BackupSlotAction | RetireAction;

/** While a backup runs, look again this often (its job-finished event usually comes first). */
export const RUNNING_REQUEUE_MS = 60_000;

/**
 * A Backup's actions, pure. Declared: run the due slot, else a due retry (unless a backup is still
 * running), else note when the next run or retry is; without a schedule it runs only on
 * `backup run`. No longer declared: retired, its backups kept (they are data, not the agent's to drop).
 */
export function plan(desired: Resource<BackupSpec> | undefined, observed: BackupObservation, now: Date): BackupAction[] {
  if (!desired) return [planRetire(observed, now, { run: 'backup', kept: 'existing backups are kept' })];
  const spec = desired.spec;
  const scheduled = spec.schedule ? planSlot({ ...spec, schedule: spec.schedule }, observed.lastScheduled, now) : undefined;
  const step: SlotStep = scheduled?.slot ?? { skippedMissed: 0 };
  const retry = spec.suspend ? undefined : observed.retry;

  if (scheduled?.action === 'run') {
    const slot = { ...step, requeueAfterMs: requeueFor(step, undefined, true, now) };
    return [{ ...scheduled, slot, ...(observed.retry ? { clearsRetry: true as const } : {}) }];
  }
  if (retry && retryDue(retry, now) && !observed.running) {
    const start = { trigger: 'schedule' as const, ...(retry.slot ? { scheduledFor: new Date(retry.slot) } : {}) };
    const slot = { ...step, start, requeueAfterMs: requeueFor(step, undefined, true, now) };
    return [{ type: 'slot', action: 'run', reason: `retry ${retry.attempt} of the failed backup (${retry.step} failed)`, slot }];
  }
  const base = scheduled?.reason ?? 'no schedule: runs only on `backup run`';
  const pendingRetry = !retry ? '' : retryDue(retry, now) ? `; retry ${retry.attempt} waits for the backup in progress` : `; retry ${retry.attempt} at ${retry.nextAt}`;
  // A manual-only Backup with nothing pending is looked at again only when something changes.
  const lookAgain = spec.schedule !== undefined || retry !== undefined || observed.running;
  const slot = lookAgain ? { ...step, requeueAfterMs: requeueFor(step, retry, observed.running, now) } : step;
  return [{ type: 'slot', action: 'note', reason: `${base}${pendingRetry}`, slot }];
}

/**
 * The next look: the next slot, a retry not yet due, a run in progress (a due retry waits for that
 * run's end, which its job-finished event announces), and at least hourly.
 */
function requeueFor(step: SlotStep, retry: RetryState | undefined, busy: boolean, now: Date): number {
  const waits: number[] = [];
  if (step.next) waits.push(untilSlot(step.next, now));
  if (retry && !retryDue(retry, now)) waits.push(untilSlot(new Date(retry.nextAt), now));
  if (busy) waits.push(RUNNING_REQUEUE_MS);
  return requeueWithin(waits);
}
