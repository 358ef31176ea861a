import { z } from 'zod';
import type { Resource } from '../resource.js';
import { duration, resourceName, valueOrSecret } from './common.js';
import { scheduleFields } from './schedule-fields.js';

/** pg_dump -Fc run inside a declared Service's container through the Docker exec API. */
const postgresSource = z.strictObject({
  postgres: z.strictObject({
    service: resourceName.describe('The declared Service whose container runs PostgreSQL; pg_dump runs in it.'),
    database: z.string().min(1).describe('The database to dump.'),
    user: z.string().min(1).default('postgres').describe('The role pg_dump connects as.'),
    password: valueOrSecret
      .optional()
      .describe('Only when the container does not trust local socket connections; passed as PGPASSWORD. A literal, { secretRef } or { file }.'),
    format: z.enum(['custom']).default('custom').describe('The dump format: custom (pg_dump -Fc, what pg_restore reads).'),
    /**
     * The custom format compresses each table itself, so the dump is stored as is (no gzip on top).
     * 1 is the default: measured on this project's benchmark data it dumps twice as fast as 6 for
     * about 3% more bytes.
     */
    compressLevel: z.number().int().min(0).max(9).default(1).describe("pg_dump -Z, 0-9; the dump is stored as is, without the backup's compression."),
  }).describe("pg_dump -Fc inside a declared Service's container, through the Docker exec API."),
});

/** A host directory, archived with tar (relative paths are relative to the manifest file). */
const directorySource = z.strictObject({
  directory: z.strictObject({
    path: z.string().min(1).describe('The host directory, relative to the manifest file or absolute.'),
    exclude: z.array(z.string().min(1)).default([]).describe('tar --exclude patterns, e.g. "*.tmp" or "./cache".'),
  }).describe('A host directory, archived with tar.'),
});

/** A declared Volume, archived from a short-lived helper container that mounts it read-only. */
const volumeSource = z.strictObject({
  volume: z
    .strictObject({ name: resourceName.describe('A declared Volume (not an external one).') })
    .describe('A declared Volume, archived from a short-lived helper container that mounts it read-only.'),
});

/** A single host file such as .env or the compose file the seed copied. */
const fileSource = z.strictObject({
  file: z
    .strictObject({ path: z.string().min(1).describe('The host file, relative to the manifest file or absolute.') })
    .describe('A single host file, such as an env file.'),
});

/** EC2 snapshots of the instance's EBS volumes: "auto" = every volume attached to this instance. */
const ebsSnapshotSource = z.strictObject({
  ebsSnapshot: z.strictObject({
    volumes: z
      .union([z.literal('auto'), z.array(z.string().regex(/^vol-[0-9a-f]{8,17}$/, 'expected an EBS volume id such as vol-0123456789abcdef0')).min(1)])
      .default('auto')
      .describe('auto: every EBS volume attached to this instance; or a list of volume ids.'),
  }).describe("EC2 snapshots of the instance's EBS volumes instead of archives (only snapshots the agent tagged are ever deleted)."),
});

export const backupSource = z.union([postgresSource, directorySource, volumeSource, fileSource, ebsSnapshotSource]);
export type BackupSource = z.output<typeof backupSource>;

const s3Destination = z.strictObject({
  s3: z.strictObject({
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name').describe('The bucket name, or a ${cfn:Output} reference to it.'),
    prefix: z
      .string()
      .default('')
      .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), { message: 'prefix may not contain . or .. segments' })
      .describe('Objects go under <prefix>/<backup name>/<backup id>/.'),
    region: z.string().min(1).optional().describe("The bucket's region; default: the AWS context's (aws.region, AWS_REGION, IMDS)."),
    endpoint: z.url().optional().describe("An S3-compatible endpoint (MinIO, an emulator); default: the AWS context's endpoint override, else AWS."),
    forcePathStyle: z.boolean().default(false).describe('Address the bucket in the path, not the host name (MinIO and emulators usually need it).'),
    serverSideEncryption: z.enum(['AES256', 'aws:kms']).default('AES256').describe('How S3 encrypts the objects at rest.'),
    kmsKeyId: z.string().min(1).optional().describe('The KMS key for aws:kms; default: the AWS managed key (aws/s3).'),
    storageClass: z
      .enum(['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE'])
      .optional()
      .describe("The objects' S3 storage class; default: STANDARD."),
  }).describe('An S3 bucket, streamed to with multipart uploads.'),
});

