import { z } from 'zod';
import { type ScheduleTiming, validateCron, validateTimeZone } from '../../schedule/timing.js';
import { duration } from './common.js';

/** What concurrencyPolicy means, as in a Kubernetes CronJob. */
export const concurrencyPolicy = z.enum(['Forbid', 'Replace', 'Allow']);
export type ConcurrencyPolicy = z.output<typeof concurrencyPolicy>;

const timeZone = z
  .string()
  .default('UTC')
  .superRefine((tz, ctx) => {
    const problem = validateTimeZone(tz);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** The timing and run-control fields shared by every scheduled kind (Schedule, Backup): spread into a z.strictObject. */
export const scheduleFields = {
  /** 5-field cron, or @hourly/@daily/@weekly/@monthly/@yearly/@annually/@midnight. */
  schedule: z.string().superRefine((expr, ctx) => {
    // The syntax does not depend on the zone, which is checked on its own field.
    const problem = validateCron(expr, 'UTC');
    if (problem) ctx.addIssue({ code: 'custom', message: `invalid schedule "${expr}": ${problem}` });
  }),
  timeZone,
  /** A run missed by more than this (agent or host down) is skipped; unset = run the latest missed slot whatever its age. */
  startingDeadline: duration.optional(),
  concurrencyPolicy: concurrencyPolicy.default('Forbid'),
  timeout: duration.default(3_600_000),
  suspend: z.boolean().default(false),
  /** How many finished runs the run history keeps. */
  historyLimit: z.number().int().min(1).max(1000).default(10),
};

/** The parsed fields of a scheduled kind, as the reconcilers see them. */
export interface ScheduleFieldsSpec {
  schedule: string;
  timeZone: string;
  startingDeadline?: number | undefined;
  concurrencyPolicy: ConcurrencyPolicy;
  timeout: number;
  suspend: boolean;
  historyLimit: number;
}

export const scheduleTiming = (spec: ScheduleFieldsSpec): ScheduleTiming => ({
  cron: spec.schedule,
  timeZone: spec.timeZone,
  ...(spec.startingDeadline !== undefined ? { startingDeadlineMs: spec.startingDeadline } : {}),
});
