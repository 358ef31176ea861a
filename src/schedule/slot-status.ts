import type { RunTrigger } from './run-history.js';
import { dueRun, nextRunAfter, type ScheduleTiming } from './timing.js';

/**
 * What a scheduled resource should do at `now`: pure, so `plan` and `reconcile` agree and tests need
 * no clock. `bookmark`, when set, is the new lastScheduled to persist (undefined = leave it).
 */
export type SlotStatus =
  | { action: 'run'; due: Date; trigger: Extract<RunTrigger, 'schedule' | 'missed'>; skippedMissed: number; next?: Date; bookmark: Date; reason: string }
  | { action: 'wait'; skippedMissed: number; next?: Date; bookmark?: Date; reason: string };

/** A run starting later than this after its slot is reported as a catch-up ("missed") run. */
export const LATE_AFTER_MS = 60_000;

export function slotStatus(t: ScheduleTiming, suspend: boolean, lastScheduled: Date | undefined, now: Date): SlotStatus {
  const next = nextRunAfter(t, now);
  const nextText = next ? `next run at ${next.toISOString()}` : 'the schedule never fires again';
  if (!lastScheduled) {
    // A new schedule waits for its first slot instead of running for slots before it existed.
    return { action: 'wait', skippedMissed: 0, ...(next ? { next } : {}), bookmark: now, reason: `first seen; ${nextText}` };
  }
  if (suspend) {
    // Slots passed while suspended are not owed: resuming must not fire a catch-up run at once.
    return { action: 'wait', skippedMissed: 0, ...(next ? { next } : {}), bookmark: now, reason: 'suspended' };
  }
  const { due, skippedMissed } = dueRun(t, lastScheduled, now);
  if (due) {
    const late = skippedMissed > 0 || now.getTime() - due.getTime() > LATE_AFTER_MS;
    const skipped = skippedMissed > 0 ? `; ${skippedMissed} older missed slot(s) skipped` : '';
    return {
      action: 'run',
      due,
      trigger: late ? 'missed' : 'schedule',
      skippedMissed,
      ...(next ? { next } : {}),
      bookmark: due,
      reason: `${late ? 'missed run' : 'run'} due at ${due.toISOString()}${skipped}`,
    };
  }
  if (skippedMissed > 0) {
    return {
      action: 'wait',
      skippedMissed,
      ...(next ? { next } : {}),
      bookmark: now,
      reason: `${skippedMissed} missed slot(s) older than startingDeadline skipped; ${nextText}`,
    };
  }
  return { action: 'wait', skippedMissed: 0, ...(next ? { next } : {}), reason: nextText };
}
