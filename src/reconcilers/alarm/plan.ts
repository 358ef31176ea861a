import type { PutMetricAlarmInput } from '@aws-sdk/client-cloudwatch';
import { MANAGED_BY_VALUE } from '../../adapters/docker-types.js';
import type { FieldChange, KindAction } from '../../engine/reconcile.js';
import type { AlarmSpec } from '../../manifests/kinds/alarm.js';
import type { Resource } from '../../manifests/resource.js';
import { canonicalJson } from '../../util/hash.js';
import {
  AlarmSpecError,
  type DesiredAlarm,
  desiredAlarm,
  type Dim,
  missingTags,
  type NormalizedAlarm,
  ownershipOf,
  TAG_INSTANCE,
  TAG_MANAGED_BY,
  TAG_RESOURCE,
  toPutInput,
} from './normalize.js';

/** Who this agent is, for ownership tags and `InstanceId: auto`. */
export interface AlarmOwner {
  instance: string;
  /** From IMDS or --aws-instance-id; undefined when neither knows. */
  instanceId: string | undefined;
}

export interface ObservedAlarm {
  alarm: NormalizedAlarm;
  arn: string;
  tags: Record<string, string>;
}

export interface AlarmObservation {
  /** Why AWS cannot be used on this host (no region, no credentials); nothing else was observed then. */
  disabled?: string;
  /** Whatever alarm currently has the desired name (owned or not); undefined if none or nothing is desired. */
  byName: ObservedAlarm | undefined;
  /** Names of alarms this instance owns that were created for this resource (tag), whatever their name. */
  ownedForResource: string[];
}

export type AlarmAction =
  | (KindAction & { type: 'create'; action: 'create'; input: PutMetricAlarmInput; tags: Record<string, string> })
  | (KindAction & { type: 'update'; action: 'update'; input: PutMetricAlarmInput; changes: FieldChange[] })
  | (KindAction & { type: 'tag'; action: 'update'; alarmName: string; arn: string; tags: Record<string, string>; changes: FieldChange[] })
  | (KindAction & { type: 'delete'; action: 'remove'; names: string[] })
  /** An alarm under the declared name that this instance does not own: left alone. */
  | (KindAction & { type: 'conflict'; action: 'note'; alarmName: string })
  /** AWS cannot be used here; nothing is done. */
  | (KindAction & { type: 'disabled'; action: 'note'; cause: string })
  /** The manifest cannot be an alarm on this host (e.g. `InstanceId: auto` with no known instance id). */
  | (KindAction & { type: 'invalid'; action: 'note' });

/** Where each PutMetricAlarm field comes from in the manifest, for field-level changes. */
const FIELD_PATHS: Record<Exclude<keyof NormalizedAlarm, 'AlarmName'>, string> = {
  AlarmDescription: 'spec.description',
  ActionsEnabled: 'spec.actionsEnabled',
  AlarmActions: 'spec.actions.alarm',
  OKActions: 'spec.actions.ok',
  InsufficientDataActions: 'spec.actions.insufficientData',
  Namespace: 'spec.metric.namespace',
  MetricName: 'spec.metric.name',
  Dimensions: 'spec.metric.dimensions',
  Statistic: 'spec.metric.statistic',
  ExtendedStatistic: 'spec.metric.extendedStatistic',
  Period: 'spec.period',
  Unit: 'spec.metric.unit',
  Metrics: 'spec.metrics',
  EvaluationPeriods: 'spec.evaluationPeriods',
  DatapointsToAlarm: 'spec.datapointsToAlarm',
  Threshold: 'spec.threshold',
  ComparisonOperator: 'spec.comparison',
  TreatMissingData: 'spec.treatMissingData',
  EvaluateLowSampleCountPercentile: 'spec.evaluateLowSampleCountPercentile',
};

const OWNERSHIP_TAGS: readonly string[] = [TAG_MANAGED_BY, TAG_INSTANCE, TAG_RESOURCE];

/** JSON text of a value as a change shows it; dimensions as the manifest writes them (a map). */
function shown(field: keyof NormalizedAlarm, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (field === 'Dimensions') return canonicalJson(Object.fromEntries((value as Dim[]).map((d) => [d.Name, d.Value])));
  return canonicalJson(value);
}

