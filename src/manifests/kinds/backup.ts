import { z } from 'zod';
import type { Resource } from '../resource.js';
import { duration, resourceName, valueOrSecret } from './common.js';
import { scheduleFields } from './schedule-fields.js';

/**
 * pg_dump -Fc of one database: inside a declared Service's container through the Docker exec API
 * (`service`), or over the network (`host`: RDS, another host), from a one-off container of the
 * agent's image (or `image`) on `network`, or from the agent's own process where it carries the
 * client tools (its image: CERTITRACK_POSTGRES_CLIENT=local). Exactly one of service and host.
 */
const postgresSource = z.strictObject({
  postgres: z
    .strictObject({
      service: resourceName.optional(),
      /** A database server reached over the network, e.g. the RDS endpoint. */
      host: z.string().min(1).regex(/^[^\s/]+$/, 'expected a host name or address').optional(),
      /** With `host`; default 5432. */
      port: z.number().int().min(1).max(65535).optional(),
      database: z.string().min(1),
      user: z.string().min(1).default('postgres'),
      /** Only needed when the server asks for one; passed as PGPASSWORD in the tool's environment, never on a command line. */
      password: valueOrSecret.optional(),
      /** libpq's sslmode (PGSSLMODE) with `host`; RDS accepts require and verify-full. */
      sslmode: z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']).optional(),
      /** With `host`: the image the one-off container runs pg_dump from (default the agent's own image, certitrack-agent:<version>); never pulled. */
      image: z.string().min(1).optional(),
      /** With `host`: a declared Network the one-off container joins to reach it (default Docker's bridge). */
      network: resourceName.optional(),
      format: z.enum(['custom']).default('custom'),
      /**
       * pg_dump -Z: the custom format compresses each table itself, so the dump is stored as is (no
       * gzip on top). 1 is the default: measured on this project's benchmark data it dumps twice as
       * fast as 6 for about 3% more bytes.
       */
      compressLevel: z.number().int().min(0).max(9).default(1),
    })
    .superRefine((pg, ctx) => {
      if ((pg.service === undefined) === (pg.host === undefined)) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of service (pg_dump in its container) and host (over the network)' });
      if (pg.service !== undefined) {
        for (const field of ['port', 'image', 'network', 'sslmode'] as const) {
          if (pg[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `${field} applies only with host (pg_dump over the network); with service pg_dump runs inside that container` });
        }
      }
    }),
});

/** A host directory, archived with tar (relative paths are relative to the manifest file). */
const directorySource = z.strictObject({
  directory: z.strictObject({
    path: z.string().min(1),
    /** tar --exclude patterns, e.g. "*.tmp" or "./cache". */
    exclude: z.array(z.string().min(1)).default([]),
  }),
});

/** A declared Volume, read and written through the engine's archive API on a container that mounts it (never started, never pulled). */
const volumeSource = z.strictObject({ volume: z.strictObject({ name: resourceName }) });

/** A single host file such as .env or the compose file the seed copied. */
const fileSource = z.strictObject({ file: z.strictObject({ path: z.string().min(1) }) });

/** EC2 snapshots of the instance's EBS volumes: "auto" = every volume attached to this instance. */
const ebsSnapshotSource = z.strictObject({
  ebsSnapshot: z.strictObject({
    volumes: z.union([z.literal('auto'), z.array(z.string().regex(/^vol-[0-9a-f]{8,17}$/, 'expected an EBS volume id such as vol-0123456789abcdef0')).min(1)]).default('auto'),
  }),
});

export const backupSource = z.union([postgresSource, directorySource, volumeSource, fileSource, ebsSnapshotSource]);
export type BackupSource = z.output<typeof backupSource>;

const s3Destination = z.strictObject({
  s3: z.strictObject({
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name'),
    /** Objects go under <prefix>/<backup name>/<backup id>/. */
    prefix: z
      .string()
      .default('')
      .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), { message: 'prefix may not contain . or .. segments' }),
    region: z.string().min(1).optional(),
    /** An S3-compatible endpoint (MinIO, an emulator); omit for AWS. */
    endpoint: z.url().optional(),
    forcePathStyle: z.boolean().default(false),
    serverSideEncryption: z.enum(['AES256', 'aws:kms']).default('AES256'),
    kmsKeyId: z.string().min(1).optional(),
    storageClass: z.enum(['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE']).optional(),
  }),
});

const localDestination = z.strictObject({
  local: z.strictObject({ path: z.string().min(1) }),
});

export const backupDestination = z.union([s3Destination, localDestination]);
export type BackupDestinationSpec = z.output<typeof backupDestination>;

const count = z.number().int().min(1).max(100_000).optional();

/** restic `forget` semantics: calendar buckets in the schedule's time zone, rules OR-ed; empty keeps everything. */
export const retentionSpec = z
  .strictObject({
    keepLast: count,
    keepHourly: count,
    keepDaily: count,
    keepWeekly: count,
    keepMonthly: count,
    keepYearly: count,
    /** Keep every backup younger than this, measured back from the newest backup (not from now). */
    keepWithin: duration.optional(),
  })
  .default({});

const compression = z
  .strictObject({
    algorithm: z.enum(['gzip', 'none']).default('gzip'),
    /** 1 (fastest) to 9 (smallest), for directories, volumes and files (database dumps use postgres.compressLevel). */
    level: z.number().int().min(1).max(9).default(6),
  })
  .default({ algorithm: 'gzip', level: 6 });

export const backupSpec = z
  .strictObject({
    ...scheduleFields,
    /** Without a schedule the backup runs only on `certitrack-agent backup run NAME`. */
    schedule: scheduleFields.schedule.optional(),
    sources: z.array(backupSource).min(1),
    /** Omitted: the agent's local backup directory (the embedded default when no bucket is configured). */
    destination: backupDestination.optional(),
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
