import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { S3Client } from '@aws-sdk/client-s3';
import { LABEL_JOB } from '../adapters/docker-types.js';
import type { DockerClients } from '../adapters/docker/index.js';
import type { Ec2Snapshots } from '../adapters/ec2-snapshots.js';
import { LocalDestination } from '../adapters/local-destination.js';
import { createS3Client, S3Destination } from '../adapters/s3-destination.js';
import { BackupMetrics } from '../backup/backup-metrics.js';
import { type BackupEntry, listBackups } from '../backup/catalog.js';
import type { BackupDestination } from '../backup/destination.js';
import { applySnapshotRetention, groupSnapshots, takeSnapshots } from '../backup/ebs-snapshots.js';
import { TAG_BACKUP, TAG_INSTANCE } from '../adapters/ec2-snapshots.js';
import { BackupStepError, type BackupStep } from '../backup/pipeline.js';
import { pruneBackups } from '../backup/prune.js';
import { restoreBackup, type RestoreResult, verifyBackup, type VerifyResult } from '../backup/restore.js';
import { applyRetention, type RetentionDecision, type RetentionPolicy } from '../backup/retention.js';
import { type BackupOutcome, type BackupProgress, runBackup } from '../backup/run-backup.js';
import { hostPath, prepareSources, type SourceContext } from '../backup/sources.js';
import { secretScrubber } from '../log.js';
import type { DesiredState } from '../manifests/desired-state.js';
import type { BackupSpec } from '../manifests/kinds/backup.js';
import { scheduleTiming } from '../manifests/kinds/schedule-fields.js';
import type { Resource } from '../manifests/resource.js';
import type { SecretSource } from '../manifests/secrets.js';
import { scheduleDecision, type ScheduleDecision } from '../schedule/decision.js';
import type { JobFn, JobRunner } from '../schedule/job-runner.js';
import type { RunHistory, RunRecord, RunTrigger } from '../schedule/run-history.js';
import type { DurableState } from '../state/durable-state.js';
import type { StatusBoard } from '../state/status-board.js';
import { formatDuration } from '../util/duration.js';
import { Ownership } from './ownership.js';
import { resourceKey, type PlannedAction, type ReconcileContext, type ReconcileResult, type LegacyReconciler } from './types.js';
import { exponentialBackoffMs } from '../util/exponential-backoff.js';

const KIND = 'Backup';
/** DurableState section: the pending retry of a failed scheduled backup, per resource key. */
const RETRY_SECTION = 'backupRetry';
/** DurableState section: when each Backup was first declared, where its age counts from before a first success. */
const DECLARED_SECTION = 'backupDeclared';
/** Look again at least this often (wall-clock jumps, a run in progress finishing). */
const MAX_REQUEUE_MS = 3_600_000;
const RUNNING_REQUEUE_MS = 60_000;
const REQUEUE_SLACK_MS = 250;

interface RetryState {
  attempt: number;
  nextAt: string;
  /** The slot the failed run was for. */
  slot?: string;
  step: string;
  error: string;
}