/** Field-level differences, observed (`from`) → desired (`to`), in manifest paths; empty when the alarm is as declared. */
export function diffAlarm(desired: NormalizedAlarm, observed: NormalizedAlarm): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const [field, path] of Object.entries(FIELD_PATHS) as [keyof typeof FIELD_PATHS, string][]) {
    if (canonicalJson(desired[field] ?? null) === canonicalJson(observed[field] ?? null)) continue;
    const from = shown(field, observed[field]);
    const to = shown(field, desired[field]);
    changes.push({ path, ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
  }
  return changes;
}

function tagChanges(tags: Record<string, string>, observed: Record<string, string>): FieldChange[] {
  return Object.keys(tags)
    .sort()
    .map((k) => {
      const from = observed[k];
      const path = OWNERSHIP_TAGS.includes(k) ? `tags.${k}` : `spec.tags.${k}`;
      return { path, ...(from !== undefined ? { from: JSON.stringify(from) } : {}), to: JSON.stringify(tags[k]) };
    });
}

function conflictReason(name: string, owner: ReturnType<typeof ownershipOf>, tags: Record<string, string>): string {
  const whose = owner === 'foreign' ? `is not managed by ${MANAGED_BY_VALUE}` : `belongs to agent instance "${tags[TAG_INSTANCE] ?? '?'}"`;
  return `alarm ${name} already exists and ${whose}; leaving it untouched (delete it, or choose another spec.alarmName)`;
}

/** The actions that bring one declared alarm (and its renamed copies) to the manifest. */
function planDeclared(desired: DesiredAlarm, observed: AlarmObservation, owner: AlarmOwner): AlarmAction[] {
  const actions: AlarmAction[] = [];
  const name = desired.alarm.AlarmName;
  const current = observed.byName;
  if (!current) {
    actions.push({ type: 'create', action: 'create', input: toPutInput(desired.alarm, desired.tags), tags: desired.tags, reason: `alarm ${name} does not exist` });
  } else {
    const whose = ownershipOf(current.tags, owner.instance);
    if (whose !== 'self') {
      actions.push({ type: 'conflict', action: 'note', alarmName: name, reason: conflictReason(name, whose, current.tags) });
    } else {
      const changes = diffAlarm(desired.alarm, current.alarm);
      if (changes.length > 0) {
        actions.push({ type: 'update', action: 'update', input: toPutInput(desired.alarm), changes, reason: `alarm ${name} differs from the manifest in ${changes.map((c) => c.path).join(', ')}` });
      }
      const tags = missingTags(desired.tags, current.tags);
      if (Object.keys(tags).length > 0) {
        actions.push({ type: 'tag', action: 'update', alarmName: name, arn: current.arn, tags, changes: tagChanges(tags, current.tags), reason: `tags ${Object.keys(tags).sort().join(', ')} missing or different` });
      }
    }
  }
  // A renamed alarm's old copy goes only once the new one can exist: never leave the host unwatched.
  const blocked = actions.some((a) => a.type === 'conflict');
  const stale = observed.ownedForResource.filter((n) => n !== name);
  if (stale.length > 0 && !blocked) actions.push({ type: 'delete', action: 'remove', names: stale.sort(), reason: `delete ${stale.join(', ')}: renamed to ${name}` });
  return actions;
}

/**
 * What to do for one Alarm resource: pure, from the manifest and what DescribeAlarms returned. Never
 * acts on an alarm this instance does not own: a foreign alarm under the desired name is a
 * conflict, not an overwrite. `now` is unused: alarms have no timing of their own.
 */
export function plan(desired: Resource<AlarmSpec> | undefined, observed: AlarmObservation, _now: Date, owner: AlarmOwner): AlarmAction[] {
  if (observed.disabled !== undefined) return desired ? [{ type: 'disabled', action: 'note', cause: observed.disabled, reason: `AWS disabled: ${observed.disabled}` }] : [];
  if (!desired) {
    const names = [...observed.ownedForResource].sort();
    return names.length > 0 ? [{ type: 'delete', action: 'remove', names, reason: `delete ${names.join(', ')}: no longer declared` }] : [];
  }
  let alarm: DesiredAlarm;
  try {
    alarm = desiredAlarm(desired.name, desired.spec, owner);
  } catch (err) {
    if (err instanceof AlarmSpecError) return [{ type: 'invalid', action: 'note', reason: err.message }];
    throw err;
  }
  return planDeclared(alarm, observed, owner);
}
