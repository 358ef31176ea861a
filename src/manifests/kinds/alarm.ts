import { z } from 'zod';
import { parseDuration } from '../../util/duration.js';
import { stringMap } from './common.js';

/**
 * The Alarm kind: one CloudWatch metric alarm, fields mirroring PutMetricAlarm in manifest style.
 * Names default to `certitrack-<metadata.name>`; every alarm name must carry that prefix because the
 * instance role is only allowed to touch alarms named `certitrack-*`.
 */

export const ALARM_NAME_PREFIX = 'certitrack-';
/** The dimension value that means "this instance's id", resolved at reconcile time. */
export const AUTO = 'auto';

export const COMPARISON_OPERATORS = [
  'GreaterThanOrEqualToThreshold',
  'GreaterThanThreshold',
  'LessThanThreshold',
  'LessThanOrEqualToThreshold',
] as const;
const COMPARISON_ALIASES: Record<string, (typeof COMPARISON_OPERATORS)[number]> = {
  '>': 'GreaterThanThreshold',
  '>=': 'GreaterThanOrEqualToThreshold',
  '<': 'LessThanThreshold',
  '<=': 'LessThanOrEqualToThreshold',
};

export const STATISTICS = ['SampleCount', 'Average', 'Sum', 'Minimum', 'Maximum'] as const;
export const STANDARD_UNITS = [
  'Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes',
  'Bits', 'Kilobits', 'Megabits', 'Gigabits', 'Terabits', 'Percent', 'Count', 'Bytes/Second',
  'Kilobytes/Second', 'Megabytes/Second', 'Gigabytes/Second', 'Terabytes/Second', 'Bits/Second',
  'Kilobits/Second', 'Megabits/Second', 'Gigabits/Second', 'Terabits/Second', 'Count/Second', 'None',
] as const;
export const TREAT_MISSING_DATA = ['breaching', 'notBreaching', 'ignore', 'missing'] as const;

/** Percentiles and trimmed statistics: p99, p99.9, tm90, tc(10%:90%), TM(1:2)… as CloudWatch accepts them. */
const EXTENDED_STATISTIC = /^(p\d{1,2}(\.\d{1,10})?|p100|(tm|wm|tc|ts|TM|WM|TC|TS|PR|IQM)(\d{1,2}(\.\d+)?)?|(TM|WM|TC|TS|PR|tm|wm|tc|ts)\([^)]*\)|IQM)$/;

/** Seconds, from a duration ("5m") or a number of seconds (as PutMetricAlarm's Period). */
const periodSeconds = z
  .union([z.number().int().positive(), z.string()])
  .transform((v, ctx) => {
    const seconds = typeof v === 'number' ? v : (parseDuration(v) ?? NaN) / 1000;
    if (!Number.isInteger(seconds) || seconds <= 0) {
      ctx.addIssue({ code: 'custom', message: 'expected a period such as 1m or 5m, or a number of seconds' });
      return z.NEVER;
    }
    if (seconds !== 10 && seconds !== 30 && seconds % 60 !== 0) {
      ctx.addIssue({ code: 'custom', message: `period must be 10s, 30s or a multiple of 60s (got ${seconds}s)` });
      return z.NEVER;
    }
    return seconds;
  });

const dimensions = z
  .record(z.string().min(1).max(255), z.union([z.string().min(1).max(1024), z.number().transform(String)]))
  .refine((d) => Object.keys(d).length <= 30, { message: 'at most 30 dimensions' })
  .default({});

const statisticFields = {
  statistic: z.enum(STATISTICS).optional(),
  extendedStatistic: z.string().regex(EXTENDED_STATISTIC, 'expected a percentile or trimmed statistic such as p99 or tm90').optional(),
};

const metric = z
  .strictObject({
    namespace: z.string().min(1).max(255),
    name: z.string().min(1).max(255),
    dimensions,
    ...statisticFields,
    unit: z.enum(STANDARD_UNITS).optional(),
  })
  .refine((m) => !(m.statistic && m.extendedStatistic), { message: 'set statistic or extendedStatistic, not both' });

const metricStat = z.strictObject({
  metric: z.strictObject({ namespace: z.string().min(1).max(255), name: z.string().min(1).max(255), dimensions }),
  period: periodSeconds,
  stat: z.string().min(1),
  unit: z.enum(STANDARD_UNITS).optional(),
});

