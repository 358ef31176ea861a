import { describe, expect, it } from 'vitest';
import { scheduleFields } from '../../src/manifests/kinds/schedule-fields.js';
import { scheduleSpec } from '../../src/manifests/kinds/schedule.js';
import { slotStatus } from '../../src/schedule/slot-status.js';
import { dueRun, nextRunAfter, validateCron, type ScheduleTiming } from '../../src/schedule/timing.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';

const utc = (cron: string, extra: Partial<ScheduleTiming> = {}): ScheduleTiming => ({ cron, timeZone: 'UTC', ...extra });
const madrid = (cron: string, extra: Partial<ScheduleTiming> = {}): ScheduleTiming => ({ cron, timeZone: 'Europe/Madrid', ...extra });
const d = (iso: string): Date => new Date(iso);
const HOUR = 3_600_000;

describe('validateCron', () => {
  it.each([
    ['0 2 * * *', undefined],
    ['*/15 * * * 1-5', undefined],
    ['@daily', undefined],
    ['@hourly', undefined],
    ['@weekly', undefined],
    ['@monthly', undefined],
    ['@yearly', undefined],
    ['@annually', undefined],
    ['@midnight', undefined],
    ['0 0 2 * * *', /6.*seconds are not supported/],
    ['* * *', /expected 5 fields/],
    ['61 * * * *', /minute/i],
    ['@reboot', /unknown shortcut/],
    ['0 2 31 2 *', /never/],
  ])('%s', (expr, problem) => {
    const res = validateCron(expr, 'UTC');
    if (problem === undefined) expect(res).toBeUndefined();
    else expect(res).toMatch(problem);
  });

  it('rejects an unknown time zone', () => {
    expect(validateCron('0 2 * * *', 'Mars/Olympus')).toMatch(/unknown time zone "Mars\/Olympus"/);
  });

  it.each(['Europe/Madrid', 'UTC', 'Etc/UTC', 'Asia/Kolkata', 'Asia/Calcutta', 'US/Eastern'])('accepts %s, a canonical zone or an alias of one', (zone) => {
    expect(validateCron('0 2 * * *', zone)).toBeUndefined();
  });
});

describe('nextRunAfter', () => {
  it.each([
    ['every 15 min', utc('*/15 * * * *'), '2025-01-01T10:07:00Z', '2025-01-01T10:15:00Z'],
    ['strictly after an exact slot', utc('*/15 * * * *'), '2025-01-01T10:15:00Z', '2025-01-01T10:30:00Z'],
    ['@daily UTC', utc('@daily'), '2025-01-01T10:00:00Z', '2025-01-02T00:00:00Z'],
    ['@daily Madrid in winter (UTC+1)', madrid('@daily'), '2025-01-01T10:00:00Z', '2025-01-01T23:00:00Z'],
    ['02:00 Madrid in summer (UTC+2)', madrid('0 2 * * *'), '2025-07-01T10:00:00Z', '2025-07-02T00:00:00Z'],
    ['02:00 New York (UTC-4 in summer)', { cron: '0 2 * * *', timeZone: 'America/New_York' }, '2025-07-01T10:00:00Z', '2025-07-02T06:00:00Z'],
    ['@weekly = Sunday 00:00', utc('@weekly'), '2025-01-01T00:00:00Z', '2025-01-05T00:00:00Z'],
    ['@monthly', utc('@monthly'), '2025-01-15T00:00:00Z', '2025-02-01T00:00:00Z'],
    ['weekdays only', utc('30 6 * * 1-5'), '2025-01-03T07:00:00Z', '2025-01-06T06:30:00Z'],
    // DST spring forward: 02:30 does not exist on 2025-03-30 in Madrid; the run moves to 03:00 CEST.
    ['spring forward: 02:30 -> 03:00 CEST', madrid('30 2 * * *'), '2025-03-29T12:00:00Z', '2025-03-30T01:00:00Z'],
    ['spring forward: back to normal next day', madrid('30 2 * * *'), '2025-03-30T12:00:00Z', '2025-03-31T00:30:00Z'],
    // DST fall back: 02:30 happens at 00:30Z (CEST) and 01:30Z (CET) on 2025-10-26; a fixed-time job runs once.
    ['fall back: first 02:30', madrid('30 2 * * *'), '2025-10-25T12:00:00Z', '2025-10-26T00:30:00Z'],
    ['fall back: not again at the second 02:30', madrid('30 2 * * *'), '2025-10-26T00:30:00Z', '2025-10-27T01:30:00Z'],
  ])('%s', (_label, t, after, expected) => {
    expect(nextRunAfter(t, d(after))?.toISOString()).toBe(new Date(expected).toISOString());
  });

  it('an interval job runs through both occurrences of the repeated hour', () => {
    const t = madrid('0 * * * *');
    const runs: string[] = [];
    let cursor = d('2025-10-25T23:30:00Z');
    for (let i = 0; i < 4; i++) {
      cursor = nextRunAfter(t, cursor) as Date;
      runs.push(cursor.toISOString());
    }
    // 01:00 CEST, 02:00 CEST, 02:00 CET, 03:00 CET: four slots an hour apart in real time.
    expect(runs).toEqual(['2025-10-26T00:00:00.000Z', '2025-10-26T01:00:00.000Z', '2025-10-26T02:00:00.000Z', '2025-10-26T03:00:00.000Z']);
  });
});

