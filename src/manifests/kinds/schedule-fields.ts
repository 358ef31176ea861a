import { z } from 'zod';
import { type ScheduleTiming, validateCron, validateTimeZone } from '../../schedule/timing.js';
import { duration } from './common.js';

/** What concurrencyPolicy means, as in a Kubernetes CronJob. */
export const concurrencyPolicy = z.enum(['Forbid', 'Replace', 'Allow']);
const CONCURRENCY = 'When a run is due while the last one still runs: Forbid skips the new run, Replace stops the old one, Allow runs both (a Kubernetes CronJob\'s policy).';
export type ConcurrencyPolicy = z.output<typeof concurrencyPolicy>;

const timeZone = z
  .string()
  .default('UTC')
  .superRefine((tz, ctx) => {
    const problem = validateTimeZone(tz);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('The IANA time zone the schedule is read in, e.g. Europe/Madrid. Across DST an hour skipped or repeated runs once.');

/** The timing and run-control fields shared by every scheduled kind (Schedule, Backup): spread into a z.strictObject. */
export const scheduleFields = {
  schedule: z
    .string()
    .superRefine((expr, ctx) => {
      // The syntax does not depend on the zone, which is checked on its own field.
      const problem = validateCron(expr, 'UTC');
      if (problem) ctx.addIssue({ code: 'custom', message: `invalid schedule "${expr}": ${problem}` });
    })
    .describe('When it runs: 5 cron fields ("0 2 * * *"), or @hourly, @daily, @weekly, @monthly, @yearly, @annually, @midnight.'),
  timeZone,
  startingDeadline: duration
    .optional()
    .describe('After downtime, the latest missed run is made up only if it is at most this late; omitted: however late it is.'),
  concurrencyPolicy: concurrencyPolicy.default('Forbid').describe(CONCURRENCY),
  timeout: duration.prefault('1h').describe('A run still going after this is stopped and counts as failed.'),
  suspend: z.boolean().default(false).describe('true: no scheduled runs (a manual run still works).'),
  historyLimit: z.number().int().min(1).max(1000).default(10).describe('How many finished runs the run history keeps.'),
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
