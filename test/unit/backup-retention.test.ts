import { describe, expect, it } from 'vitest';
import { applyRetention, type RetentionCandidate, type RetentionPolicy } from '../../src/backup/retention.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

const b = (iso: string, id = iso, complete = true): RetentionCandidate => ({ id, time: new Date(iso), complete });
/** One backup a day at 02:00 UTC for `n` days ending on `last` (newest first ids d0, d1, ...). */
const daily = (last: string, n: number): RetentionCandidate[] =>
  Array.from({ length: n }, (_, i) => {
    const t = new Date(new Date(last).getTime() - i * DAY);
    return { id: `d${i}`, time: t, complete: true };
  });

interface Case {
  name: string;
  backups: RetentionCandidate[];
  policy: RetentionPolicy;
  now: string;
  tz?: string;
  keep: string[];
  cleanup?: string[];
  future?: string[];
  reasons?: Record<string, string[]>;
}

const cases: Case[] = [
  {
    name: 'keepLast keeps the n newest',
    backups: daily('2026-11-27T02:00:00Z', 5),
    policy: { keepLast: 3 },
    now: '2026-11-27T03:00:00Z',
    keep: ['d0', 'd1', 'd2'],
  },
  {
    name: 'keepDaily keeps the newest backup of each of the n newest days',
    backups: [
      b('2026-11-27T02:00:00Z', 'a'),
      b('2026-11-27T01:00:00Z', 'b'),
      b('2026-11-26T23:00:00Z', 'c'),
      b('2026-11-26T10:00:00Z', 'd'),
      b('2026-11-25T10:00:00Z', 'e'),
    ],
    policy: { keepDaily: 2 },
    now: '2026-11-27T03:00:00Z',
    tz: 'UTC',
    keep: ['a', 'c'],
  },
  {
    name: 'daily buckets are cut in the given time zone, not UTC',
    // 22:30Z is 23:30 on the 28th in Madrid (CET); 23:30Z is 00:30 on the 29th.
    backups: [b('2026-03-28T23:30:00Z', 'late'), b('2026-03-28T22:30:00Z', 'early'), b('2026-03-28T10:00:00Z', 'morning')],
    policy: { keepDaily: 5 },
    now: '2026-03-29T12:00:00Z',
    tz: 'Europe/Madrid',
    keep: ['late', 'early'],
  },
  {
    name: 'DST spring forward: 01:30 CET and 03:30 CEST fall on the same local day',
    backups: [b('2026-03-29T01:30:00Z', 'after'), b('2026-03-29T00:30:00Z', 'before'), b('2026-03-28T01:00:00Z', 'prev')],
    policy: { keepDaily: 2 },
    now: '2026-03-29T12:00:00Z',
    tz: 'Europe/Madrid',
    keep: ['after', 'prev'],
  },
  {
    name: 'DST fall back: 02:30 CEST and 02:30 CET are one local hour (restic semantics)',
    backups: [b('2026-10-25T01:30:00Z', 'second'), b('2026-10-25T00:30:00Z', 'first'), b('2026-10-24T23:30:00Z', 'hour-before')],
    policy: { keepHourly: 3 },
    now: '2026-10-25T06:00:00Z',
    tz: 'Europe/Madrid',
    keep: ['second', 'hour-before'],
  },
  {
    name: 'gaps: buckets count days that have backups, reaching back over the gap',
    backups: [...daily('2026-11-27T02:00:00Z', 3), ...daily('2026-11-10T02:00:00Z', 5).map((c) => ({ ...c, id: `old${c.id}` }))],
    policy: { keepDaily: 5 },
    now: '2026-11-27T03:00:00Z',
    keep: ['d0', 'd1', 'd2', 'oldd0', 'oldd1'],
  },
  {
    name: 'weekly uses ISO weeks: 31 Dec 2026 and 1 Jan 2027 are both 2026-W53',
    backups: [b('2027-01-04T12:00:00Z', 'w01'), b('2027-01-01T12:00:00Z', 'fri'), b('2026-12-31T12:00:00Z', 'thu'), b('2026-12-27T12:00:00Z', 'w52')],
    policy: { keepWeekly: 3 },
    now: '2027-01-05T00:00:00Z',
    tz: 'UTC',
    keep: ['w01', 'fri', 'w52'],
  },
  {
    name: 'rules are OR-ed and each kept backup names its reasons',
    backups: [b('2026-11-27T02:00:00Z', 'nov27'), b('2026-11-26T02:00:00Z', 'nov26'), b('2026-10-31T02:00:00Z', 'oct31'), b('2026-10-15T02:00:00Z', 'oct15'), b('2025-12-31T02:00:00Z', 'y2025')],
    policy: { keepDaily: 2, keepMonthly: 2, keepYearly: 2 },
    now: '2026-11-27T03:00:00Z',
    tz: 'UTC',
    keep: ['nov27', 'nov26', 'oct31', 'y2025'],
    reasons: { nov27: ['newest', 'daily', 'monthly', 'yearly'], nov26: ['daily'], oct31: ['monthly'], y2025: ['yearly'] },
  },
  {
    name: 'keepWithin is relative to the newest backup, not to now',
    backups: daily('2026-01-10T02:00:00Z', 6),
    policy: { keepWithinMs: 3 * DAY },
    now: '2026-11-27T03:00:00Z',
    keep: ['d0', 'd1', 'd2'],
  },
  {
    name: 'all backups older than every window: the newest still stays',
    backups: daily('2026-01-10T02:00:00Z', 4),
    policy: { keepWithinMs: HOUR },
    now: '2026-11-27T03:00:00Z',
    keep: ['d0'],
    reasons: { d0: ['newest', 'within'] },
  },
  {
    name: 'a future timestamp is flagged, not kept, and takes neither the newest slot nor a rule',
    backups: [b('2031-01-01T00:00:00Z', 'future'), ...daily('2026-11-27T02:00:00Z', 3)],
    policy: { keepLast: 1 },
    now: '2026-11-27T03:00:00Z',
    keep: ['d0'],
    future: ['future'],
    reasons: { d0: ['newest', 'last'] },
  },
  {
    name: 'ties on time resolve by id, the same way every run',
    backups: [b('2026-11-27T02:00:00Z', 'x-aaaa'), b('2026-11-27T02:00:00Z', 'x-bbbb'), b('2026-11-26T02:00:00Z', 'y')],
    policy: { keepLast: 1 },
    now: '2026-11-27T03:00:00Z',
    keep: ['x-bbbb'],
  },
  {
    name: 'incomplete backups never count; those older than a day are listed for cleanup',
    backups: [
      b('2026-11-27T02:30:00Z', 'running', false),
      b('2026-11-27T02:00:00Z', 'good'),
      b('2026-11-25T02:00:00Z', 'abandoned', false),
      b('2026-11-24T02:00:00Z', 'older'),
    ],
    policy: { keepLast: 1 },
    now: '2026-11-27T03:00:00Z',
    keep: ['good'],
    cleanup: ['abandoned'],
  },
  {
    name: 'an empty policy keeps everything',
    backups: daily('2026-11-27T02:00:00Z', 3),
    policy: {},
    now: '2026-11-27T03:00:00Z',
    keep: ['d0', 'd1', 'd2'],
  },
  {
    name: 'no complete backups: nothing kept, nothing removed',
    backups: [b('2026-11-27T02:00:00Z', 'half', false)],
    policy: { keepLast: 3 },
    now: '2026-11-27T03:00:00Z',
    keep: [],
  },
];