export interface BackupReconcilerOptions {
  instance: string;
  secrets: SecretSource;
  state: DurableState;
  agentVersion: string;
  /** Where a Backup without a destination stores its backups (the embedded default). */
  localDir: string;
  /** Image with sh, tar and sleep for volume sources (busybox). */
  helperImage?: string;
  /** Needed only by Backups with an ebsSnapshot source; built from IMDSv2's instance id and region. */
  snapshots?: Ec2Snapshots;
  /** Tells the engine to reconcile `key` again (Controller.enqueue) when a background run ends. */
  onRunFinished?: (key: string) => void;
  /** Overrides how a spec's destination is built (tests wrap the real one to inject faults). */
  destinationFor?: (res: Resource<BackupSpec>) => { destination: BackupDestination; prefix: string };
  /** First retry delay after a failed scheduled backup; doubles up to retryMaxMs. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  now?: () => Date;
  log?: Logger;
}

/** The options both the agent and the CLI's backup tooling derive from the agent's configuration. */
export function backupOptionsFrom(
  config: { instance: string; stateDir: string; helperImage: string },
  deps: { secrets: SecretSource; state: DurableState; agentVersion: string; log?: Logger },
): BackupReconcilerOptions {
  return {
    instance: config.instance,
    secrets: deps.secrets,
    state: deps.state,
    agentVersion: deps.agentVersion,
    // Backups without a destination live under the agent's state dir.
    localDir: join(config.stateDir, 'backups'),
    helperImage: config.helperImage,
    ...(deps.log ? { log: deps.log } : {}),
  };
}

/** A row of `backup list`: a backup and what the retention policy would do with it now. */
export interface BackupListing {
  destination: string;
  backups: (BackupEntry & { verdict: 'keep' | 'remove' | 'cleanup' | 'pending'; reasons: string[] })[];
}

export interface ManualRunResult {
  record: RunRecord;
  outcome?: BackupOutcome;
}

/**
 * Runs Backups: at each due slot (or on `backup run`) the backup runs in the background through the
 * JobRunner (so the work queue stays free) and reconcile asks to be looked at again at the next slot
 * or retry. After a successful backup, retention prunes the Backup's own prefix; a failed backup is
 * retried with a doubling delay (1 min up to 1 h by default) until it succeeds or the next slot
 * comes, and previous backups are never touched by a failure. A Backup removed from the manifests
 * keeps its backups: they are data, not the agent's to drop.
 */
export class BackupReconciler implements LegacyReconciler {
  readonly kind = KIND;
  private readonly own: Ownership;
  private readonly scrub: (text: string) => string;
  private readonly now: () => Date;
  private readonly metrics: BackupMetrics;
  private readonly s3Clients = new Map<string, S3Client>();
  private readonly progressListeners = new Map<string, (p: BackupProgress) => void>();
  private status: StatusBoard | undefined;

  constructor(
    private readonly docker: DockerClients,
    private readonly history: RunHistory,
    private readonly runner: JobRunner,
    registry: Registry,
    private readonly opts: BackupReconcilerOptions,
  ) {
    this.own = new Ownership(opts.instance);
    this.scrub = secretScrubber(() => opts.secrets.values());
    this.now = opts.now ?? (() => new Date());
    this.metrics = BackupMetrics.for(registry, this.now);
  }

  async listOwned(): Promise<string[]> {
    const names = new Set<string>();
    for (const [key] of this.history.bookmarks()) if (key.startsWith(`${KIND}/`)) names.add(key.slice(KIND.length + 1));
    // A declaration mark too, so a Backup removed while the agent was down is cleaned up.
    for (const section of [RETRY_SECTION, DECLARED_SECTION]) for (const [key] of this.opts.state.entries(section)) names.add(key.slice(KIND.length + 1));
    return [...names];
  }

  async plan(name: string, ctx: ReconcileContext): Promise<PlannedAction[]> {
    const key = resourceKey(KIND, name);
    const res = ctx.desired.get(KIND, name);
    if (!res) return this.history.getLastScheduled(key) ? [{ kind: KIND, name, action: 'skip', reason: 'no longer declared: its schedule stops; existing backups are kept' }] : [];
    const now = ctx.now();
    const d = this.decide(res, key, now);
    const retry = this.retryOf(key);
    if (d?.action === 'run') return [{ kind: KIND, name, action: 'run', reason: d.reason }];
    if (retry && Date.parse(retry.nextAt) <= now.getTime() && !res.spec.suspend)
      return [{ kind: KIND, name, action: 'run', reason: `retry ${retry.attempt} of the failed backup (${retry.step} failed)` }];
    return [{ kind: KIND, name, action: 'skip', reason: d?.reason ?? 'no schedule: runs only on `backup run`' }];
  }

  async reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const key = resourceKey(KIND, name);
    this.status = ctx.status;
    const res = ctx.desired.get(KIND, name);
    if (!res) return this.removed(key, name, ctx);

    this.history.setLimit(key, res.spec.historyLimit);
    this.runner.track(key);
    this.metrics.track(name, this.declaredAt(key));
    this.restoreMetrics(key, name);

