import { describe, expect, it } from 'vitest';
import type { RetryState } from '../../src/backup/retry.js';
import { backupSpec, type BackupSpec } from '../../src/manifests/kinds/backup.js';
import type { Resource } from '../../src/manifests/resource.js';
import { type BackupObservation, plan } from '../../src/reconcilers/backup/plan.js';

// Plain objects in, actions out: no destination, no clock, no state file.
const backup = (spec: Record<string, unknown> = {}): Resource<BackupSpec> => ({
  kind: 'Backup',
  name: 'db',
  labels: {},
  source: { file: '/m/b.yaml', dir: '/m' } as Resource['source'],
  spec: backupSpec.parse({ schedule: '0 2 * * *', sources: [{ postgres: { service: 'db', database: 'app' } }], ...spec }),
});
const manualOnly = (): Resource<BackupSpec> => {
  const res = backup();
  const { schedule: _none, ...spec } = res.spec;
  return { ...res, spec };
};
const seen = (over: Partial<BackupObservation> = {}): BackupObservation => ({ lastScheduled: new Date('2026-03-01T02:00:00Z'), running: false, containers: [], ...over });
const retry = (over: Partial<RetryState> = {}): RetryState => ({ attempt: 2, nextAt: '2026-03-02T02:04:00.000Z', slot: '2026-03-02T02:00:00.000Z', step: 'dump', error: 'dump failed: …', ...over });
const at = (iso: string): Date => new Date(iso);
const shown = (p: ReturnType<typeof plan>) => p.map((a) => [a.action, a.reason]);
/** The slot step of a plan that must be exactly one slot action. */
function slotOf(p: ReturnType<typeof plan>) {
  const [a, ...rest] = p;
  if (a?.type !== 'slot' || rest.length > 0) throw new Error(`expected one slot action, got ${JSON.stringify(p)}`);
  return a.slot;
}