describe('applyRetention', () => {
  it.each(cases)('$name', (c) => {
    const res = applyRetention(c.backups, c.policy, { timeZone: c.tz ?? 'UTC', now: new Date(c.now) });
    expect(res.keep.map((k) => k.id).sort()).toEqual([...c.keep].sort());
    const completeIds = c.backups.filter((x) => x.complete).map((x) => x.id);
    expect(res.remove.map((r) => r.id).sort()).toEqual(completeIds.filter((id) => !c.keep.includes(id) && !(c.future ?? []).includes(id)).sort());
    expect(res.future.map((r) => r.id)).toEqual(c.future ?? []);
    expect(res.cleanup.map((r) => r.id)).toEqual(c.cleanup ?? []);
    for (const [id, reasons] of Object.entries(c.reasons ?? {})) {
      expect(res.keep.find((k) => k.id === id)?.reasons).toEqual(reasons);
    }
  });

  it('never removes the newest complete backup, whatever the policy', () => {
    const backups = daily('2026-11-27T02:00:00Z', 10);
    for (const policy of [{ keepWithinMs: 1 }, { keepHourly: 1 }, { keepYearly: 1 }, { keepLast: 1 }] as RetentionPolicy[]) {
      const res = applyRetention(backups, policy, { timeZone: 'Europe/Madrid', now: new Date('2027-06-01T00:00:00Z') });
      expect(res.keep.map((k) => k.id)).toContain('d0');
      expect(res.remove.map((k) => k.id)).not.toContain('d0');
    }
  });
});
