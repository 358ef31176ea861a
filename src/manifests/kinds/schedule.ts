import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import type { Resource } from '../resource.js';
import { resourceName, valueOrSecret } from './common.js';
import { scheduleFields } from './schedule-fields.js';
import { parseVolumeMount, type VolumeMount } from './service.js';

/** A string runs through /bin/sh -c (as in a crontab line); a list is run as is. */
const commandLine = z.union([z.string().min(1).transform((s) => ['/bin/sh', '-c', s]), z.array(z.string()).min(1)]);

const envMap = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/, 'expected an environment variable name'), valueOrSecret)
  .default({})
  .describe('Environment variables: NAME: value (a string, number or boolean), NAME: { secretRef: KEY } or NAME: { file: PATH }.');

const volumeMount = z
  .string()
  .refine((s) => parseVolumeMount(s) !== undefined, { message: 'expected VOLUME:/container/path[:ro] or ./host/path:/container/path[:ro]' })
  .transform((s) => parseVolumeMount(s) as VolumeMount);

/** `docker exec` into the running container of a declared Service, as the seed's crontab did. */
const execJob = z.strictObject({
  service: resourceName.describe('The declared Service whose running container the command runs in.'),
  command: commandLine.describe('The command: a list, or a string run through /bin/sh -c.'),
  user: z.string().min(1).optional().describe("The user it runs as (docker exec --user); default: the container's."),
  workingDir: z.string().startsWith('/').optional().describe("The working directory (absolute); default: the container's."),
  env: envMap,
});

/** A one-off container, removed once it has finished and its output tail has been kept. */
const runJob = z.strictObject({
  image: z.string().min(1).regex(/^[^\s]+$/, 'image references contain no spaces').describe('The image of the one-off container.'),
  pullPolicy: z
    .enum(['IfNotPresent', 'Always', 'Never'])
    .default('IfNotPresent')
    .describe('IfNotPresent: pull only when the image is missing; Always: before every run; Never: the image must exist locally.'),
  command: commandLine.optional().describe("Replaces the image's CMD: a list, or a string run through /bin/sh -c."),
  entrypoint: commandLine.optional().describe("Replaces the image's ENTRYPOINT: a list, or a string run through /bin/sh -c."),
  user: z.string().min(1).optional().describe("The user it runs as; default: the image's."),
  workingDir: z.string().startsWith('/').optional().describe("The working directory (absolute); default: the image's."),
  env: envMap,
  volumes: z
    .array(volumeMount)
    .default([])
    .describe('"VOLUME:/path[:ro]" (a declared Volume, not an external one) or "./host/path:/path[:ro]" (a bind mount, relative to the manifest file).'),
  networks: z.array(resourceName).default([]).describe("Declared Networks to join; empty: Docker's default bridge."),
});

export const scheduleSpec = z
  .strictObject({
    ...scheduleFields,
    exec: execJob.optional().describe("A command run in a declared Service's running container, like docker exec. Exactly one of exec or run."),
    run: runJob.optional().describe('A one-off container, removed once it has finished. Exactly one of exec or run.'),
  })
  .refine((s) => (s.exec === undefined) !== (s.run === undefined), { message: 'set exactly one of exec (a command in a Service\'s container) or run (a one-off container)' });

export type ScheduleSpec = z.output<typeof scheduleSpec>;
export type ExecJobSpec = NonNullable<ScheduleSpec['exec']>;
export type RunJobSpec = NonNullable<ScheduleSpec['run']>;