const metricQuery = z
  .strictObject({
    id: z.string().regex(/^[a-z][a-zA-Z0-9_]{0,254}$/, 'expected an id starting with a lower-case letter (letters, digits, _)'),
    expression: z.string().min(1).max(2048).optional(),
    metricStat: metricStat.optional(),
    label: z.string().optional(),
    returnData: z.boolean().optional(),
    period: periodSeconds.optional(),
  })
  .refine((q) => (q.expression === undefined) !== (q.metricStat === undefined), { message: 'set exactly one of expression or metricStat' });

/**
 * References are resolved before validation; accepting one here as well keeps the published JSON
 * Schema (which editors apply to the raw YAML) from flagging `${cfn:AlertTopicArn}`.
 */
const arnList = z
  .array(z.string().regex(/^(arn:[a-z-]+:|\$\{cfn:[A-Za-z0-9]+\}$)/, 'expected an ARN (or a ${cfn:Output} reference to one)'))
  .max(5, 'at most 5 actions per state')
  .default([]);

const actions = z
  .strictObject({ alarm: arnList, ok: arnList, insufficientData: arnList })
  .default({ alarm: [], ok: [], insufficientData: [] });

export const alarmSpec = z
  .strictObject({
    alarmName: z
      .string()
      .max(255)
      .startsWith(ALARM_NAME_PREFIX, `alarm names must start with "${ALARM_NAME_PREFIX}" (the instance role may only manage those)`)
      .optional(),
    description: z.string().max(1024).optional(),
    metric: metric.optional(),
    metrics: z.array(metricQuery).min(1).max(20).optional(),
    /** Required with `metric`; with `metrics` each metricStat carries its own. Defaults to 5m. */
    period: periodSeconds.optional(),
    evaluationPeriods: z.number().int().min(1),
    datapointsToAlarm: z.number().int().min(1).optional(),
    threshold: z.number(),
    comparison: z.enum([...COMPARISON_OPERATORS, '>', '>=', '<', '<=']).transform((c) => COMPARISON_ALIASES[c] ?? (c as (typeof COMPARISON_OPERATORS)[number])),
    treatMissingData: z.enum(TREAT_MISSING_DATA).default('missing'),
    evaluateLowSampleCountPercentile: z.enum(['evaluate', 'ignore']).optional(),
    actionsEnabled: z.boolean().default(true),
    actions,
    tags: stringMap
      .refine((t) => Object.keys(t).every((k) => !k.startsWith('aws:') && !k.startsWith('io.certitrack.')), {
        message: 'tag keys starting with "aws:" or "io.certitrack." are reserved',
      })
      .refine((t) => Object.keys(t).length <= 45, { message: 'at most 45 tags (the agent adds its own)' })
      .default({}),
  })
  .superRefine((s, ctx) => {
    if ((s.metric === undefined) === (s.metrics === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of metric (a single metric) or metrics (metric math)', path: ['metric'] });
    }
    if (s.metrics && s.period !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'period is set per metricStat when using metrics', path: ['period'] });
    }
    if (s.metrics && s.metrics.filter((q) => q.returnData !== false).length !== 1) {
      ctx.addIssue({ code: 'custom', message: 'exactly one entry of metrics must return data (set returnData: false on the others)', path: ['metrics'] });
    }
    if (s.metrics) {
      const ids = s.metrics.map((q) => q.id);
      if (new Set(ids).size !== ids.length) ctx.addIssue({ code: 'custom', message: 'metric ids must be unique', path: ['metrics'] });
    }
    if (s.datapointsToAlarm !== undefined && s.datapointsToAlarm > s.evaluationPeriods) {
      ctx.addIssue({ code: 'custom', message: 'datapointsToAlarm cannot exceed evaluationPeriods', path: ['datapointsToAlarm'] });
    }
    const period = s.period ?? 300;
    if (s.metric && period >= 60 && period * s.evaluationPeriods > 7 * 86_400) {
      ctx.addIssue({ code: 'custom', message: 'evaluationPeriods × period cannot exceed 7 days', path: ['evaluationPeriods'] });
    }
    if (s.evaluateLowSampleCountPercentile && !s.metric?.extendedStatistic) {
      ctx.addIssue({ code: 'custom', message: 'evaluateLowSampleCountPercentile applies only with an extendedStatistic', path: ['evaluateLowSampleCountPercentile'] });
    }
  });

export type AlarmSpec = z.output<typeof alarmSpec>;
export type AlarmMetricQuery = z.output<typeof metricQuery>;

/** The CloudWatch name an Alarm resource gets. */
export const effectiveAlarmName = (resourceName: string, spec: Pick<AlarmSpec, 'alarmName'>): string => spec.alarmName ?? `${ALARM_NAME_PREFIX}${resourceName}`;
