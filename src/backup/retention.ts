/**
 * Which backups a retention policy keeps, with restic's `forget` semantics
 * (restic/internal/restic/snapshot_policy.go): backups are walked newest first; each bucket rule
 * (last, hourly, daily, weekly, monthly, yearly) keeps a backup whenever the backup falls into a
 * calendar bucket different from the last one that rule kept, until the rule's count runs out; the
 * rules are OR-ed; keepWithin keeps everything younger than the window measured back from the NEWEST
 * backup (not from now), so a host that stopped backing up does not age out its last copies.
 *
 * On top of restic: only complete backups count, and the newest complete backup is always kept.
 * Backups stamped in the future are flagged, not kept: they neither anchor nor fill any rule, and
 * restore refuses them. They are not deleted either: that they look future means this clock and
 * theirs disagree, and if this clock is the wrong one (a host that booted with its clock reset),
 * deleting by it would take every good backup. Incomplete backups whose run has ended are listed
 * for cleanup; those that may still be running are left alone.
 */

export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** Milliseconds before the newest backup's time. */
  keepWithinMs?: number;
}

export interface RetentionCandidate {
  id: string;
  time: Date;
  /** A backup is complete when its manifest exists; an incomplete one never counts. */
  complete: boolean;
}

export type RetentionReason = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly' | 'within' | 'newest' | 'no policy';

export interface RetentionDecision {
  id: string;
  time: Date;
  reasons: RetentionReason[];
}

export interface RetentionResult {
  keep: RetentionDecision[];
  remove: RetentionDecision[];
  /** Incomplete backups of runs that have ended (failed, interrupted), not running ones. */
  cleanup: RetentionDecision[];
  /** Complete backups dated after now (beyond the tolerance): flagged, neither kept nor removed. */
  future: RetentionDecision[];
}

export interface RetentionOptions {
  /** IANA zone the calendar buckets are cut in, e.g. Europe/Madrid. */
  timeZone: string;
  now: Date;
  /** Whether an incomplete backup's run may still be going on; default: it is younger than a day. */
  mayBeRunning?: (c: RetentionCandidate) => boolean;
  /** How far ahead of `now` a timestamp may be before it counts as "in the future". Default one hour. */
  futureToleranceMs?: number;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

type Bucketer = (t: LocalTime, index: number) => number;

interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
}

const RULES: { reason: Exclude<RetentionReason, 'within' | 'newest' | 'no policy'>; field: keyof RetentionPolicy; bucket: Bucketer }[] = [
  { reason: 'last', field: 'keepLast', bucket: (_t, i) => i },
  { reason: 'hourly', field: 'keepHourly', bucket: (t) => t.year * 1_000_000 + t.month * 10_000 + t.day * 100 + t.hour },
  { reason: 'daily', field: 'keepDaily', bucket: (t) => t.year * 10_000 + t.month * 100 + t.day },
  { reason: 'weekly', field: 'keepWeekly', bucket: (t) => isoWeekBucket(t) },
  { reason: 'monthly', field: 'keepMonthly', bucket: (t) => t.year * 100 + t.month },
  { reason: 'yearly', field: 'keepYearly', bucket: (t) => t.year },
];

export function isEmptyPolicy(p: RetentionPolicy): boolean {
  return RULES.every((r) => !p[r.field]) && !p.keepWithinMs;
}

export function applyRetention(candidates: readonly RetentionCandidate[], policy: RetentionPolicy, opts: RetentionOptions): RetentionResult {
  const futureLimit = futureLimitOf(opts.now, opts.futureToleranceMs);
  const local = localTimeIn(opts.timeZone);
  const mayBeRunning = opts.mayBeRunning ?? ((c: RetentionCandidate) => opts.now.getTime() - c.time.getTime() <= DAY_MS);

  const cleanup = candidates
    .filter((c) => !c.complete && !mayBeRunning(c))
    .sort(newestFirst)
    .map((c) => ({ id: c.id, time: c.time, reasons: [] as RetentionReason[] }));

  const complete = candidates.filter((c) => c.complete).sort(newestFirst);
  const future = complete.filter((c) => c.time.getTime() > futureLimit);
  const present = complete.filter((c) => c.time.getTime() <= futureLimit);

  const flagged = future.map((c) => ({ id: c.id, time: c.time, reasons: [] as RetentionReason[] }));
  const keep: RetentionDecision[] = [];
  const remove: RetentionDecision[] = [];

  if (isEmptyPolicy(policy)) {
    keep.push(...present.map((c) => ({ id: c.id, time: c.time, reasons: ['no policy' as const] })));
    return { keep, remove, cleanup, future: flagged };
  }

  const counters = RULES.map((r) => ({ ...r, left: policy[r.field] ?? 0, last: Number.NaN }));
  const newest = present[0];
  present.forEach((c, index) => {
    const reasons: RetentionReason[] = [];
    if (index === 0) reasons.push('newest');
    if (newest && policy.keepWithinMs && c.time.getTime() > newest.time.getTime() - policy.keepWithinMs) reasons.push('within');
    const t = local(c.time);
    for (const rule of counters) {
      if (rule.left <= 0) continue;
      const value = rule.bucket(t, index);
      if (value !== rule.last) {
        rule.last = value;
        rule.left -= 1;
        reasons.push(rule.reason);
      }
    }
    (reasons.length > 0 ? keep : remove).push({ id: c.id, time: c.time, reasons });
  });
  return { keep, remove, cleanup, future: flagged };
}

/** How far ahead of now a backup's time may be (clock skew between runs) before it counts as dated in the future. */
export const FUTURE_TOLERANCE_MS = HOUR_MS;

/** The latest time a backup may carry and still not be dated in the future. */
export const futureLimitOf = (now: Date, toleranceMs = FUTURE_TOLERANCE_MS): number => now.getTime() + toleranceMs;

/** Newest first; equal times ordered by id (descending) so that ties resolve the same way every run. */
function newestFirst(a: RetentionCandidate, b: RetentionCandidate): number {
  const d = b.time.getTime() - a.time.getTime();
  if (d !== 0) return d;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Wall-clock fields in `timeZone`; a DST fall-back hour that happens twice is the same local hour, as in restic. */
export function localTimeIn(timeZone: string): (d: Date) => LocalTime {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
  });
  return (d) => {
    const parts: Record<string, number> = {};
    for (const p of fmt.formatToParts(d)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
    return { year: parts.year ?? 0, month: parts.month ?? 0, day: parts.day ?? 0, hour: parts.hour ?? 0 };
  };
}

/** ISO 8601 week-numbering year * 100 + week, from the local calendar date. */
function isoWeekBucket(t: LocalTime): number {
  const date = new Date(Date.UTC(t.year, t.month - 1, t.day));
  const dow = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - dow); // the Thursday of this week decides its year
  const isoYear = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(isoYear, 0, 1)) / DAY_MS + 1) / 7);
  return isoYear * 100 + week;
}