    const now = ctx.now();
    const d = this.decide(res, key, now);
    if (d?.bookmark) this.history.setLastScheduled(key, d.bookmark);
    if (d && d.skippedMissed > 0) ctx.log.warn({ skipped: d.skippedMissed }, 'missed backup slots skipped (runs once after downtime)');
    let retry = this.retryOf(key);
    if (d?.action === 'run') {
      // A new slot supersedes any retry of an older one.
      this.opts.state.delete(RETRY_SECTION, key);
      retry = undefined;
      ctx.log.info({ due: d.due.toISOString(), trigger: d.trigger }, d.reason);
      void this.start(res, d.trigger, d.due, ctx.log);
    } else if (retry && !res.spec.suspend && Date.parse(retry.nextAt) <= now.getTime() && !this.runner.isRunning(key)) {
      ctx.log.info({ attempt: retry.attempt, step: retry.step }, 'retrying the failed backup');
      void this.start(res, 'schedule', retry.slot ? new Date(retry.slot) : undefined, ctx.log);
    }
    this.report(key, res, d?.next, d?.reason);

    const waits: number[] = [MAX_REQUEUE_MS];
    if (d?.next) waits.push(d.next.getTime() - now.getTime() + REQUEUE_SLACK_MS);
    if (retry && !res.spec.suspend) waits.push(Date.parse(retry.nextAt) - now.getTime() + REQUEUE_SLACK_MS);
    if (this.runner.isRunning(key)) waits.push(RUNNING_REQUEUE_MS);
    if (!res.spec.schedule && !retry && !this.runner.isRunning(key)) return {};
    return { requeueAfterMs: Math.max(0, Math.min(...waits)) };
  }

  /**
   * Runs the backup now (trigger "manual") under its concurrencyPolicy and timeout, and resolves
   * with the finished run. Throws if the Backup is not declared or a run is already in progress
   * under Forbid. A failed manual run is reported, not retried.
   */
  async runNow(name: string, desired: DesiredState, onProgress?: (p: BackupProgress) => void): Promise<ManualRunResult> {
    const res = this.declared(name, desired);
    const key = resourceKey(KIND, name);
    this.history.setLimit(key, res.spec.historyLimit);
    this.runner.track(key);
    this.metrics.track(name, this.declaredAt(key));
    if (onProgress) this.progressListeners.set(key, onProgress);
    try {
      const done = await this.start(res, 'manual', undefined, this.opts.log);
      if (!done) throw new Error(`${key} is already running and its concurrencyPolicy is Forbid`);
      return done;
    } finally {
      this.progressListeners.delete(key);
    }
  }

  /** The Backup's backups, newest first, with what retention would do to each now. */
  async list(name: string, desired: DesiredState): Promise<BackupListing> {
    const res = this.declared(name, desired);
    const policy = policyOf(res.spec);
    const now = this.now();
    if (isSnapshotBackup(res.spec)) {
      const ec2 = this.ec2();
      const groups = groupSnapshots(await ec2.list({ [TAG_BACKUP]: name, [TAG_INSTANCE]: this.opts.instance }));
      const entries: BackupEntry[] = groups.map((g) => ({
        id: g.id,
        time: g.time,
        complete: g.state === 'complete',
        objects: g.snapshots.map((s) => ({ key: `${s.id} (${s.volumeId}, ${s.state})`, size: 0, lastModified: s.startTime })),
        bytes: 0,
      }));
      const pending = new Set(groups.filter((g) => g.state === 'pending').map((g) => g.id));
      return { destination: `EC2 snapshots of ${ec2.instance.instanceId}`, backups: withVerdicts(entries, policy, res.spec.timeZone, now, pending) };
    }
    const { destination, prefix } = this.destinationOf(res);
    const entries = await listBackups(destination, prefix, name);
    return { destination: `${destination.description}${prefix ? `/${prefix}` : ''}`, backups: withVerdicts(entries, policy, res.spec.timeZone, now, new Set()) };
  }

