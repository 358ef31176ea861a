import type { EC2Client } from '@aws-sdk/client-ec2';

/** The EC2 SDK's commands, loaded on first use: the SDK is the largest the agent has, and only EBS snapshots need it. */
const ec2 = () => import('@aws-sdk/client-ec2');
import { LABEL_MANAGED_BY, MANAGED_BY_VALUE } from './docker-types.js';

export const TAG_BACKUP = 'io.certitrack.backup';
export const TAG_BACKUP_ID = 'io.certitrack.backup-id';
export const TAG_INSTANCE = 'io.certitrack.instance';

export interface SnapshotInfo {
  id: string;
  volumeId: string;
  /** pending, completed, error, recoverable, recovering */
  state: string;
  startTime: Date;
  tags: Record<string, string>;
}

/** Where the snapshots come from; the caller gets it from IMDSv2 (src/aws/imds.ts). */
export interface InstanceRef {
  instanceId: string;
  region: string;
}

/**
 * The EC2 calls EBS-snapshot backups need, and nothing more. Every snapshot it creates carries the
 * agent's managed-by tag, and `delete` refuses any snapshot without it: the agent never removes a
 * snapshot someone else took.
 */
export class Ec2Snapshots {
  constructor(
    private readonly client: EC2Client,
    readonly instance: InstanceRef,
  ) {}

  /** The EBS volumes attached to this instance (what `volumes: auto` means). */
  async attachedVolumes(): Promise<string[]> {
    const ids: string[] = [];
    let token: string | undefined;
    try {
      const { DescribeVolumesCommand } = await ec2();
      do {
        const res = await this.client.send(
          new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [this.instance.instanceId] }], NextToken: token }),
        );
        for (const v of res.Volumes ?? []) if (v.VolumeId) ids.push(v.VolumeId);
        token = res.NextToken;
      } while (token);
    } catch (err) {
      throw new Error(`ec2 describe volumes of ${this.instance.instanceId}: ${(err as Error).message}`, { cause: err });
    }
    return ids.sort();
  }

  async create(volumeId: string, description: string, tags: Record<string, string>): Promise<string> {
    const all = { ...tags, [LABEL_MANAGED_BY]: MANAGED_BY_VALUE };
    try {
      const { CreateSnapshotCommand } = await ec2();
      const res = await this.client.send(
        new CreateSnapshotCommand({
          VolumeId: volumeId,
          Description: description,
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: Object.entries(all).map(([Key, Value]) => ({ Key, Value })) }],
        }),
      );
      if (!res.SnapshotId) throw new Error('no snapshot id in the response');
      return res.SnapshotId;
    } catch (err) {
      throw new Error(`ec2 create snapshot of ${volumeId}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Every snapshot owned by this account carrying all of `tags` (plus the managed-by tag); throws rather than returning part of the list. */
  async list(tags: Record<string, string>): Promise<SnapshotInfo[]> {
    const filters = Object.entries({ ...tags, [LABEL_MANAGED_BY]: MANAGED_BY_VALUE }).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] }));
    const out: SnapshotInfo[] = [];
    let token: string | undefined;
    try {
      const { DescribeSnapshotsCommand } = await ec2();
      do {
        const res = await this.client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filters, NextToken: token }));
        for (const s of res.Snapshots ?? []) {
          if (!s.SnapshotId) continue;
          out.push({
            id: s.SnapshotId,
            volumeId: s.VolumeId ?? '',
            state: s.State ?? 'unknown',
            startTime: s.StartTime ?? new Date(0),
            tags: Object.fromEntries((s.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
          });
        }
        token = res.NextToken;
      } while (token);
    } catch (err) {
      throw new Error(`ec2 describe snapshots: ${(err as Error).message}`, { cause: err });
    }
    return out;
  }

  /** Deletes a snapshot the agent created; one that is already gone is success. */
  async delete(snapshot: SnapshotInfo): Promise<void> {
    if (snapshot.tags[LABEL_MANAGED_BY] !== MANAGED_BY_VALUE) {
      throw new Error(`refusing to delete ${snapshot.id}: it does not carry ${LABEL_MANAGED_BY}=${MANAGED_BY_VALUE}`);
    }
    try {
      const { DeleteSnapshotCommand } = await ec2();
      await this.client.send(new DeleteSnapshotCommand({ SnapshotId: snapshot.id }));
    } catch (err) {
      if ((err as { name?: string }).name === 'InvalidSnapshot.NotFound') return;
      throw new Error(`ec2 delete snapshot ${snapshot.id}: ${(err as Error).message}`, { cause: err });
    }
  }
}
