import type { Ec2Snapshots } from '../adapters/ec2-snapshots.js';
import type { BackupSpec } from '../manifests/kinds/backup.js';
import type { JobResult } from '../schedule/job-runner.js';
import { retentionPolicyOf } from './backup-spec.js';
import { applySnapshotRetention, takeSnapshots } from './ebs-snapshots.js';
import { BackupStepError } from './pipeline.js';

export interface SnapshotJobOptions {
  name: string;
  /** The agent instance the snapshots are tagged with; retention only ever sees its own. */
  agentInstance: string;
  spec: BackupSpec;
  now: () => Date;
  /** The run's id, which the snapshots are tagged with. */
  id?: string;
  /** Told when retention failed: nothing was deleted, and the backup still counts. */
  onRetentionFailed: (message: string) => void;
}

/** The EC2 client a snapshot Backup needs, or the reason there is none (the AWS context is off). */
export function requireSnapshots(snapshots: Ec2Snapshots | undefined): Ec2Snapshots {
  if (!snapshots) throw new BackupStepError('snapshot', 'EBS snapshots need the AWS context (instance id and region from IMDSv2), which is not available');
  return snapshots;
}

/**
 * One run of an `ebsSnapshot` Backup: a snapshot of each volume, then retention over the snapshot
 * groups. The details carry bytes (0: EC2 does not say) and duration like an object backup's, so
 * the backup metrics are filled the same way.
 */
export async function snapshotJob(ec2: Ec2Snapshots, opts: SnapshotJobOptions): Promise<JobResult> {
  const src = opts.spec.sources[0];
  const volumes = src && 'ebsSnapshot' in src ? src.ebsSnapshot.volumes : 'auto';
  const started = opts.now();
  const run = await takeSnapshots(ec2, { name: opts.name, agentInstance: opts.agentInstance, volumes, now: started, ...(opts.id ? { id: opts.id } : {}) });
  let retention: string;
  let deleted: string[] = [];
  try {
    const out = await applySnapshotRetention(ec2, { name: opts.name, agentInstance: opts.agentInstance, policy: retentionPolicyOf(opts.spec), timeZone: opts.spec.timeZone, now: opts.now() });
    deleted = out.deleted;
    retention = `retention: deleted ${deleted.length} snapshot(s)`;
  } catch (err) {
    opts.onRetentionFailed((err as Error).message);
    retention = `retention skipped, nothing deleted: ${(err as Error).message}`;
  }
  const snaps = run.snapshots.map((s) => `${s.snapshotId} (${s.volumeId})`).join(', ');
  return {
    exitCode: 0,
    outputTail: `backup ${run.id}: snapshots ${snaps}\n${retention}`,
    details: { backupId: run.id, snapshots: run.snapshots, deletedSnapshots: deleted, bytes: 0, durationMs: opts.now().getTime() - started.getTime() },
  };
}