  /** Re-reads a backup (the newest complete one when `id` is omitted) and checks every object's size and sha256. */
  async verify(name: string, desired: DesiredState, id?: string): Promise<VerifyResult> {
    const res = this.declared(name, desired);
    if (isSnapshotBackup(res.spec)) throw new Error(`${KIND}/${name} takes EBS snapshots; EC2 checks those itself`);
    const { destination, prefix } = this.destinationOf(res);
    const target = id ?? (await listBackups(destination, prefix, name)).find((b) => b.complete)?.id;
    if (!target) throw new Error(`${KIND}/${name} has no complete backup to verify`);
    return verifyBackup(destination, prefix, name, target);
  }

  /** Restores backup `id` over the live database, directories, volumes and files (after verifying it). */
  async restore(name: string, desired: DesiredState, id: string, onObject?: (name: string, phase: 'start' | 'done', bytes?: number) => void): Promise<RestoreResult> {
    const res = this.declared(name, desired);
    if (isSnapshotBackup(res.spec)) throw new Error(`${KIND}/${name} takes EBS snapshots: restore one by creating a volume from it in EC2`);
    const key = resourceKey(KIND, name);
    if (this.runner.isRunning(key)) throw new Error(`${key} is running a backup now; restore when it has finished`);
    const { destination, prefix } = this.destinationOf(res);
    try {
      return await restoreBackup({ dest: destination, prefix, name, id, spec: res.spec, ctx: this.sourceContext(res, this.opts.log), ...(onObject ? { onObject } : {}) });
    } catch (err) {
      throw new Error(this.scrub((err as Error).message), { cause: err });
    }
  }

  private declared(name: string, desired: DesiredState): Resource<BackupSpec> {
    const res = desired.get(KIND, name);
    if (!res) throw new Error(`${KIND}/${name} is not declared in the manifests`);
    return res;
  }

  private decide(res: Resource<BackupSpec>, key: string, now: Date): ScheduleDecision | undefined {
    const spec = res.spec;
    if (!spec.schedule) return undefined;
    return scheduleDecision(scheduleTiming({ ...spec, schedule: spec.schedule }), spec.suspend, this.history.getLastScheduled(key), now);
  }

  private declaredAt(key: string): Date {
    const at = this.opts.state.get<string>(DECLARED_SECTION, key);
    if (at) return new Date(at);
    const now = this.now();
    this.opts.state.set(DECLARED_SECTION, key, now.toISOString());
    return now;
  }

  private retryOf(key: string): RetryState | undefined {
    return this.opts.state.get<RetryState>(RETRY_SECTION, key);
  }

  /** Starts a run and resolves when it is recorded (undefined when Forbid skipped it); never rejects. */
  private async start(res: Resource<BackupSpec>, trigger: RunTrigger, scheduledFor: Date | undefined, log: Logger | undefined): Promise<ManualRunResult | undefined> {
    const key = resourceKey(KIND, res.name);
    const job = this.jobFor(res, trigger, log);
    let record: RunRecord | undefined;
    try {
      const running = this.runner.run(key, res.spec.concurrencyPolicy, res.spec.timeout, trigger, job.fn, scheduledFor);
      this.report(key, res);
      record = await running;
    } catch (err) {
      // Only a bug lands here (the runner records job failures); keep the schedule going.
      log?.error({ err: this.scrub((err as Error).message) }, 'could not start the backup');
      return undefined;
    }
    if (!record) return undefined;
    const now = this.now();
    if (record.succeeded && job.outcome()) {
      const outcome = job.outcome() as BackupOutcome;
      this.metrics.succeeded(res.name, new Date(record.finishedAt ?? now), outcome.bytes, outcome.durationMs);
      this.opts.state.delete(RETRY_SECTION, key);
    } else if (!record.succeeded) {
      const step = job.step();
      this.metrics.failed(res.name, step);
      if (trigger !== 'manual') {
        const prev = this.retryOf(key);
        const attempt = (prev?.attempt ?? 0) + 1;
        const delay = exponentialBackoffMs(attempt, this.opts.retryBaseMs ?? 60_000, this.opts.retryMaxMs ?? 3_600_000);
        const slot = scheduledFor?.toISOString() ?? prev?.slot;
        this.opts.state.set(RETRY_SECTION, key, {
          attempt,
          nextAt: new Date(now.getTime() + delay).toISOString(),
          ...(slot ? { slot } : {}),
          step,
          error: record.outputTail.slice(-500),
        } satisfies RetryState);
        log?.warn({ step, attempt, retryIn: formatDuration(delay) }, 'backup failed; previous backups are untouched');
      }
    }
    this.report(key, res);
    this.opts.onRunFinished?.(key);
    return { record, ...(job.outcome() ? { outcome: job.outcome() as BackupOutcome } : {}) };
  }

