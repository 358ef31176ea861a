import { LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../adapters/docker-types.js';
import { type Ec2Snapshots, type SnapshotInfo, TAG_BACKUP, TAG_BACKUP_ID, TAG_INSTANCE } from '../adapters/ec2-snapshots.js';
import { newBackupId } from './backup-descriptor.js';
import { BackupStepError } from './pipeline.js';
import { applyRetention, type RetentionCandidate, type RetentionPolicy, type RetentionResult } from './retention.js';

/** How many snapshots one run took: a group with fewer (a failed run) never counts as complete. */
export const TAG_VOLUME_COUNT = 'io.certitrack.backup-volumes';

export interface SnapshotRun {
  id: string;
  snapshots: { volumeId: string; snapshotId: string }[];
}

/**
 * The seed's weekly "full system backup": one CreateSnapshot per volume, all tagged with the backup
 * name and one backup id, so retention can treat the set as one backup. EBS snapshots are
 * crash-consistent per volume; they complete in the background (state pending → completed).
 */
export async function takeSnapshots(
  ec2: Ec2Snapshots,
  opts: { name: string; agentInstance: string; volumes: 'auto' | string[]; now: Date; id?: string },
): Promise<SnapshotRun> {
  const volumes = opts.volumes === 'auto' ? await ec2.attachedVolumes() : opts.volumes;
  if (volumes.length === 0) throw new BackupStepError('snapshot', `no EBS volumes attached to ${ec2.instance.instanceId}`);
  const id = opts.id ?? newBackupId(opts.now);
  const snapshots: SnapshotRun['snapshots'] = [];
  for (const volumeId of volumes) {
    try {
      const snapshotId = await ec2.create(volumeId, `certitrack-agent backup ${opts.name} ${id} of ${volumeId}`, {
        Name: `${opts.name}-${id}`,
        [TAG_BACKUP]: opts.name,
        [TAG_BACKUP_ID]: id,
        [TAG_INSTANCE]: opts.agentInstance,
        [TAG_VOLUME_COUNT]: String(volumes.length),
      });
      snapshots.push({ volumeId, snapshotId });
    } catch (err) {
      throw new BackupStepError('snapshot', (err as Error).message, { cause: err });
    }
  }
  return { id, snapshots };
}

export interface SnapshotGroup {
  id: string;
  time: Date;
  snapshots: SnapshotInfo[];
  state: 'complete' | 'pending' | 'incomplete';
}

export function groupSnapshots(list: readonly SnapshotInfo[]): SnapshotGroup[] {
  const byId = new Map<string, SnapshotInfo[]>();
  for (const s of list) {
    const id = s.tags[TAG_BACKUP_ID];
    if (!id) continue;
    byId.set(id, [...(byId.get(id) ?? []), s]);
  }
  return [...byId.entries()].map(([id, snaps]) => {
    const expected = Number(snaps[0]?.tags[TAG_VOLUME_COUNT] ?? snaps.length);
    const time = new Date(Math.min(...snaps.map((s) => s.startTime.getTime())));
    const state = snaps.some((s) => s.state === 'pending')
      ? 'pending'
      : snaps.length === expected && snaps.every((s) => s.state === 'completed')
        ? 'complete'
        : 'incomplete';
    return { id, time, snapshots: snaps, state };
  });
}

export interface SnapshotRetentionOutcome {
  decision: RetentionResult;
  deleted: string[];
}

/**
 * Retention over snapshot groups with the same policy function as object backups. Groups still
 * pending are neither counted nor touched; failed groups (an error state or a missing volume) are
 * removed once a day old. Only snapshots carrying the agent's tag are listed, and the adapter
 * refuses to delete any other. A failed listing throws before anything is deleted.
 */
export async function applySnapshotRetention(
  ec2: Ec2Snapshots,
  opts: { name: string; agentInstance: string; policy: RetentionPolicy; timeZone: string; now: Date },
): Promise<SnapshotRetentionOutcome> {
  const listed = await ec2.list({ [TAG_BACKUP]: opts.name, [TAG_INSTANCE]: opts.agentInstance });
  // The listing is filtered by tag already; this keeps a misbehaving filter from putting anyone else's snapshot up for deletion.
  const groups = groupSnapshots(listed.filter((s) => s.tags[LABEL_MANAGED_BY] === MANAGED_BY_VALUE));
  const candidates: RetentionCandidate[] = groups.filter((g) => g.state !== 'pending').map((g) => ({ id: g.id, time: g.time, complete: g.state === 'complete' }));
  const decision = applyRetention(candidates, opts.policy, { timeZone: opts.timeZone, now: opts.now });
  const doomed = new Set([...decision.remove, ...decision.cleanup].map((d) => d.id));
  const deleted: string[] = [];
  for (const g of groups) {
    if (!doomed.has(g.id)) continue;
    for (const s of g.snapshots) {
      await ec2.delete(s);
      deleted.push(s.id);
    }
  }
  return { decision, deleted };
}
