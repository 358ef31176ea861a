import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DockerClients } from '../../adapters/docker/index.js';
import type { Ec2Snapshots } from '../../adapters/ec2-snapshots.js';
import { type BackupJobDeps, type BackupRun, backupRun } from '../../backup/backup-job.js';
import { BackupMetrics } from '../../backup/backup-metrics.js';
import { isSnapshotBackup } from '../../backup/backup-spec.js';
import type { DestinationFactory } from '../../backup/destination-factory.js';
import { DEFAULT_RETRY_POLICY, nextRetry, RetryBook, type RetryPolicy } from '../../backup/retry.js';
import type { BackupOutcome, BackupProgress } from '../../backup/run-backup.js';
import { type AgentEvent, type ApplyContext, type ObserveContext, type ReconcileResult, type Reconciler, resourceKey } from '../../engine/reconcile.js';
import { secretScrubber } from '../../log.js';
import type { DesiredState } from '../../manifests/desired-state.js';
import type { BackupSpec } from '../../manifests/kinds/backup.js';
import type { Resource } from '../../manifests/resource.js';
import type { SecretSource } from '../../manifests/secrets.js';
import { scheduleId, type SlotStep } from '../../schedule/job-plan.js';
import type { JobRunner } from '../../schedule/job-runner.js';
import type { RunHistory, RunRecord, RunTrigger } from '../../schedule/run-history.js';
import { type JobContext, type JobRun, type ScheduledJob, ScheduledJobs } from '../../schedule/scheduled-jobs.js';
import type { DurableState } from '../../state/durable-state.js';
import type { StatusBoard } from '../../state/status-board.js';
import { formatDuration } from '../../util/duration.js';
import { runFactsOf } from '../../backup/run-state.js';
import { Ownership } from '../ownership.js';
import { type BackupAction, type BackupObservation, plan } from './plan.js';

const KIND = 'Backup';
/** DurableState section: when each Backup was first declared, where its age counts from before a first success. */
const DECLARED_SECTION = 'backupDeclared';

export interface BackupReconcilerOptions {
  instance: string;
  secrets: SecretSource;
  /** Where the pending retries are kept. */
  state: DurableState;
  agentVersion: string;
  /** An image on the engine for the containers volumes are read through (CERTITRACK_HELPER_IMAGE); unset: chosen among those present. */
  helperImage?: string;
  /** The destination factory main.ts builds from the AWS context. */
  destinations: DestinationFactory;
  /** Needed only by Backups with an ebsSnapshot source; built from IMDSv2's instance id and region. */
  snapshots?: Ec2Snapshots;
  /** The delay after a failed scheduled backup (1 min doubling to 1 h by default). */
  retry?: RetryPolicy;
  now?: () => Date;
}

export interface ManualRunResult {
  record: RunRecord;
  outcome?: BackupOutcome;
}

/**
 * Runs Backups through the scheduled-job skeleton: at each due slot (or on `backup run`) the backup
 * runs in the background, and the key is looked at again at the next slot or retry. After a
 * successful backup, retention prunes the Backup's own prefix; a failed scheduled backup is retried
 * with a doubling delay until it succeeds or the next slot comes, and previous backups are never
 * touched by a failure. A Backup removed from the manifests keeps its backups: they are data, not
 * the agent's to drop. Listing, verifying and restoring are the BackupCatalog's.
 */
export class BackupReconciler implements Reconciler<'Backup', BackupObservation, BackupAction> {
  readonly kind = KIND;
  private readonly now: () => Date;
  private readonly metrics: BackupMetrics;
  private readonly retries: RetryBook;
  private readonly jobs: ScheduledJobs<'Backup'>;
  private readonly jobDeps: BackupJobDeps;

  constructor(
    docker: DockerClients,
    private readonly history: RunHistory,
    private readonly runner: JobRunner,
    registry: Registry,
    private readonly opts: BackupReconcilerOptions,
  ) {
    const own = new Ownership(opts.instance);
    const scrub = secretScrubber(() => opts.secrets.values());
    this.now = opts.now ?? (() => new Date());
    this.metrics = BackupMetrics.for(registry, this.now);
    this.retries = new RetryBook(opts.state);
    this.jobs = new ScheduledJobs(KIND, { history, runner, containers: docker.containers, own, scrub });
    this.jobDeps = {
      destinations: opts.destinations,
      sources: { docker, own, secrets: opts.secrets, ...(opts.helperImage ? { helperImage: opts.helperImage } : {}) },
      agentVersion: opts.agentVersion,
      instance: opts.instance,
      ...(opts.snapshots ? { snapshots: opts.snapshots } : {}),
      metrics: this.metrics,
      scrub,
      now: this.now,
      runs: (key) => runFactsOf(history.list(key), runner.runningRecords(key).map((r) => r.id)),
    };
  }