  /** The job, plus what it found out: the outcome on success, the failed step on failure. */
  private jobFor(res: Resource<BackupSpec>, trigger: RunTrigger, log: Logger | undefined): { fn: JobFn; outcome: () => BackupOutcome | undefined; step: () => BackupStep } {
    const key = resourceKey(KIND, res.name);
    let outcome: BackupOutcome | undefined;
    let step: BackupStep = isSnapshotBackup(res.spec) ? 'snapshot' : 'dump';
    const fn: JobFn = async (signal) => {
      try {
        if (isSnapshotBackup(res.spec)) return await this.snapshotJob(res);
        const { destination, prefix } = this.destinationOf(res);
        const result = await runBackup({
          name: res.name,
          prefix,
          destination,
          sources: prepareSources(res.spec, this.sourceContext(res, log)),
          agentVersion: this.opts.agentVersion,
          now: this.now,
          signal,
          trigger,
          onProgress: (p) => this.progressListeners.get(key)?.(p),
        });
        outcome = result;
        const lines = [
          `backup ${result.id}: ${result.manifest.objects.length} object(s), ${result.bytes} bytes in ${formatDuration(result.durationMs)} to ${destination.description}`,
          ...result.manifest.objects.flatMap((o) => o.warnings.map((w) => `warning (${o.name}): ${w}`)),
        ];
        const retention = await this.prune(res, destination, prefix, result.id, log);
        return { exitCode: 0, outputTail: [...lines, retention.line].join('\n'), details: { backupId: result.id, bytes: result.bytes, durationMs: result.durationMs, objects: result.manifest.objects.length, retention: retention.details } };
      } catch (err) {
        if (err instanceof BackupStepError) step = err.step;
        throw new Error(this.scrub((err as Error).message), { cause: err });
      }
    };
    return { fn, outcome: () => outcome, step: () => step };
  }

  /** Retention after a successful backup; its failure is reported but does not fail the backup. */
  private async prune(res: Resource<BackupSpec>, destination: BackupDestination, prefix: string, id: string, log: Logger | undefined): Promise<{ line: string; details: Record<string, unknown> }> {
    try {
      const out = await pruneBackups(destination, { prefix, name: res.name, policy: policyOf(res.spec), timeZone: res.spec.timeZone, now: this.now(), justCompleted: id });
      if (out.deleted.length > 0) log?.info({ deleted: out.deleted }, 'retention removed old backups');
      return { line: `retention: kept ${out.decision.keep.length}, deleted ${out.deleted.length}${out.deleted.length ? ` (${out.deleted.join(', ')})` : ''}`, details: { kept: out.decision.keep.length, deleted: out.deleted } };
    } catch (err) {
      this.metrics.failed(res.name, 'retention');
      const msg = this.scrub((err as Error).message);
      log?.warn({ err: msg }, 'retention skipped: nothing was deleted');
      return { line: `retention skipped, nothing deleted: ${msg}`, details: { error: msg } };
    }
  }

