import { Counter, Gauge, type Registry } from 'prom-client';
import { resourceKey } from '../engine/reconcile.js';
import type { DesiredState } from '../manifests/desired-state.js';
import type { RunHistory } from '../schedule/run-history.js';
import type { BackupStep } from './pipeline.js';

/** Every step a failure is counted under; each series starts at 0. */
export const FAILURE_STEPS: readonly (BackupStep | 'retention')[] = ['dump', 'upload', 'manifest', 'snapshot', 'retention'];

/**
 * Backup metrics, labelled by Backup name (low cardinality: one series set per declared Backup),
 * every series present from the moment the Backup is declared: size and duration are 0 until the
 * first success. When the last success finished is the job runner's
 * `certitrack_job_last_success_timestamp_seconds{kind="Backup",backup}`, not repeated here.
 * The age gauge is computed at scrape time, so it keeps growing while backups fail or stop; before
 * the first success it counts from when the Backup was declared, so "no backup for 26 hours" also
 * catches one that never succeeded.
 */
const perRegistry = new WeakMap<Registry, BackupMetrics>();

export class BackupMetrics {
  /** One set per registry: a second reconciler on the same registry (tests, a rebuilt agent) shares it. */
  static for(registry: Registry, now: () => Date): BackupMetrics {
    let m = perRegistry.get(registry);
    if (!m) perRegistry.set(registry, (m = new BackupMetrics(registry, now)));
    return m;
  }

  readonly size: Gauge<'backup'>;
  readonly duration: Gauge<'backup'>;
  readonly failures: Counter<'backup' | 'step'>;
  /** Per backup: when the last success finished, or when it was declared if none has (ms). */
  private readonly ageFrom = new Map<string, number>();
  private readonly succeededOnce = new Set<string>();

  private constructor(registry: Registry, now: () => Date) {
    const registers = [registry];
    this.size = new Gauge({ name: 'certitrack_backup_size_bytes', help: 'Stored size of the last successful backup.', labelNames: ['backup'], registers });
    this.duration = new Gauge({ name: 'certitrack_backup_duration_seconds', help: 'How long the last successful backup took.', labelNames: ['backup'], registers });
    this.failures = new Counter({
      name: 'certitrack_backup_failures_total',
      help: 'Failed backup runs by the side that failed first (dump: the source, upload: the destination, manifest, snapshot), and failed retention passes.',
      labelNames: ['backup', 'step'],
      registers,
    });
    const ages = this.ageFrom;
    new Gauge({
      name: 'certitrack_backup_age_seconds',
      help: 'Seconds since the last successful backup finished (since the Backup was declared, before a first success); alert when it exceeds the schedule interval by a margin.',
      labelNames: ['backup'],
      registers,
      collect() {
        this.reset();
        const t = now().getTime();
        for (const [backup, at] of ages) this.set({ backup }, Math.max(0, (t - at) / 1000));
      },
    });
  }

  /** Creates the backup's series; `declaredAt` (first declared, persisted by the caller) starts its age. Idempotent. */
  track(backup: string, declaredAt: Date): void {
    for (const step of FAILURE_STEPS) this.failures.inc({ backup, step }, 0);
    if (this.succeededOnce.has(backup)) return;
    this.ageFrom.set(backup, declaredAt.getTime());
    for (const m of [this.size, this.duration]) m.set({ backup }, 0);
  }

  untrack(backup: string): void {
    this.ageFrom.delete(backup);
    this.succeededOnce.delete(backup);
    for (const m of [this.size, this.duration]) m.remove({ backup });
    for (const step of FAILURE_STEPS) this.failures.remove({ backup, step });
  }

  succeeded(backup: string, finishedAt: Date, bytes: number, durationMs: number): void {
    this.succeededOnce.add(backup);
    this.ageFrom.set(backup, finishedAt.getTime());
    this.size.set({ backup }, bytes);
    this.duration.set({ backup }, durationMs / 1000);
  }

  failed(backup: string, step: BackupStep | 'retention'): void {
    this.failures.inc({ backup, step });
  }
}

/**
 * Seconds since each declared Backup last succeeded, from the persisted run history (so the figure
 * is right straight after an agent restart); Backups that never succeeded are left out. What the
 * host probes publish to CloudWatch as BackupAgeSeconds.
 */
export function backupAgeSamples(desired: DesiredState, history: RunHistory, now: Date): { name: string; value: number }[] {
  return desired.list('Backup').flatMap((b) => {
    const at = history.lastSuccess(resourceKey('Backup', b.name))?.finishedAt;
    return at === undefined ? [] : [{ name: b.name, value: Math.max(0, (now.getTime() - Date.parse(at)) / 1000) }];
  });
}