  async listOwned(): Promise<string[]> {
    // A declaration mark counts too, so a Backup removed while the agent was down is cleaned up.
    const marked = [...this.retries.keys(), ...this.opts.state.entries(DECLARED_SECTION).map(([key]) => key)];
    const names = marked.flatMap((key) => (key.startsWith(`${KIND}/`) ? [key.slice(KIND.length + 1)] : []));
    return [...new Set([...this.jobs.bookmarkedNames(), ...names])];
  }

  /** Reads the bookmark, the pending retry and whether a backup runs; leftover containers only of a Backup no longer declared. */
  async observe(name: string, ctx: ObserveContext): Promise<BackupObservation> {
    const res = ctx.desired.get(KIND, name);
    const schedule = res?.spec.schedule;
    const job = await this.jobs.observe(name, { ...(schedule && res ? { scheduleId: scheduleId({ schedule, timeZone: res.spec.timeZone }) } : {}), containers: !res });
    const retry = this.retries.get(resourceKey(KIND, name));
    return { ...job, ...(retry ? { retry } : {}) };
  }

  plan(desired: Resource<BackupSpec> | undefined, observed: BackupObservation, now: Date): BackupAction[] {
    return plan(desired, observed, now);
  }

  async apply(actions: readonly BackupAction[], ctx: ApplyContext<BackupObservation>): Promise<ReconcileResult> {
    let result: ReconcileResult = {};
    for (const a of actions) {
      if (a.type === 'retire') {
        const retired = await this.jobs.retire(ctx.key, a, ctx);
        if (retired.done) {
          this.retries.clear(ctx.key);
          this.metrics.untrack(ctx.name);
          this.opts.state.delete(DECLARED_SECTION, ctx.key);
        }
        result = retired.result;
        continue;
      }
      const res = this.jobs.declared(ctx.desired, ctx.name);
      this.track(res);
      if (a.clearsRetry) this.retries.clear(ctx.key);
      result = this.jobs.applySlot(this.jobOf(res), a, (trigger) => this.newRun(res, trigger, ctx.log), ctx);
    }
    return result;
  }

  mapEvent(event: AgentEvent): string[] {
    return this.jobs.mapEvent(event);
  }

  /**
   * Runs the backup now (trigger "manual") under its concurrencyPolicy and timeout, and resolves
   * with the finished run. Throws if the Backup is not declared or a run is already in progress
   * under Forbid. A failed manual run is reported, not retried.
   */
  async runNow(name: string, desired: DesiredState, ctx: JobContext, onProgress?: (p: BackupProgress) => void): Promise<ManualRunResult> {
    const res = this.jobs.declared(desired, name);
    this.track(res);
    const run = this.newRun(res, 'manual', ctx.log, onProgress);
    const record = await this.jobs.runNow(this.jobOf(res), run, ctx);
    const outcome = run.outcome();
    return { record, ...(outcome ? { outcome } : {}) };
  }

  /** The metric series, with the last success brought back from the run history after a restart. */
  private track(res: Resource<BackupSpec>): void {
    const key = resourceKey(KIND, res.name);
    this.metrics.track(res.name, this.declaredAt(key));
    const ok = this.history.lastSuccess(key);
    if (ok?.finishedAt) this.succeeded(res.name, ok);
  }

  /** When the Backup was first declared here, recorded the first time it is asked. */
  private declaredAt(key: string): Date {
    const at = this.opts.state.get<string>(DECLARED_SECTION, key);
    if (at) return new Date(at);
    const now = this.now();
    this.opts.state.set(DECLARED_SECTION, key, now.toISOString());
    return now;
  }

  private succeeded(name: string, record: RunRecord): void {
    const d = record.details ?? {};
    const finishedAt = record.finishedAt ?? this.now().toISOString();
    this.metrics.succeeded(name, new Date(finishedAt), Number(d.bytes ?? 0), Number(d.durationMs ?? Date.parse(finishedAt) - Date.parse(record.startedAt)));
  }