  private async snapshotJob(res: Resource<BackupSpec>): Promise<{ exitCode: number; outputTail: string; details: Record<string, unknown> }> {
    const ec2 = this.ec2();
    const src = res.spec.sources[0];
    const volumes = src && 'ebsSnapshot' in src ? src.ebsSnapshot.volumes : 'auto';
    const started = this.now();
    const run = await takeSnapshots(ec2, { name: res.name, agentInstance: this.opts.instance, volumes, now: started });
    let retention: string;
    let deleted: string[] = [];
    try {
      const out = await applySnapshotRetention(ec2, { name: res.name, agentInstance: this.opts.instance, policy: policyOf(res.spec), timeZone: res.spec.timeZone, now: this.now() });
      deleted = out.deleted;
      retention = `retention: deleted ${deleted.length} snapshot(s)`;
    } catch (err) {
      this.metrics.failed(res.name, 'retention');
      retention = `retention skipped, nothing deleted: ${(err as Error).message}`;
    }
    const snaps = run.snapshots.map((s) => `${s.snapshotId} (${s.volumeId})`).join(', ');
    this.metricsForSnapshot(res.name, started);
    return { exitCode: 0, outputTail: `backup ${run.id}: snapshots ${snaps}\n${retention}`, details: { backupId: run.id, snapshots: run.snapshots, deletedSnapshots: deleted } };
  }

  private metricsForSnapshot(name: string, started: Date): void {
    const now = this.now();
    this.metrics.succeeded(name, now, 0, now.getTime() - started.getTime());
  }

  private ec2(): Ec2Snapshots {
    if (!this.opts.snapshots) throw new BackupStepError('snapshot', 'EBS snapshots need the AWS context (instance id and region from IMDSv2), which is not available');
    return this.opts.snapshots;
  }

  private sourceContext(res: Resource<BackupSpec>, log: Logger | undefined): SourceContext {
    return {
      docker: this.docker,
      own: this.own,
      secrets: this.opts.secrets,
      helperImage: this.opts.helperImage ?? 'busybox:1.36',
      baseDir: res.source.dir,
      jobKey: resourceKey(KIND, res.name),
      ...(log ? { log } : {}),
    };
  }

  private destinationOf(res: Resource<BackupSpec>): { destination: BackupDestination; prefix: string } {
    if (this.opts.destinationFor) return this.opts.destinationFor(res);
    const d = res.spec.destination;
    if (!d) return { destination: new LocalDestination(this.opts.localDir), prefix: '' };
    if ('local' in d) return { destination: new LocalDestination(hostPath(d.local.path, res.source.dir)), prefix: '' };
    const s3 = d.s3;
    const clientKey = `${s3.region ?? ''}|${s3.endpoint ?? ''}|${s3.forcePathStyle}`;
    let client = this.s3Clients.get(clientKey);
    if (!client) {
      client = createS3Client({ ...(s3.region ? { region: s3.region } : {}), ...(s3.endpoint ? { endpoint: s3.endpoint } : {}), forcePathStyle: s3.forcePathStyle });
      this.s3Clients.set(clientKey, client);
    }
    const destination = new S3Destination(
      client,
      { bucket: s3.bucket, serverSideEncryption: s3.serverSideEncryption, ...(s3.kmsKeyId ? { kmsKeyId: s3.kmsKeyId } : {}), ...(s3.storageClass ? { storageClass: s3.storageClass } : {}) },
      (m) => this.opts.log?.warn({ backup: res.name }, m),
    );
    return { destination, prefix: s3.prefix };
  }

  /** After a restart, the last success comes back from the run history so the age metric is right at once. */
  private restoreMetrics(key: string, name: string): void {
    const ok = this.history.lastSuccess(key);
    if (!ok?.finishedAt) return;
    const d = ok.details ?? {};
    this.metrics.succeeded(name, new Date(ok.finishedAt), Number(d.bytes ?? 0), Number(d.durationMs ?? Date.parse(ok.finishedAt) - Date.parse(ok.startedAt)));
  }

  private async removed(key: string, name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    this.history.forgetSchedule(key);
    if (this.runner.isRunning(key)) {
      ctx.status.setCondition(key, 'Ready', 'False', 'Removing', 'no longer declared; waiting for the backup in progress to finish');
      return { requeueAfterMs: RUNNING_REQUEUE_MS };
    }
    this.opts.state.delete(RETRY_SECTION, key);
    for (const c of await this.docker.containers.list(this.own.selector({ [LABEL_JOB]: key }))) await this.docker.containers.remove(c.id);
    this.metrics.untrack(name);
    this.opts.state.delete(DECLARED_SECTION, key);
    this.runner.untrack(key);
    ctx.status.remove(key);
    return {};
  }

