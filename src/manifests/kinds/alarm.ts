import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from '../../util/duration.js';
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
const PERIOD_EXPECTED = 'expected a period such as 1m or 5m, or a number of seconds';
const periodSeconds = z
  .union([z.number().int().positive(), z.string().regex(DURATION_PATTERN, PERIOD_EXPECTED)])
  .transform((v, ctx) => {
    const seconds = typeof v === 'number' ? v : (parseDuration(v) ?? NaN) / 1000;
    if (!Number.isInteger(seconds) || seconds <= 0) {
      ctx.addIssue({ code: 'custom', message: PERIOD_EXPECTED });
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
  .default({})
  .describe(`The metric's dimensions, NAME: value (at most 30); the value ${AUTO} means this instance's id.`);

const statisticFields = {
  statistic: z.enum(STATISTICS).optional().describe('The statistic compared with the threshold; default Average. Not with extendedStatistic.'),
  extendedStatistic: z
    .string()
    .regex(EXTENDED_STATISTIC, 'expected a percentile or trimmed statistic such as p99 or tm90')
    .optional()
    .describe('A percentile or trimmed statistic such as p99 or tm90, instead of statistic.'),
};
const NAMESPACE = 'The metric namespace, e.g. AWS/EC2 or CWAgent.';
const METRIC_NAME = 'The metric name, e.g. CPUUtilization.';
const UNIT = 'The unit of the metric data; default: any.';
const PERIOD = 'The length of one evaluation period: 10s, 30s or a multiple of 60s, as a duration (5m) or a number of seconds.';

const metric = z
  .strictObject({
    namespace: z.string().min(1).max(255).describe(NAMESPACE),
    name: z.string().min(1).max(255).describe(METRIC_NAME),
    dimensions,
    ...statisticFields,
    unit: z.enum(STANDARD_UNITS).optional().describe(UNIT),
  })
  .refine((m) => !(m.statistic && m.extendedStatistic), { message: 'set statistic or extendedStatistic, not both' });

const metricStat = z.strictObject({
  metric: z
    .strictObject({ namespace: z.string().min(1).max(255).describe(NAMESPACE), name: z.string().min(1).max(255).describe(METRIC_NAME), dimensions })
    .describe('The metric.'),
  period: periodSeconds.describe(PERIOD),
  stat: z.string().min(1).describe('The statistic: Average, Sum, Maximum, p99 …'),
  unit: z.enum(STANDARD_UNITS).optional().describe(UNIT),
});

const metricQuery = z
  .strictObject({
    id: z
      .string()
      .regex(/^[a-z][a-zA-Z0-9_]{0,254}$/, 'expected an id starting with a lower-case letter (letters, digits, _)')
      .describe('The name expressions use for this entry: a lower-case letter, then letters, digits or _.'),
    expression: z.string().min(1).max(2048).optional().describe('A metric math expression over other entries\' ids, e.g. m1 / m2 * 100. Exactly one of expression or metricStat.'),
    metricStat: metricStat.optional().describe('A metric and statistic. Exactly one of expression or metricStat.'),
    label: z.string().optional().describe('A human-readable label for this entry.'),
    returnData: z.boolean().optional().describe('Whether this entry is the one the alarm watches: exactly one entry returns data (set false on the others).'),
    period: periodSeconds.optional().describe("The period of this entry's data points (CloudWatch's MetricDataQuery Period): 10s, 30s or a multiple of 60s."),
  })
  .refine((q) => (q.expression === undefined) !== (q.metricStat === undefined), { message: 'set exactly one of expression or metricStat' });

/**
 * References are resolved before validation; accepting one here as well keeps the published JSON
 * Schema (which editors apply to the raw YAML) from flagging `${cfn:AlertTopicArn}`.
 */
const arnList = (state: string) =>
  z
    .array(z.string().regex(/^(arn:[a-z-]+:|\$\{cfn:[A-Za-z0-9]+\}$)/, 'expected an ARN (or a ${cfn:Output} reference to one)'))
    .max(5, 'at most 5 actions per state')
    .default([])
    .describe(`ARNs (an SNS topic …, or \${cfn:Output} references) notified when the alarm goes to ${state}; at most 5.`);

const actions = z
  .strictObject({ alarm: arnList('ALARM'), ok: arnList('OK'), insufficientData: arnList('INSUFFICIENT_DATA') })
  .default({ alarm: [], ok: [], insufficientData: [] })
  .describe('What is notified on each state change.');

export const alarmSpec = z
  .strictObject({
    alarmName: z
      .string()
      .max(255)
      .startsWith(ALARM_NAME_PREFIX, `alarm names must start with "${ALARM_NAME_PREFIX}" (the instance role may only manage those)`)
      .optional()
      .describe(`The CloudWatch alarm name; default ${ALARM_NAME_PREFIX}<metadata.name>. Must start with ${ALARM_NAME_PREFIX} (the instance role may only manage those).`),
    description: z.string().max(1024).optional().describe("The alarm's description in CloudWatch."),
    metric: metric.optional().describe('The one metric watched. Exactly one of metric or metrics.'),
    metrics: z
      .array(metricQuery)
      .min(1)
      .max(20)
      .optional()
      .describe('Metric math: [{ id, expression | metricStat, label, returnData, period }], exactly one entry returning data. Exactly one of metric or metrics.'),
    /** With `metrics` each metricStat carries its own. */
    period: periodSeconds.optional().describe(`With metric: ${PERIOD} Default 5m.`),
    evaluationPeriods: z.number().int().min(1).describe('How many recent periods are evaluated.'),
    datapointsToAlarm: z.number().int().min(1).optional().describe('How many of those must breach for ALARM; default: evaluationPeriods.'),
    threshold: z.number().describe('The value the statistic is compared with.'),
    comparison: z
      .enum([...COMPARISON_OPERATORS, '>', '>=', '<', '<='])
      .transform((c) => COMPARISON_ALIASES[c] ?? (c as (typeof COMPARISON_OPERATORS)[number]))
      .describe('How the statistic is compared with the threshold: >, >=, <, <= or GreaterThanThreshold and the like.'),
    treatMissingData: z.enum(TREAT_MISSING_DATA).default('missing').describe('How a period without data counts: breaching, notBreaching, ignore or missing.'),
    evaluateLowSampleCountPercentile: z
      .enum(['evaluate', 'ignore'])
      .optional()
      .describe('For a percentile (extendedStatistic): whether periods with too few samples are evaluated or ignored.'),
    actionsEnabled: z.boolean().default(true).describe('false: state changes notify nobody.'),
    actions,
    tags: stringMap
      .refine((t) => Object.keys(t).every((k) => !k.startsWith('aws:') && !k.startsWith('io.certitrack.')), {
        message: 'tag keys starting with "aws:" or "io.certitrack." are reserved',
      })
      .refine((t) => Object.keys(t).length <= 45, { message: 'at most 45 tags (the agent adds its own)' })
      .default({})
      .describe('Tags on the alarm, at most 45; keys starting with aws: or io.certitrack. are reserved. Missing or changed tags are put back; a removed one stays on the alarm.'),
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