  private jobOf(res: Resource<BackupSpec>): ScheduledJob {
    const key = resourceKey(KIND, res.name);
    return { key, spec: res.spec, report: (status, slot) => this.report(status, key, res, slot) };
  }

  private newRun(res: Resource<BackupSpec>, trigger: RunTrigger, log: Logger, onProgress?: (p: BackupProgress) => void): JobRun & Pick<BackupRun, 'outcome'> {
    const run = backupRun(res, trigger, this.jobDeps, log, onProgress);
    return { fn: run.fn, outcome: run.outcome, recorded: (record) => this.recorded(res, trigger, run, record, log) };
  }

  /** Metrics and the retry state once a run is recorded: a success ends any retry, a failed scheduled run schedules the next. */
  private recorded(res: Resource<BackupSpec>, trigger: RunTrigger, run: BackupRun, record: RunRecord, log: Logger): void {
    const key = resourceKey(KIND, res.name);
    if (record.succeeded) {
      this.succeeded(res.name, record);
      this.retries.clear(key);
      return;
    }
    const step = run.failedStep();
    this.metrics.failed(res.name, step);
    // The run has logged its error (backup-job.ts); a manual run is reported to whoever asked, not retried.
    if (trigger === 'manual') return;
    const now = this.now();
    const scheduledFor = record.scheduledFor ? new Date(record.scheduledFor) : undefined;
    const retry = nextRetry(this.retries.get(key), { step, error: record.outputTail, ...(scheduledFor ? { scheduledFor } : {}) }, now, this.opts.retry ?? DEFAULT_RETRY_POLICY);
    this.retries.set(key, retry);
    log.warn({ backupId: record.id, step, attempt: retry.attempt, retryIn: formatDuration(Date.parse(retry.nextAt) - now.getTime()) }, 'backup failed and will be retried; previous backups are untouched');
  }

  private report(status: StatusBoard, key: string, res: Resource<BackupSpec>, slot?: SlotStep): void {
    const spec = res.spec;
    if (!spec.schedule) status.setCondition(key, 'Ready', 'True', 'Manual', 'no schedule: runs on `certitrack-agent backup run`');
    else if (slot?.readyReason !== undefined) status.setCondition(key, 'Ready', 'True', spec.suspend ? 'Suspended' : 'Scheduled', slot.readyReason);
    const last = this.history.lastFinished(key);
    const ok = this.history.lastSuccess(key);
    const retry = this.retries.get(key);
    if (last) {
      status.setCondition(key, 'LastBackupSucceeded', last.succeeded ? 'True' : 'False', last.succeeded ? 'Succeeded' : 'Failed', last.succeeded ? '' : oneLine(last.outputTail));
    }
    status.setDetails(key, {
      schedule: spec.schedule,
      timeZone: spec.timeZone,
      suspended: spec.suspend,
      destination: this.destinationText(res),
      ...(slot?.next ? { nextRun: slot.next.toISOString() } : {}),
      running: this.runner.runningRecords(key).map((r) => ({ id: r.id, trigger: r.trigger, startedAt: r.startedAt })),
      lastRun: last ? { id: last.id, trigger: last.trigger, startedAt: last.startedAt, finishedAt: last.finishedAt, succeeded: last.succeeded, summary: lastLine(last.outputTail) } : undefined,
      lastSuccess: ok ? { finishedAt: ok.finishedAt, backupId: ok.details?.backupId, bytes: ok.details?.bytes } : undefined,
      retry: retry ? { attempt: retry.attempt, nextAt: retry.nextAt, step: retry.step } : undefined,
    });
  }

  private destinationText(res: Resource<BackupSpec>): string {
    if (isSnapshotBackup(res.spec)) return 'ec2-snapshots';
    const { destination, prefix } = this.opts.destinations(res);
    return `${destination.description}${prefix ? `/${prefix}` : ''}`;
  }
}


/** A failure's message starts with the failed step; keep it whole, on one line. */
function oneLine(text: string): string {
  return text.trim().split('\n').join(' | ').slice(0, 500);
}

function lastLine(text: string): string {
  return (text.trim().split('\n').pop() ?? '').slice(0, 300);
}
