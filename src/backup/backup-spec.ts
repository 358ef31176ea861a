import type { BackupSpec } from '../manifests/kinds/backup.js';
import type { RetentionPolicy } from './retention.js';

/** What the backup code reads off a Backup's spec. */

/** EBS snapshots live in EC2, not in a destination; the schema keeps them apart from other sources. */
export const isSnapshotBackup = (spec: BackupSpec): boolean => spec.sources.some((s) => 'ebsSnapshot' in s);

export function retentionPolicyOf(spec: BackupSpec): RetentionPolicy {
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
