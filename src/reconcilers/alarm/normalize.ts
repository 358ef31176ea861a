import type { ComparisonOperator, Dimension, MetricAlarm, MetricDataQuery, PutMetricAlarmInput, StandardUnit, Statistic } from '@aws-sdk/client-cloudwatch';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../../adapters/docker-types.js';
import { type AlarmMetricQuery, type AlarmSpec, AUTO, effectiveAlarmName } from '../../manifests/kinds/alarm.js';

/**
 * The Alarm kind's canonical shape: desired (from the manifest) and observed (from DescribeAlarms)
 * are brought to it, so that "the SDK left an absent list undefined", "AWS returned
 * actions in another order" or "a default was written explicitly" never look like drift.
 */

/** Tags are CloudWatch's only ownership record: the same keys as the Docker labels. */
export const TAG_MANAGED_BY = LABEL_MANAGED_BY;
export const TAG_INSTANCE = LABEL_INSTANCE;
/** The manifest resource an alarm was created for, so a renamed alarm's old copy can be found. */
export const TAG_RESOURCE = 'io.certitrack.alarm';

export interface Dim {
  Name: string;
  Value: string;
}

export interface NormalizedMetricQuery {
  Id: string;
  Expression?: string;
  Label?: string;
  ReturnData: boolean;
  Period?: number;
  AccountId?: string;
  MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: Dim[] }; Period: number; Stat: string; Unit?: StandardUnit };
}

/** Every field PutMetricAlarm sets, with defaults applied and lists sorted. */
export interface NormalizedAlarm {
  AlarmName: string;
  AlarmDescription: string;
  ActionsEnabled: boolean;
  AlarmActions: string[];
  OKActions: string[];
  InsufficientDataActions: string[];
  Namespace?: string;
  MetricName?: string;
  Dimensions?: Dim[];
  Statistic?: Statistic;
  ExtendedStatistic?: string;
  Period?: number;
  Unit?: StandardUnit;
  Metrics?: NormalizedMetricQuery[];
  EvaluationPeriods: number;
  DatapointsToAlarm: number;
  Threshold: number;
  ComparisonOperator: ComparisonOperator | '';
  TreatMissingData: string;
  EvaluateLowSampleCountPercentile?: string;
}

export interface DesiredAlarm {
  alarm: NormalizedAlarm;
  tags: Record<string, string>;
}

/** The manifest cannot be turned into an alarm on this host (e.g. `InstanceId: auto` off EC2). */
export class AlarmSpecError extends Error {
  override readonly name = 'AlarmSpecError';
}

const DEFAULT_PERIOD_SECONDS = 300;
const sortDims = (d: Dim[]): Dim[] => [...d].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
const sorted = (xs: readonly string[] | undefined): string[] => [...(xs ?? [])].sort();
const nonEmpty = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : s);

function resolveDimensions(namespace: string, dims: Record<string, string>, instanceId: string | undefined, where: string): Dim[] {
  const out: Dim[] = [];
  const entries = Object.entries(dims);
  // An AWS/EC2 metric with no dimension at all would be the account-wide aggregate; on a one-host
  // agent the operator means this instance.
  if (namespace === 'AWS/EC2' && entries.length === 0) entries.push(['InstanceId', AUTO]);
  for (const [Name, value] of entries) {
    if (Name === 'InstanceId' && value === AUTO) {
      if (!instanceId) throw new AlarmSpecError(`${where}: InstanceId "auto" needs this instance's id, and it is unknown (not on EC2: give it with --aws-instance-id or CERTITRACK_AWS_INSTANCE_ID)`);
      out.push({ Name, Value: instanceId });
    } else {
      out.push({ Name, Value: value });
    }
  }
  return sortDims(out);
}