const localDestination = z.strictObject({
  local: z
    .strictObject({ path: z.string().min(1).describe('The host directory, relative to the manifest file or absolute.') })
    .describe('A directory on this host.'),
});

export const backupDestination = z.union([s3Destination, localDestination]);
export type BackupDestinationSpec = z.output<typeof backupDestination>;

const count = (what: string) => z.number().int().min(1).max(100_000).optional().describe(what);

/** restic `forget` semantics: calendar buckets in the schedule's time zone, rules OR-ed; empty keeps everything. */
export const retentionSpec = z
  .strictObject({
    keepLast: count('Keep the newest N backups.'),
    keepHourly: count('Keep the newest backup of each of the last N hours that have one.'),
    keepDaily: count('Keep the newest backup of each of the last N days that have one.'),
    keepWeekly: count('Keep the newest backup of each of the last N weeks that have one.'),
    keepMonthly: count('Keep the newest backup of each of the last N months that have one.'),
    keepYearly: count('Keep the newest backup of each of the last N years that have one.'),
    keepWithin: duration.optional().describe('Keep every backup younger than this, measured back from the newest backup (not from now).'),
  })
  .default({})
  .describe("Which backups to keep, as restic's forget: calendar buckets in the schedule's time zone, rules OR-ed; empty keeps everything.");

const compression = z
  .strictObject({
    algorithm: z.enum(['gzip', 'none']).default('gzip').describe('gzip, or none.'),
    level: z.number().int().min(1).max(9).default(6).describe('1 (fastest) to 9 (smallest).'),
  })
  .default({ algorithm: 'gzip', level: 6 })
  .describe('How directory, volume and file archives are compressed (database dumps use postgres.compressLevel).');

export const backupSpec = z
  .strictObject({
    ...scheduleFields,
    schedule: scheduleFields.schedule
      .optional()
      .describe(`${scheduleFields.schedule.description ?? ''} Omitted: only on \`certitrack-agent backup run NAME\`.`),
    sources: z
      .array(backupSource)
      .min(1)
      .describe('What is backed up: postgres, directory, volume and file sources, each streamed into the destination; or one ebsSnapshot source alone.'),
    destination: backupDestination.optional().describe("Where backups are stored: { s3: {...} } or { local: { path } }. Omitted: the agent's <state-dir>/backups."),
    retention: retentionSpec,
    compression,
  })
  .superRefine((spec, ctx) => {
    const ebs = spec.sources.filter((s) => 'ebsSnapshot' in s).length;
    if (ebs > 0 && ebs !== spec.sources.length) {
      ctx.addIssue({ code: 'custom', path: ['sources'], message: 'an ebsSnapshot source cannot be combined with other sources (snapshots live in EC2, not in the destination); declare a separate Backup' });
    }
    if (ebs > 1) ctx.addIssue({ code: 'custom', path: ['sources'], message: 'declare at most one ebsSnapshot source' });
    if (ebs > 0 && spec.destination) {
      ctx.addIssue({ code: 'custom', path: ['destination'], message: 'an ebsSnapshot backup has no destination: snapshots are stored by EC2' });
    }
    const s3 = spec.destination && 's3' in spec.destination ? spec.destination.s3 : undefined;
    if (s3?.kmsKeyId && s3.serverSideEncryption !== 'aws:kms') {
      ctx.addIssue({ code: 'custom', path: ['destination', 's3', 'kmsKeyId'], message: 'kmsKeyId needs serverSideEncryption: aws:kms' });
    }
  });

export type BackupSpec = z.output<typeof backupSpec>;