  private report(key: string, res: Resource<BackupSpec>, next?: Date, reason?: string): void {
    const status = this.status;
    if (!status) return;
    const spec = res.spec;
    if (reason !== undefined || !spec.schedule) {
      status.setCondition(key, 'Ready', 'True', !spec.schedule ? 'Manual' : spec.suspend ? 'Suspended' : 'Scheduled', reason ?? 'no schedule: runs on `certitrack-agent backup run`');
    }
    const last = this.history.lastFinished(key);
    const ok = this.history.lastSuccess(key);
    const retry = this.retryOf(key);
    if (last) {
      status.setCondition(key, 'LastBackupSucceeded', last.succeeded ? 'True' : 'False', last.succeeded ? 'Succeeded' : 'Failed', last.succeeded ? '' : oneLine(last.outputTail));
    }
    const destination = isSnapshotBackup(spec) ? 'ec2-snapshots' : spec.destination ? ('s3' in spec.destination ? `s3://${spec.destination.s3.bucket}/${spec.destination.s3.prefix}` : spec.destination.local.path) : this.opts.localDir;
    status.setDetails(key, {
      schedule: spec.schedule,
      timeZone: spec.timeZone,
      suspended: spec.suspend,
      destination,
      ...(next ? { nextRun: next.toISOString() } : {}),
      running: this.runner.runningRecords(key).map((r) => ({ id: r.id, trigger: r.trigger, startedAt: r.startedAt })),
      lastRun: last ? { id: last.id, trigger: last.trigger, startedAt: last.startedAt, finishedAt: last.finishedAt, succeeded: last.succeeded, summary: lastLine(last.outputTail) } : undefined,
      lastSuccess: ok ? { finishedAt: ok.finishedAt, backupId: ok.details?.backupId, bytes: ok.details?.bytes } : undefined,
      retry: retry ? { attempt: retry.attempt, nextAt: retry.nextAt, step: retry.step } : undefined,
    });
  }
}

const isSnapshotBackup = (spec: BackupSpec): boolean => spec.sources.some((s) => 'ebsSnapshot' in s);

function policyOf(spec: BackupSpec): RetentionPolicy {
  const r = spec.retention;
  return {
    ...(r.keepLast ? { keepLast: r.keepLast } : {}),
    ...(r.keepHourly ? { keepHourly: r.keepHourly } : {}),
    ...(r.keepDaily ? { keepDaily: r.keepDaily } : {}),
    ...(r.keepWeekly ? { keepWeekly: r.keepWeekly } : {}),
    ...(r.keepMonthly ? { keepMonthly: r.keepMonthly } : {}),
    ...(r.keepYearly ? { keepYearly: r.keepYearly } : {}),
    ...(r.keepWithin ? { keepWithinMs: r.keepWithin } : {}),
  };
}

function withVerdicts(entries: BackupEntry[], policy: RetentionPolicy, timeZone: string, now: Date, pending: Set<string>): BackupListing['backups'] {
  const d = applyRetention(entries.filter((e) => !pending.has(e.id)), policy, { timeZone, now });
  const find = (list: RetentionDecision[], id: string): RetentionDecision | undefined => list.find((x) => x.id === id);
  return entries.map((e) => {
    if (pending.has(e.id)) return { ...e, verdict: 'pending' as const, reasons: [] };
    const keep = find(d.keep, e.id);
    if (keep) return { ...e, verdict: 'keep' as const, reasons: keep.reasons };
    if (find(d.remove, e.id)) return { ...e, verdict: 'remove' as const, reasons: [] };
    if (find(d.cleanup, e.id)) return { ...e, verdict: 'cleanup' as const, reasons: ['incomplete for over a day'] };
    return { ...e, verdict: 'pending' as const, reasons: e.complete ? [] : ['incomplete (may still be running)'] };
  });
}

/** A failure's message starts with the failed step; keep it whole, on one line. */
function oneLine(text: string): string {
  return text.trim().split('\n').join(' | ').slice(0, 500);
}

function lastLine(text: string): string {
  return (text.trim().split('\n').pop() ?? '').slice(0, 300);
}