function desiredQuery(q: AlarmMetricQuery, instanceId: string | undefined, i: number): NormalizedMetricQuery {
  const out: NormalizedMetricQuery = { Id: q.id, ReturnData: q.returnData ?? true };
  if (q.expression !== undefined) out.Expression = q.expression;
  if (q.label !== undefined && q.label !== '') out.Label = q.label;
  if (q.period !== undefined) out.Period = q.period;
  if (q.metricStat) {
    const m = q.metricStat.metric;
    out.MetricStat = {
      Metric: { Namespace: m.namespace, MetricName: m.name, Dimensions: resolveDimensions(m.namespace, m.dimensions, instanceId, `metrics[${i}]`) },
      Period: q.metricStat.period,
      Stat: q.metricStat.stat,
      ...(q.metricStat.unit ? { Unit: q.metricStat.unit } : {}),
    };
  }
  return out;
}

/** The alarm a manifest asks for on this host. Throws {@link AlarmSpecError} when it cannot be built here. */
export function desiredAlarm(resourceName: string, spec: AlarmSpec, owner: { instance: string; instanceId: string | undefined }): DesiredAlarm {
  const alarm: NormalizedAlarm = {
    AlarmName: effectiveAlarmName(resourceName, spec),
    AlarmDescription: spec.description ?? '',
    ActionsEnabled: spec.actionsEnabled,
    AlarmActions: sorted(spec.actions.alarm),
    OKActions: sorted(spec.actions.ok),
    InsufficientDataActions: sorted(spec.actions.insufficientData),
    EvaluationPeriods: spec.evaluationPeriods,
    DatapointsToAlarm: spec.datapointsToAlarm ?? spec.evaluationPeriods,
    Threshold: spec.threshold,
    ComparisonOperator: spec.comparison,
    TreatMissingData: spec.treatMissingData,
  };
  if (spec.metric) {
    const m = spec.metric;
    alarm.Namespace = m.namespace;
    alarm.MetricName = m.name;
    alarm.Dimensions = resolveDimensions(m.namespace, m.dimensions, owner.instanceId, 'metric.dimensions');
    if (m.extendedStatistic) alarm.ExtendedStatistic = m.extendedStatistic;
    else alarm.Statistic = m.statistic ?? 'Average';
    alarm.Period = spec.period ?? DEFAULT_PERIOD_SECONDS;
    if (m.unit) alarm.Unit = m.unit;
    if (spec.evaluateLowSampleCountPercentile) alarm.EvaluateLowSampleCountPercentile = spec.evaluateLowSampleCountPercentile;
  } else {
    alarm.Metrics = (spec.metrics ?? []).map((q, i) => desiredQuery(q, owner.instanceId, i));
  }
  const tags = { ...spec.tags, [TAG_MANAGED_BY]: MANAGED_BY_VALUE, [TAG_INSTANCE]: owner.instance, [TAG_RESOURCE]: resourceName };
  return { alarm, tags };
}

const dims = (d: Dimension[] | undefined): Dim[] => sortDims((d ?? []).map((x) => ({ Name: x.Name ?? '', Value: x.Value ?? '' })));

function observedQuery(q: MetricDataQuery): NormalizedMetricQuery {
  const out: NormalizedMetricQuery = { Id: q.Id ?? '', ReturnData: q.ReturnData ?? true };
  if (nonEmpty(q.Expression) !== undefined) out.Expression = q.Expression;
  if (nonEmpty(q.Label) !== undefined) out.Label = q.Label;
  if (q.Period !== undefined) out.Period = q.Period;
  if (nonEmpty(q.AccountId) !== undefined) out.AccountId = q.AccountId;
  if (q.MetricStat) {
    const s = q.MetricStat;
    out.MetricStat = {
      Metric: { Namespace: s.Metric?.Namespace ?? '', MetricName: s.Metric?.MetricName ?? '', Dimensions: dims(s.Metric?.Dimensions) },
      Period: s.Period ?? 0,
      Stat: s.Stat ?? '',
      ...(s.Unit ? { Unit: s.Unit } : {}),
    };
  }
  return out;
}

