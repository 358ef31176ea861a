import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import type { Resource } from '../resource.js';
import { resourceName, valueOrSecret } from './common.js';
import { scheduleFields } from './schedule-fields.js';
import { parseVolumeMount, type VolumeMount } from './service.js';

/** A string runs through /bin/sh -c (as in a crontab line); a list is run as is. */
const commandLine = z.union([z.string().min(1).transform((s) => ['/bin/sh', '-c', s]), z.array(z.string()).min(1)]);

const envMap = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/, 'expected an environment variable name'), valueOrSecret).default({});

const volumeMount = z
  .string()
  .refine((s) => parseVolumeMount(s) !== undefined, { message: 'expected VOLUME:/container/path[:ro] or ./host/path:/container/path[:ro]' })
  .transform((s) => parseVolumeMount(s) as VolumeMount);

/** `docker exec` into the running container of a declared Service, as the seed's crontab did. */
const execJob = z.strictObject({
  service: resourceName,
  command: commandLine,
  user: z.string().min(1).optional(),
  workingDir: z.string().startsWith('/').optional(),
  env: envMap,
});

/** A one-off container, removed once it has finished and its output tail has been kept. */
const runJob = z.strictObject({
  image: z.string().min(1).regex(/^[^\s]+$/, 'image references contain no spaces'),
  pullPolicy: z.enum(['IfNotPresent', 'Always', 'Never']).default('IfNotPresent'),
  command: commandLine.optional(),
  entrypoint: commandLine.optional(),
  user: z.string().min(1).optional(),
  workingDir: z.string().startsWith('/').optional(),
  env: envMap,
  volumes: z.array(volumeMount).default([]),
  networks: z.array(resourceName).default([]),
});

export const scheduleSpec = z
  .strictObject({
    ...scheduleFields,
    exec: execJob.optional(),
    run: runJob.optional(),
  })
  .refine((s) => (s.exec === undefined) !== (s.run === undefined), { message: 'set exactly one of exec (a command in a Service\'s container) or run (a one-off container)' });

export type ScheduleSpec = z.output<typeof scheduleSpec>;
export type ExecJobSpec = NonNullable<ScheduleSpec['exec']>;
export type RunJobSpec = NonNullable<ScheduleSpec['run']>;
