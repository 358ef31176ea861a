import type { Logger } from 'pino';
import type { Ec2Snapshots } from '../adapters/ec2-snapshots.js';
import type { BackupSpec } from '../manifests/kinds/backup.js';
import type { Resource } from '../manifests/resource.js';
import type { JobFn, JobResult } from '../schedule/job-runner.js';
import type { RunTrigger } from '../schedule/run-history.js';
import { formatDuration } from '../util/duration.js';
import type { BackupMetrics } from './backup-metrics.js';
import { isSnapshotBackup, retentionPolicyOf } from './backup-spec.js';
import type { DestinationFactory, DestinationOf } from './destination-factory.js';
import { BackupStepError, type BackupStep } from './pipeline.js';
import { pruneBackups } from './prune.js';
import { type BackupOutcome, type BackupProgress, runBackup } from './run-backup.js';
import { prepareSources, type SourceDeps, sourceContextFor } from './sources.js';
import { requireSnapshots, snapshotJob } from './snapshot-job.js';
import type { RunFacts } from './run-state.js';
import { resourceKey } from '../engine/reconcile.js';

export interface BackupJobDeps {
  destinations: DestinationFactory;
  sources: SourceDeps;
  agentVersion: string;
  /** The agent instance, which EBS snapshots are tagged with. */
  instance: string;
  /** Only for Backups with an ebsSnapshot source. */
  snapshots?: Ec2Snapshots;
  /** Counts retention failures, which do not fail the backup. */
  metrics: BackupMetrics;
  scrub: (text: string) => string;
  now: () => Date;
  /** What is known of the Backup's runs (which of its incomplete backups may still be written); none: only timeouts tell. */
  runs?: (key: string) => RunFacts;
}

const NO_RUNS: RunFacts = { running: new Set(), finished: new Set() };

/** One run of a Backup: the job the runner runs, and what the job found out. */
export interface BackupRun {
  readonly fn: JobFn;
  /** The finished object backup; undefined for snapshots and failed runs. */
  outcome(): BackupOutcome | undefined;
  /** The step a failed run failed in. */
  failedStep(): BackupStep;
}

/**
 * A run of the Backup: EBS snapshots, or every source streamed to the destination followed by
 * retention over the Backup's own prefix. Errors leave it scrubbed of secrets, naming their step.
 */
export function backupRun(res: Resource<BackupSpec>, trigger: RunTrigger, deps: BackupJobDeps, log: Logger, onProgress?: (p: BackupProgress) => void): BackupRun {
  let outcome: BackupOutcome | undefined;
  let step: BackupStep = isSnapshotBackup(res.spec) ? 'snapshot' : 'dump';
  const retentionFailed = (message: string): void => {
    deps.metrics.failed(res.name, 'retention');
    log.warn({ err: message }, 'retention skipped: nothing was deleted');
  };
  const fn: JobFn = async (signal, run) => {
    try {
      if (isSnapshotBackup(res.spec)) {
        return await snapshotJob(requireSnapshots(deps.snapshots), { name: res.name, agentInstance: deps.instance, spec: res.spec, now: deps.now, id: run.id, onRetentionFailed: retentionFailed });
      }
      const where = deps.destinations(res);
      const result = await runBackup({
        name: res.name,
        prefix: where.prefix,
        destination: where.destination,
        sources: prepareSources(res.spec, sourceContextFor(deps.sources, res, log)),
        agentVersion: deps.agentVersion,
        now: deps.now,
        signal,
        trigger,
        id: run.id,
        ...(onProgress ? { onProgress } : {}),
      });
      outcome = result;
      return await reportBackup(res, where, result, deps, log, retentionFailed);
    } catch (err) {
      if (err instanceof BackupStepError) step = err.step;
      const message = deps.scrub((err as Error).message);
      log.error({ backupId: run.id, step, err: message }, `backup ${run.id} failed (${step})`);
      throw new Error(message, { cause: err });
    }
  };
  return { fn, outcome: () => outcome, failedStep: () => step };
}

/** The run's summary, after retention; a failed retention is reported but does not fail the backup. */
async function reportBackup(
  res: Resource<BackupSpec>,
  where: DestinationOf,
  result: BackupOutcome,
  deps: BackupJobDeps,
  log: Logger,
  retentionFailed: (message: string) => void,
): Promise<JobResult> {
  const lines = [
    `backup ${result.id}: ${result.manifest.objects.length} object(s), ${result.bytes} bytes in ${formatDuration(result.durationMs)} to ${where.destination.description}`,
    ...result.manifest.objects.flatMap((o) => o.warnings.map((w) => `warning (${o.name}): ${w}`)),
  ];
  let retention: { line: string; details: Record<string, unknown> };
  try {
    const runs = deps.runs?.(resourceKey('Backup', res.name)) ?? NO_RUNS;
    const out = await pruneBackups(where.destination, {
      prefix: where.prefix,
      name: res.name,
      policy: retentionPolicyOf(res.spec),
      timeZone: res.spec.timeZone,
      now: deps.now(),
      justCompleted: result.id,
      runs,
      timeoutMs: res.spec.timeout,
    });
    if (out.deleted.length > 0) log.info({ deleted: out.deleted }, 'retention removed old backups');
    const future = out.decision.future.map((f) => f.id);
    if (future.length > 0) log.warn({ future }, 'backups dated in the future: not counted by retention, refused by restore, not deleted (check the clock, or remove them)');
    retention = {
      line: `retention: kept ${out.decision.keep.length}, deleted ${out.deleted.length}${out.deleted.length ? ` (${out.deleted.join(', ')})` : ''}${future.length ? `, flagged ${future.length} dated in the future (${future.join(', ')})` : ''}`,
      details: { kept: out.decision.keep.length, deleted: out.deleted, ...(future.length ? { future } : {}) },
    };
  } catch (err) {
    const msg = deps.scrub((err as Error).message);
    retentionFailed(msg);
    retention = { line: `retention skipped, nothing deleted: ${msg}`, details: { error: msg } };
  }
  return {
    exitCode: 0,
    outputTail: [...lines, retention.line].join('\n'),
    details: { backupId: result.id, bytes: result.bytes, durationMs: result.durationMs, objects: result.manifest.objects.length, retention: retention.details },
  };
}