/** An alarm as DescribeAlarms returns it, in the canonical shape. */
export function normalizeObserved(a: MetricAlarm): NormalizedAlarm {
  const evaluationPeriods = a.EvaluationPeriods ?? 1;
  const out: NormalizedAlarm = {
    AlarmName: a.AlarmName ?? '',
    AlarmDescription: a.AlarmDescription ?? '',
    ActionsEnabled: a.ActionsEnabled ?? true,
    AlarmActions: sorted(a.AlarmActions),
    OKActions: sorted(a.OKActions),
    InsufficientDataActions: sorted(a.InsufficientDataActions),
    EvaluationPeriods: evaluationPeriods,
    DatapointsToAlarm: a.DatapointsToAlarm ?? evaluationPeriods,
    Threshold: a.Threshold ?? 0,
    ComparisonOperator: a.ComparisonOperator ?? '',
    TreatMissingData: nonEmpty(a.TreatMissingData) ?? 'missing',
  };
  if (a.Metrics && a.Metrics.length > 0) {
    out.Metrics = a.Metrics.map(observedQuery);
  } else {
    out.Namespace = a.Namespace ?? '';
    out.MetricName = a.MetricName ?? '';
    out.Dimensions = dims(a.Dimensions);
    if (nonEmpty(a.ExtendedStatistic) !== undefined) out.ExtendedStatistic = a.ExtendedStatistic;
    else if (a.Statistic) out.Statistic = a.Statistic;
    if (a.Period !== undefined) out.Period = a.Period;
    if (a.Unit) out.Unit = a.Unit;
    if (nonEmpty(a.EvaluateLowSampleCountPercentile) !== undefined) out.EvaluateLowSampleCountPercentile = a.EvaluateLowSampleCountPercentile;
  }
  return out;
}

/** Tags to (re)apply: desired ones missing or different. Extra tags someone added are left alone. */
export function missingTags(desired: Record<string, string>, observed: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(desired)) if (observed[k] !== v) out[k] = v;
  return out;
}

export type Ownership = 'self' | 'other-instance' | 'foreign';

export function ownershipOf(tags: Record<string, string>, instance: string): Ownership {
  if (tags[TAG_MANAGED_BY] !== MANAGED_BY_VALUE) return 'foreign';
  return tags[TAG_INSTANCE] === instance ? 'self' : 'other-instance';
}

/** The PutMetricAlarm request for a normalized alarm; `tags` only matter when it creates one. */
export function toPutInput(alarm: NormalizedAlarm, tags?: Record<string, string>): PutMetricAlarmInput {
  const input: PutMetricAlarmInput = {
    AlarmName: alarm.AlarmName,
    ActionsEnabled: alarm.ActionsEnabled,
    AlarmActions: alarm.AlarmActions,
    OKActions: alarm.OKActions,
    InsufficientDataActions: alarm.InsufficientDataActions,
    EvaluationPeriods: alarm.EvaluationPeriods,
    DatapointsToAlarm: alarm.DatapointsToAlarm,
    Threshold: alarm.Threshold,
    ComparisonOperator: alarm.ComparisonOperator || undefined,
    TreatMissingData: alarm.TreatMissingData,
  };
  if (alarm.AlarmDescription !== '') input.AlarmDescription = alarm.AlarmDescription;
  if (alarm.Metrics) {
    input.Metrics = alarm.Metrics;
  } else {
    input.Namespace = alarm.Namespace;
    input.MetricName = alarm.MetricName;
    input.Dimensions = alarm.Dimensions;
    input.Period = alarm.Period;
    if (alarm.Statistic) input.Statistic = alarm.Statistic;
    if (alarm.ExtendedStatistic) input.ExtendedStatistic = alarm.ExtendedStatistic;
    if (alarm.Unit) input.Unit = alarm.Unit;
    if (alarm.EvaluateLowSampleCountPercentile) input.EvaluateLowSampleCountPercentile = alarm.EvaluateLowSampleCountPercentile;
  }
  if (tags) input.Tags = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1)).map(([Key, Value]) => ({ Key, Value }));
  return input;
}
