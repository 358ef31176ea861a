import { CreateSnapshotCommand, DeleteSnapshotCommand, DescribeSnapshotsCommand, DescribeVolumesCommand, EC2Client, type Snapshot } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { Ec2Snapshots } from '../../src/adapters/ec2-snapshots.js';
import { applySnapshotRetention, takeSnapshots } from '../../src/backup/ebs-snapshots.js';

const ec2 = mockClient(EC2Client);
afterEach(() => ec2.reset());

const adapter = (): Ec2Snapshots => new Ec2Snapshots(new EC2Client({ region: 'eu-west-1' }), { instanceId: 'i-0abc', region: 'eu-west-1' });
const tags = (id: string, count = 1, managed = true) => [
  ...(managed ? [{ Key: 'io.certitrack.managed-by', Value: 'certitrack-agent' }] : []),
  { Key: 'io.certitrack.backup', Value: 'full' },
  { Key: 'io.certitrack.instance', Value: 'certitrack' },
  { Key: 'io.certitrack.backup-id', Value: id },
  { Key: 'io.certitrack.backup-volumes', Value: String(count) },
];
const snap = (SnapshotId: string, id: string, StartTime: string, State = 'completed', count = 1, managed = true): Snapshot => ({
  SnapshotId,
  VolumeId: 'vol-0123456789abcdef0',
  State: State as Snapshot['State'],
  StartTime: new Date(StartTime),
  Tags: tags(id, count, managed),
});

describe('EBS snapshot backups', () => {
  it('snapshots every attached volume (volumes: auto) with the agent tags and one backup id', async () => {
    ec2.on(DescribeVolumesCommand).resolves({ Volumes: [{ VolumeId: 'vol-0000000000000000b' }, { VolumeId: 'vol-0000000000000000a' }] });
    ec2.on(CreateSnapshotCommand).callsFake((input: { VolumeId: string }) => ({ SnapshotId: `snap-${input.VolumeId.slice(-1)}` }));
    const run = await takeSnapshots(adapter(), { name: 'full', agentInstance: 'certitrack', volumes: 'auto', now: new Date('2026-11-29T03:00:00Z') });
    expect(run.id).toMatch(/^20261129T030000Z-[0-9a-f]{4}$/);
    expect(run.snapshots).toEqual([
      { volumeId: 'vol-0000000000000000a', snapshotId: 'snap-a' },
      { volumeId: 'vol-0000000000000000b', snapshotId: 'snap-b' },
    ]);
    const describe = ec2.commandCalls(DescribeVolumesCommand)[0]?.args[0].input;
    expect(describe?.Filters).toEqual([{ Name: 'attachment.instance-id', Values: ['i-0abc'] }]);
    const created = ec2.commandCalls(CreateSnapshotCommand).map((c) => c.args[0].input);
    const t = Object.fromEntries((created[0]?.TagSpecifications?.[0]?.Tags ?? []).map((x) => [x.Key, x.Value]));
    expect(t).toMatchObject({ 'io.certitrack.managed-by': 'certitrack-agent', 'io.certitrack.backup': 'full', 'io.certitrack.backup-id': run.id, 'io.certitrack.backup-volumes': '2', 'io.certitrack.instance': 'certitrack' });
  });

  it('a failed CreateSnapshot fails the run naming the snapshot step', async () => {
    ec2.on(CreateSnapshotCommand).rejects(new Error('SnapshotLimitExceeded'));
    await expect(takeSnapshots(adapter(), { name: 'full', agentInstance: 'certitrack', volumes: ['vol-0123456789abcdef0'], now: new Date() })).rejects.toThrow(/^snapshot failed: .*SnapshotLimitExceeded/);
  });

  it('retention keeps what the policy says, leaves pending ones, cleans failed groups, deletes only tagged snapshots', async () => {
    ec2.on(DescribeSnapshotsCommand).resolves({
      Snapshots: [
        snap('snap-new', '20261129T030000Z-0001', '2026-11-29T03:00:00Z', 'pending'),
        snap('snap-w1', '20261122T030000Z-0002', '2026-11-22T03:00:00Z'),
        snap('snap-w2', '20261115T030000Z-0003', '2026-11-15T03:00:00Z'),
        snap('snap-w3', '20261108T030000Z-0004', '2026-11-08T03:00:00Z'),
        snap('snap-half', '20261101T030000Z-0005', '2026-11-01T03:00:00Z', 'completed', 2),
      ],
    });
    ec2.on(DeleteSnapshotCommand).resolves({});
    const out = await applySnapshotRetention(adapter(), { name: 'full', agentInstance: 'certitrack', policy: { keepWeekly: 2 }, timeZone: 'Europe/Madrid', now: new Date('2026-11-29T04:00:00Z') });
    expect(out.deleted.sort()).toEqual(['snap-half', 'snap-w3']);
    const filters = ec2.commandCalls(DescribeSnapshotsCommand)[0]?.args[0].input;
    expect(filters?.OwnerIds).toEqual(['self']);
    expect(filters?.Filters).toContainEqual({ Name: 'tag:io.certitrack.managed-by', Values: ['certitrack-agent'] });
  });

  it('never deletes a snapshot without the agent tag, even if a listing returned it', async () => {
    ec2.on(DescribeSnapshotsCommand).resolves({ Snapshots: [snap('snap-a', '20261122T030000Z-0002', '2026-11-22T03:00:00Z'), snap('snap-foreign', '20261101T030000Z-0009', '2026-11-01T03:00:00Z', 'completed', 1, false)] });
    ec2.on(DeleteSnapshotCommand).resolves({});
    const out = await applySnapshotRetention(adapter(), { name: 'full', agentInstance: 'certitrack', policy: { keepLast: 1 }, timeZone: 'UTC', now: new Date('2026-11-29T04:00:00Z') });
    expect(out.deleted).toEqual([]);
    expect(ec2.commandCalls(DeleteSnapshotCommand)).toHaveLength(0);
    await expect(adapter().delete({ id: 'snap-foreign', volumeId: 'vol-1', state: 'completed', startTime: new Date(), tags: {} })).rejects.toThrow(/refusing to delete snap-foreign/);
  });

  it('a failed listing deletes nothing', async () => {
    ec2.on(DescribeSnapshotsCommand).rejects(new Error('RequestLimitExceeded'));
    await expect(applySnapshotRetention(adapter(), { name: 'full', agentInstance: 'certitrack', policy: { keepLast: 1 }, timeZone: 'UTC', now: new Date() })).rejects.toThrow(/RequestLimitExceeded/);
    expect(ec2.commandCalls(DeleteSnapshotCommand)).toHaveLength(0);
  });
});