describe('Backup plan: a declared backup', () => {
  it('first seen: a note with the first slot, bookmarked', () => {
    const now = at('2026-03-02T01:30:00Z');
    expect(plan(backup(), seen({ lastScheduled: undefined }), now)).toEqual([
      {
        type: 'slot',
        action: 'note',
        reason: 'first seen; next run at 2026-03-02T02:00:00.000Z',
        slot: { bookmark: { at: now, scheduleId: '0 2 * * *|UTC' }, skippedMissed: 0, next: at('2026-03-02T02:00:00Z'), readyReason: 'first seen; next run at 2026-03-02T02:00:00.000Z', requeueAfterMs: 30 * 60_000 + 250 },
      },
    ]);
  });

  it('a due slot: run for it, looked at again within a minute while it runs', () => {
    expect(plan(backup(), seen(), at('2026-03-02T02:00:10Z'))).toEqual([
      {
        type: 'slot',
        action: 'run',
        reason: 'run due at 2026-03-02T02:00:00.000Z',
        slot: {
          start: { trigger: 'schedule', scheduledFor: at('2026-03-02T02:00:00Z') },
          bookmark: { at: at('2026-03-02T02:00:00Z'), scheduleId: '0 2 * * *|UTC' },
          skippedMissed: 0,
          next: at('2026-03-03T02:00:00Z'),
          readyReason: 'run due at 2026-03-02T02:00:00.000Z',
          requeueAfterMs: 60_000,
        },
      },
    ]);
  });

  it('a new slot supersedes the retry of an older one', () => {
    const [a] = plan(backup(), seen({ retry: retry({ nextAt: '2026-03-02T02:30:00.000Z', slot: '2026-03-01T02:00:00.000Z' }) }), at('2026-03-02T02:00:10Z'));
    expect(a).toMatchObject({ action: 'run', reason: 'run due at 2026-03-02T02:00:00.000Z', clearsRetry: true, slot: { start: { scheduledFor: at('2026-03-02T02:00:00Z') } } });
  });

  it('a retry not yet due: a note saying when, looked at again just after it', () => {
    const p = plan(backup(), seen({ lastScheduled: at('2026-03-02T02:00:00Z'), retry: retry() }), at('2026-03-02T02:02:00Z'));
    expect(shown(p)).toEqual([['note', 'next run at 2026-03-03T02:00:00.000Z; retry 2 at 2026-03-02T02:04:00.000Z']]);
    expect(slotOf(p)).toMatchObject({ requeueAfterMs: 2 * 60_000 + 250 });
  });

  it('a due retry runs for the slot that failed', () => {
    const p = plan(backup(), seen({ lastScheduled: at('2026-03-02T02:00:00Z'), retry: retry() }), at('2026-03-02T02:04:00Z'));
    expect(p).toEqual([
      {
        type: 'slot',
        action: 'run',
        reason: 'retry 2 of the failed backup (dump failed)',
        slot: { start: { trigger: 'schedule', scheduledFor: at('2026-03-02T02:00:00Z') }, skippedMissed: 0, next: at('2026-03-03T02:00:00Z'), readyReason: 'next run at 2026-03-03T02:00:00.000Z', requeueAfterMs: 60_000 },
      },
    ]);
  });

  it('a due retry waits while a backup is still running, without spinning', () => {
    const p = plan(backup(), seen({ lastScheduled: at('2026-03-02T02:00:00Z'), retry: retry(), running: true }), at('2026-03-02T02:05:00Z'));
    expect(shown(p)).toEqual([['note', 'next run at 2026-03-03T02:00:00.000Z; retry 2 waits for the backup in progress']]);
    expect(slotOf(p)).toMatchObject({ requeueAfterMs: 60_000 });
  });

  it('suspended: neither slots nor retries run', () => {
    const now = at('2026-03-02T02:05:00Z');
    const p = plan(backup({ suspend: true }), seen({ retry: retry() }), now);
    expect(shown(p)).toEqual([['note', 'suspended']]);
    expect(slotOf(p)).toMatchObject({ bookmark: { at: now } });
  });

  it('without a schedule: a note, and nothing to look at again', () => {
    expect(plan(manualOnly(), seen({ lastScheduled: undefined }), at('2026-03-02T02:05:00Z'))).toEqual([
      { type: 'slot', action: 'note', reason: 'no schedule: runs only on `backup run`', slot: { skippedMissed: 0 } },
    ]);
  });

  it('without a schedule, a retry left from when it had one still runs, and a manual run is looked after', () => {
    expect(shown(plan(manualOnly(), seen({ retry: retry() }), at('2026-03-02T02:05:00Z')))).toEqual([['run', 'retry 2 of the failed backup (dump failed)']]);
    expect(slotOf(plan(manualOnly(), seen({ running: true }), at('2026-03-02T02:05:00Z')))).toEqual({ skippedMissed: 0, requeueAfterMs: 60_000 });
  });
});

describe('Backup plan: a backup no longer declared', () => {
  const now = at('2026-03-02T02:05:00Z');

  it('its schedule stops and its backups stay', () => {
    expect(plan(undefined, seen(), now)).toEqual([{ type: 'retire', action: 'remove', reason: 'no longer declared: its schedule stops; existing backups are kept', containers: [] }]);
  });

  it('a leftover helper container goes with it', () => {
    const helper = { id: 'h', name: 'x-backup-helper-1', state: 'exited' };
    expect(shown(plan(undefined, seen({ containers: [helper] }), now))).toEqual([['remove', 'no longer declared: 1 leftover job container(s) removed, existing backups are kept']]);
  });

  it('a backup in progress is waited for', () => {
    expect(plan(undefined, seen({ running: true }), now)).toEqual([
      { type: 'retire', action: 'wait', reason: 'no longer declared; waiting for the backup in progress to finish', containers: [], requeueAfterMs: 30_000 },
    ]);
  });
});
