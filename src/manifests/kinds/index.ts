import type { z } from 'zod';
import { alarmSpec } from './alarm.js';
import { backupSpec } from './backup.js';
import { certificateSpec } from './certificate.js';
import { defineKind } from './kind.js';
import { networkSpec } from './network.js';
import { scheduleSpec } from './schedule.js';
import { serviceSpec } from './service.js';
import { volumeSpec } from './volume.js';

/** Every kind the agent understands. Schemas only: cross-document checks are in ../checks. */
export const kinds = {
  Service: defineKind({
    kind: 'Service',
    description: 'A long-running container, kept running, healthy and matching its spec.',
    spec: serviceSpec,
  }),
  Network: defineKind({ kind: 'Network', description: 'A Docker bridge network shared by services.', spec: networkSpec }),
  Volume: defineKind({ kind: 'Volume', description: 'A named Docker volume; never deleted by the agent.', spec: volumeSpec }),
  Schedule: defineKind({ kind: 'Schedule', description: 'A cron-style job: a command in a Service\'s container or a one-off container.', spec: scheduleSpec }),
  Certificate: defineKind({ kind: 'Certificate', description: 'A TLS certificate (ACME or self-signed) kept valid on disk; services reloaded on renewal.', spec: certificateSpec }),
  Backup: defineKind({ kind: 'Backup', description: 'Scheduled, streamed backups of databases, directories, volumes and files to S3 or a local directory, with retention; or EBS snapshots.', spec: backupSpec }),
  Alarm: defineKind({ kind: 'Alarm', description: 'A CloudWatch metric alarm, kept as declared; removed ones are deleted.', spec: alarmSpec }),
};

export type KindName = keyof typeof kinds;
export type SpecOf<K extends KindName> = z.output<(typeof kinds)[K]['spec']>;
export const kindNames = Object.keys(kinds) as KindName[];
export const isKindName = (k: string): k is KindName => Object.hasOwn(kinds, k);
