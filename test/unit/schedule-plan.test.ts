import { describe, expect, it } from 'vitest';
import { scheduleSpec, type ScheduleSpec } from '../../src/manifests/kinds/schedule.js';
import type { Resource } from '../../src/manifests/resource.js';
import { plan } from '../../src/reconcilers/schedule/plan.js';
import type { JobContainer, JobObservation } from '../../src/schedule/job-plan.js';

// Plain objects in, actions out: no Docker, no clock, no state file.
const schedule = (spec: Record<string, unknown> = {}): Resource<ScheduleSpec> => ({
  kind: 'Schedule',
  name: 'nightly',
  labels: {},
  source: { file: '/m/s.yaml', dir: '/m' } as Resource['source'],
  spec: scheduleSpec.parse({ schedule: '0 2 * * *', exec: { service: 'db', command: 'vacuumdb --all' }, ...spec }),
});
const seen = (over: Partial<JobObservation> = {}): JobObservation => ({ lastScheduled: new Date('2026-03-01T02:00:00Z'), running: false, containers: [], ...over });
const container = (id: string, state: string, startedAt?: string): JobContainer => ({ id, name: `x-nightly-run-${id}`, state, ...(startedAt ? { startedAt: new Date(startedAt) } : {}) });
const at = (iso: string): Date => new Date(iso);
const ID = '0 2 * * *|UTC';

describe('Schedule plan: a declared schedule', () => {
  it('first seen: a note with the first slot, bookmarking now so slots before it are not owed', () => {
    const now = at('2026-03-01T10:00:00Z');
    expect(plan(schedule(), seen({ lastScheduled: undefined }), now)).toEqual([
      {
        type: 'slot',
        action: 'note',
        reason: 'first seen; next run at 2026-03-02T02:00:00.000Z',
        slot: { bookmark: { at: now, scheduleId: ID }, skippedMissed: 0, next: at('2026-03-02T02:00:00Z'), readyReason: 'first seen; next run at 2026-03-02T02:00:00.000Z', requeueAfterMs: 3_600_000 },
      },
    ]);
  });

  it('between slots: a note with the next run, looked at again just after it', () => {
    expect(plan(schedule(), seen(), at('2026-03-02T01:30:00Z'))).toEqual([
      {
        type: 'slot',
        action: 'note',
        reason: 'next run at 2026-03-02T02:00:00.000Z',
        slot: { skippedMissed: 0, next: at('2026-03-02T02:00:00Z'), readyReason: 'next run at 2026-03-02T02:00:00.000Z', requeueAfterMs: 30 * 60_000 + 250 },
      },
    ]);
  });

  it('a due slot: run, for that slot, bookmarking it', () => {
    const [a] = plan(schedule(), seen(), at('2026-03-02T02:00:01Z'));
    expect(a).toEqual({
      type: 'slot',
      action: 'run',
      reason: 'run due at 2026-03-02T02:00:00.000Z',
      slot: {
        start: { trigger: 'schedule', scheduledFor: at('2026-03-02T02:00:00Z') },
        bookmark: { at: at('2026-03-02T02:00:00Z'), scheduleId: ID },
        skippedMissed: 0,
        next: at('2026-03-03T02:00:00Z'),
        readyReason: 'run due at 2026-03-02T02:00:00.000Z',
        requeueAfterMs: 3_600_000,
      },
    });
  });

  it('after downtime: one missed run for the latest slot, the older ones counted as skipped', () => {
    const [a] = plan(schedule(), seen({ lastScheduled: at('2026-02-26T02:00:00Z') }), at('2026-03-02T09:00:00Z'));
    expect(a).toMatchObject({ action: 'run', reason: 'missed run due at 2026-03-02T02:00:00.000Z; 3 older missed slot(s) skipped', slot: { start: { trigger: 'missed' }, skippedMissed: 3 } });
  });

  it('a slot older than startingDeadline: a note, bookmarked so it never runs', () => {
    const now = at('2026-03-02T09:00:00Z');
    const [a] = plan(schedule({ startingDeadline: '1h' }), seen(), now);
    expect(a).toMatchObject({ action: 'note', reason: '1 missed slot(s) older than startingDeadline skipped; next run at 2026-03-03T02:00:00.000Z', slot: { bookmark: { at: now }, skippedMissed: 1 } });
    expect(a?.type === 'slot' && a.slot.start).toBeUndefined();
  });

  it('suspended: a note, and the slots passed meanwhile are not owed', () => {
    const now = at('2026-03-02T09:00:00Z');
    const [a] = plan(schedule({ suspend: true }), seen(), now);
    expect(a).toMatchObject({ action: 'note', reason: 'suspended', slot: { bookmark: { at: now } } });
  });

  it('a due slot while a run is in progress says what the concurrency policy will do', () => {
    expect(plan(schedule({ concurrencyPolicy: 'Replace' }), seen({ running: true, containers: [] }), at('2026-03-02T02:00:01Z'))[0]).toMatchObject({
      action: 'run',
      reason: 'run due at 2026-03-02T02:00:00.000Z (a run is in progress; concurrencyPolicy Replace)',
    });
  });

  it('leftover job containers of a stopped agent are removed first; a young running one is left alone', () => {
    const now = at('2026-03-02T01:30:00Z');
    const exited = container('a', 'exited');
    const orphan = container('b', 'running', '2026-03-01T23:00:00Z'); // older than the 1 h timeout plus grace
    const young = container('c', 'running', '2026-03-02T01:00:00Z');
    const actions = plan(schedule(), seen({ containers: [exited, orphan, young] }), now);
    expect(actions.map((a) => [a.type, a.action, a.reason])).toEqual([
      ['leftovers', 'remove', '2 leftover job container(s) of an earlier run'],
      ['slot', 'note', 'next run at 2026-03-02T02:00:00.000Z'],
    ]);
    expect(actions[0]?.type === 'leftovers' && actions[0].containers).toEqual([exited, orphan]);
  });

  it('the timeout sets how old a running job container must be to count as an orphan', () => {
    const c = container('b', 'running', '2026-03-02T01:00:00Z');
    const now = at('2026-03-02T01:30:00Z');
    expect(plan(schedule({ timeout: '10m' }), seen({ containers: [c] }), now)[0]).toMatchObject({ type: 'leftovers', containers: [c] });
    expect(plan(schedule({ timeout: '1h' }), seen({ containers: [c] }), now)[0]).toMatchObject({ type: 'slot' });
  });
});