describe('dueRun', () => {
  const nightly = madrid('0 2 * * *');
  it.each<[string, ScheduleTiming, string | undefined, string, { due?: string; skippedMissed: number }]>([
    ['never ran: nothing due', nightly, undefined, '2025-01-10T12:00:00Z', { skippedMissed: 0 }],
    ['before the slot', nightly, '2025-01-10T00:00:00Z', '2025-01-10T00:59:59Z', { skippedMissed: 0 }],
    ['exactly at the slot', nightly, '2025-01-10T00:00:00Z', '2025-01-10T01:00:00Z', { due: '2025-01-10T01:00:00Z', skippedMissed: 0 }],
    ['slot already handled', nightly, '2025-01-10T01:00:00Z', '2025-01-10T05:00:00Z', { skippedMissed: 0 }],
    ['host off 3 nights: run once, 2 skipped', nightly, '2025-01-07T01:00:00Z', '2025-01-10T08:00:00Z', { due: '2025-01-10T01:00:00Z', skippedMissed: 2 }],
    ['missed within startingDeadline', madrid('0 2 * * *', { startingDeadlineMs: 8 * HOUR }), '2025-01-09T01:00:00Z', '2025-01-10T08:00:00Z', { due: '2025-01-10T01:00:00Z', skippedMissed: 0 }],
    ['missed outside startingDeadline: skipped', madrid('0 2 * * *', { startingDeadlineMs: HOUR }), '2025-01-09T01:00:00Z', '2025-01-10T08:00:00Z', { skippedMissed: 1 }],
    ['several missed, newest outside deadline', madrid('0 2 * * *', { startingDeadlineMs: HOUR }), '2025-01-05T01:00:00Z', '2025-01-10T08:00:00Z', { skippedMissed: 5 }],
    ['per-minute job, 2 hours down', utc('* * * * *'), '2025-01-10T10:00:00Z', '2025-01-10T12:00:30Z', { due: '2025-01-10T12:00:00Z', skippedMissed: 119 }],
    ['spring forward: the 02:30 slot happens at 03:00', madrid('30 2 * * *'), '2025-03-29T12:00:00Z', '2025-03-30T01:00:10Z', { due: '2025-03-30T01:00:00Z', skippedMissed: 0 }],
    ['fall back: once across the repeated hour', madrid('30 2 * * *'), '2025-10-25T12:00:00Z', '2025-10-26T03:00:00Z', { due: '2025-10-26T00:30:00Z', skippedMissed: 0 }],
  ])('%s', (_label, t, last, now, expected) => {
    const res = dueRun(t, last ? d(last) : undefined, d(now));
    expect({ due: res.due?.toISOString(), skippedMissed: res.skippedMissed }).toEqual({
      due: expected.due ? new Date(expected.due).toISOString() : undefined,
      skippedMissed: expected.skippedMissed,
    });
  });

  it('a per-minute job after a year off counts a bounded number and still picks the newest slot', () => {
    const t0 = performance.now();
    const res = dueRun(utc('* * * * *'), d('2024-01-01T00:00:00Z'), d('2025-01-01T00:00:30Z'));
    expect(res.due?.toISOString()).toBe('2025-01-01T00:00:00.000Z');
    expect(res.skippedMissed).toBeGreaterThanOrEqual(999);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('fall back, stepping slot by slot: 02:30 runs once', () => {
    const t = madrid('30 2 * * *');
    let last = d('2025-10-25T12:00:00Z');
    const ran: string[] = [];
    for (let m = 0; m <= 6 * 60; m += 5) {
      const now = new Date(Date.parse('2025-10-25T23:00:00Z') + m * 60_000);
      const res = dueRun(t, last, now);
      if (res.due) {
        ran.push(res.due.toISOString());
        last = res.due;
      }
    }
    expect(ran).toEqual(['2025-10-26T00:30:00.000Z']);
  });
});

describe('slotStatus', () => {
  const t = madrid('0 2 * * *');
  it('first seen: waits and bookmarks now', () => {
    const now = d('2025-01-10T12:00:00Z');
    const res = slotStatus(t, false, undefined, now);
    expect(res).toMatchObject({ action: 'wait', bookmark: now, next: d('2025-01-11T01:00:00Z') });
  });
  it('on time: trigger schedule', () => {
    const res = slotStatus(t, false, d('2025-01-10T00:00:00Z'), d('2025-01-10T01:00:01Z'));
    expect(res).toMatchObject({ action: 'run', trigger: 'schedule', due: d('2025-01-10T01:00:00Z'), bookmark: d('2025-01-10T01:00:00Z') });
  });
  it('after downtime: one run, trigger missed', () => {
    const res = slotStatus(t, false, d('2025-01-07T01:00:00Z'), d('2025-01-10T08:00:00Z'));
    expect(res).toMatchObject({ action: 'run', trigger: 'missed', skippedMissed: 2 });
  });
  it('suspended: never runs, and slots missed while suspended are not owed on resume', () => {
    const now = d('2025-01-15T08:00:00Z');
    const suspended = slotStatus(t, true, d('2025-01-07T01:00:00Z'), now);
    expect(suspended).toMatchObject({ action: 'wait', reason: 'suspended', bookmark: now });
    const resumed = slotStatus(t, false, now, d('2025-01-15T08:05:00Z'));
    expect(resumed.action).toBe('wait');
  });
  it('too late for startingDeadline: waits and moves the bookmark past the skipped slot', () => {
    const now = d('2025-01-10T08:00:00Z');
    const res = slotStatus({ ...t, startingDeadlineMs: HOUR }, false, d('2025-01-09T01:00:00Z'), now);
    expect(res).toMatchObject({ action: 'wait', skippedMissed: 1, bookmark: now });
  });
});

describe('scheduleFields schema', () => {
  const schema = z.strictObject(scheduleFields);
  it('applies defaults', () => {
    expect(schema.parse({ schedule: '@daily' })).toEqual({
      schedule: '@daily',
      timeZone: 'UTC',
      concurrencyPolicy: 'Forbid',
      timeout: HOUR,
      suspend: false,
      historyLimit: 10,
    });
  });
  it('names the problem in a bad cron, zone or policy', () => {
    const res = schema.safeParse({ schedule: '0 0 2 * * *', timeZone: 'Europe/Madird', concurrencyPolicy: 'Sometimes', startingDeadline: '2 hours' });
    expect(res.success).toBe(false);
    const messages = res.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
    expect(messages).toMatch(/schedule: invalid schedule "0 0 2 \* \* \*": expected 5 fields.*seconds/);
    expect(messages).toMatch(/timeZone: unknown time zone "Europe\/Madird"/);
    expect(messages).toMatch(/concurrencyPolicy:/);
    expect(messages).toMatch(/startingDeadline:/);
  });
  it('Schedule needs exactly one of exec or run', () => {
    expect(scheduleSpec.safeParse({ schedule: '@daily' }).success).toBe(false);
    expect(
      scheduleSpec.safeParse({ schedule: '@daily', exec: { service: 'db', command: 'true' }, run: { image: 'x', command: 'true' } }).success,
    ).toBe(false);
    const ok = scheduleSpec.parse({ schedule: '@daily', timeZone: 'Europe/Madrid', startingDeadline: '6h', run: { image: 'busybox', command: 'echo hi', volumes: ['data:/data:ro'] } });
    expect(ok.run?.command).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(ok.run?.volumes[0]).toEqual({ source: 'data', target: '/data', readOnly: true, type: 'volume' });
    expect(ok.startingDeadline).toBe(6 * HOUR);
  });
});

describe('Schedule manifests', () => {
  it('cross-document checks name the undeclared service, network, volume and secret', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'schedule-manifests-'));
    try {
      await writeFile(
        join(dir, 'jobs.yaml'),
        `apiVersion: certitrack.io/v1
kind: Schedule
metadata: { name: dump }
spec:
  schedule: "0 2 * * *"
  timeZone: Europe/Madrid
  exec: { service: db, command: [pg_dump, -Fc], env: { PGPASSWORD: { secretRef: DB_PASSWORD } } }
---
apiVersion: certitrack.io/v1
kind: Schedule
metadata: { name: cleanup }
spec:
  schedule: "@daily"
  run: { image: busybox, command: "true", networks: [backend], volumes: ["docs:/docs"] }
---
apiVersion: certitrack.io/v1
kind: Schedule
metadata: { name: badcron }
spec:
  schedule: "0 0 2 * * *"
  run: { image: busybox }
`,
      );
      const res = await loadManifests(dir, { secrets: new StaticSecrets({}), displayBase: dir });
      expect(res.ok).toBe(false);
      const messages = res.ok ? [] : res.errors.map((e) => `${e.path}: ${e.message}`);
      expect(messages).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/exec.service.*service "db" is not declared/),
          expect.stringMatching(/PGPASSWORD.*secret DB_PASSWORD is not defined/),
          expect.stringMatching(/networks.*network "backend" is not declared/),
          expect.stringMatching(/volumes.*volume "docs" is not declared/),
          expect.stringMatching(/schedule.*expected 5 fields/),
        ]),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
