import { Cron } from 'croner';

/** When a job runs: a 5-field cron expression (or an @daily-style shortcut) read in an IANA time zone. */
export interface ScheduleTiming {
  cron: string;
  timeZone: string;
  /** A run missed by more than this is skipped rather than started late; undefined = no limit. */
  startingDeadlineMs?: number;
}

const SHORTCUTS = new Set(['@hourly', '@daily', '@weekly', '@monthly', '@yearly', '@annually', '@midnight']);

/** Beyond this many missed slots (e.g. a per-minute job after weeks off) counting stops; see dueRun. */
const MAX_MISSED_COUNTED = 1_000;

const cache = new Map<string, Cron>();

function cronFor(expr: string, timeZone: string): Cron {
  const key = `${timeZone}\u0000${expr}`;
  let c = cache.get(key);
  if (!c) {
    // paused: the object is only a calculator; croner must never start its own timers here.
    c = new Cron(expr.trim(), { timezone: timeZone, mode: '5-part', paused: true });
    if (cache.size > 256) cache.clear();
    cache.set(key, c);
  }
  return c;
}

let canonicalZones: ReadonlySet<string> | undefined;

export function validateTimeZone(timeZone: string): string | undefined {
  // Intl's list of canonical zones answers in ~2 ms, where the first formatter loads ICU's zone
  // data (~12 ms of every `validate`); aliases such as UTC or Asia/Kolkata are not on the list,
  // so they still go to the formatter, which is the authority.
  canonicalZones ??= new Set(Intl.supportedValuesOf('timeZone'));
  if (canonicalZones.has(timeZone)) return undefined;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone }).format(0);
    return undefined;
  } catch {
    return `unknown time zone "${timeZone}" (expected an IANA name such as UTC or Europe/Madrid)`;
  }
}

/**
 * Returns a message naming the problem, or undefined if `expr` is a usable schedule.
 * Accepts classic 5-field cron and the @hourly…@annually/@midnight shortcuts; a 6-field expression
 * with seconds is rejected on purpose, so "0 2 * * *" can never be misread as something else.
 */
export function validateCron(expr: string, timeZone: string): string | undefined {
  const tzError = validateTimeZone(timeZone);
  if (tzError) return tzError;
  const text = expr.trim();
  if (text.startsWith('@')) {
    if (!SHORTCUTS.has(text.toLowerCase())) {
      return `unknown shortcut "${text}" (expected one of ${[...SHORTCUTS].join(', ')}, or 5 cron fields)`;
    }
  } else {
    const fields = text.split(/\s+/).filter((f) => f.length > 0);
    if (fields.length !== 5) {
      return `expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}${fields.length === 6 ? ' (seconds are not supported)' : ''}`;
    }
  }
  try {
    const next = cronFor(text, timeZone).nextRun(new Date());
    if (!next) return `"${text}" never matches a date`;
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^CronPattern:\s*/, '');
  }
}

/** The first scheduled time strictly after `after`, or undefined if the expression never fires again. */
export function nextRunAfter(t: ScheduleTiming, after: Date): Date | undefined {
  return cronFor(t.cron, t.timeZone).nextRun(after) ?? undefined;
}

/**
 * What to do now, given the last scheduled time already handled.
 *
 * `due` is the latest scheduled time in (lastScheduled, now], if it is within startingDeadlineMs of
 * now; every older slot in that interval is counted in `skippedMissed` and never run. So after
 * downtime the job runs once, not once per missed slot (systemd Persistent=true, CronJob
 * startingDeadlineSeconds). When the latest slot is already too old, nothing is due and it counts as
 * skipped too. With `lastScheduled` undefined (never ran) nothing is due: the caller records the
 * creation time as lastScheduled, so a new schedule waits for its first slot.
 *
 * skippedMissed is a lower bound once it reaches MAX_MISSED_COUNTED.
 */
export function dueRun(t: ScheduleTiming, lastScheduled: Date | undefined, now: Date): { due?: Date; skippedMissed: number } {
  if (!lastScheduled || lastScheduled.getTime() >= now.getTime()) return { skippedMissed: 0 };
  const cron = cronFor(t.cron, t.timeZone);
  let latest: Date | undefined;
  let count = 0;
  let cursor: Date | null = cron.nextRun(lastScheduled);
  while (cursor && cursor.getTime() <= now.getTime()) {
    latest = cursor;
    count++;
    if (count >= MAX_MISSED_COUNTED) {
      // Jump straight to the newest slot instead of walking every one of them.
      const prev = cron.previousRuns(2, new Date(now.getTime() + 1000)).find((d) => d.getTime() <= now.getTime());
      if (prev && prev.getTime() > latest.getTime()) latest = prev;
      break;
    }
    cursor = cron.nextRun(cursor);
  }
  if (!latest) return { skippedMissed: 0 };
  if (t.startingDeadlineMs !== undefined && now.getTime() - latest.getTime() > t.startingDeadlineMs) {
    return { skippedMissed: count };
  }
  return { due: latest, skippedMissed: count - 1 };
}