describe('Schedule plan: a schedule no longer declared', () => {
  const now = at('2026-03-02T01:30:00Z');

  it('nothing left: remove, keeping the run history', () => {
    expect(plan(undefined, seen(), now)).toEqual([{ type: 'retire', action: 'remove', reason: 'no longer declared: its schedule stops; run history kept', containers: [] }]);
  });

  it('leftover containers go with it', () => {
    const exited = container('a', 'exited');
    expect(plan(undefined, seen({ containers: [exited] }), now)).toEqual([
      { type: 'retire', action: 'remove', reason: 'no longer declared: 1 leftover job container(s) removed, run history kept', containers: [exited] },
    ]);
  });

  it('a run in progress is waited for, touching nothing', () => {
    expect(plan(undefined, seen({ running: true }), now)).toEqual([
      { type: 'retire', action: 'wait', reason: 'no longer declared; waiting for the run in progress to finish', containers: [], requeueAfterMs: 30_000 },
    ]);
  });

  it('a young running container is waited for (it may be another process\'s run); exited ones go meanwhile', () => {
    const exited = container('a', 'exited');
    const young = container('c', 'running', '2026-03-02T01:00:00Z');
    expect(plan(undefined, seen({ containers: [exited, young] }), now)).toEqual([
      { type: 'retire', action: 'wait', reason: 'no longer declared; waiting for the run in progress to finish; 1 leftover job container(s) removed', containers: [exited], requeueAfterMs: 30_000 },
    ]);
    expect(plan(undefined, seen({ containers: [young] }), now)[0]).toMatchObject({ action: 'wait', reason: 'no longer declared; waiting for the run in progress to finish', containers: [] });
  });
});
