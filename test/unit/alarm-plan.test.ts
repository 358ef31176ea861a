import type { MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { describe, expect, it } from 'vitest';
import { alarmSpec } from '../../src/manifests/kinds/alarm.js';
import type { Resource } from '../../src/manifests/resource.js';
import { AlarmSpecError, type DesiredAlarm, desiredAlarm, normalizeObserved, toPutInput } from '../../src/reconcilers/alarm/normalize.js';
import { type AlarmAction, type AlarmObservation, type AlarmOwner, diffAlarm, type ObservedAlarm, plan } from '../../src/reconcilers/alarm/plan.js';

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:alerts';
const OTHER = 'arn:aws:sns:eu-west-1:123456789012:other';
const owner = { instance: 'certitrack', instanceId: 'i-0abc' };
const OWN_TAGS = { 'io.certitrack.managed-by': 'certitrack-agent', 'io.certitrack.instance': 'certitrack', 'io.certitrack.alarm': 'high-cpu' };

const CPU_MANIFEST = {
  description: 'High CPU utilization',
  metric: { namespace: 'AWS/EC2', name: 'CPUUtilization', dimensions: { InstanceId: 'auto' }, statistic: 'Average' },
  period: '5m',
  evaluationPeriods: 2,
  threshold: 80,
  comparison: '>',
  actions: { alarm: [TOPIC, OTHER] },
};
const cpuSpec = alarmSpec.parse(CPU_MANIFEST);
const desired = (): DesiredAlarm => desiredAlarm('high-cpu', cpuSpec, owner);
const NOW = new Date('2030-01-01T00:00:00Z');
/** A declared Alarm as the loader hands it over (only name and spec matter to the planner). */
type AlarmResource = Resource<ReturnType<typeof alarmSpec.parse>>;
const resource = (name: string, manifest: Record<string, unknown>): AlarmResource => ({ kind: 'Alarm', name, labels: {}, spec: alarmSpec.parse(manifest), source: { file: 'alarms.yaml', dir: '/m' } }) as unknown as AlarmResource;
const cpu = resource('high-cpu', CPU_MANIFEST);
const seen = (o: Partial<AlarmObservation> = {}): AlarmObservation => ({ byName: undefined, ownedForResource: [], ...o });
const planFor = (r: AlarmResource | undefined, o: AlarmObservation, who: AlarmOwner = owner): AlarmAction[] => plan(r, o, NOW, who);

/** What DescribeAlarms hands back for that alarm: absent lists undefined, other order, no defaults. */
const described: MetricAlarm = {
  AlarmName: 'certitrack-high-cpu',
  AlarmArn: 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:certitrack-high-cpu',
  AlarmDescription: 'High CPU utilization',
  AlarmActions: [OTHER, TOPIC],
  MetricName: 'CPUUtilization',
  Namespace: 'AWS/EC2',
  Statistic: 'Average',
  Dimensions: [{ Name: 'InstanceId', Value: 'i-0abc' }],
  Period: 300,
  EvaluationPeriods: 2,
  Threshold: 80,
  ComparisonOperator: 'GreaterThanThreshold',
  StateValue: 'OK',
  StateUpdatedTimestamp: new Date('2026-01-01T00:00:00Z'),
};
const observed = (a: MetricAlarm = described, tags: Record<string, string> = OWN_TAGS): ObservedAlarm => ({ alarm: normalizeObserved(a), arn: a.AlarmArn ?? '', tags });

describe('normalization', () => {
  it('turns the manifest into the full PutMetricAlarm shape, defaults applied, actions sorted, InstanceId resolved', () => {
    expect(desired().alarm).toEqual({
      AlarmName: 'certitrack-high-cpu',
      AlarmDescription: 'High CPU utilization',
      ActionsEnabled: true,
      AlarmActions: [TOPIC, OTHER].sort(),
      OKActions: [],
      InsufficientDataActions: [],
      Namespace: 'AWS/EC2',
      MetricName: 'CPUUtilization',
      Dimensions: [{ Name: 'InstanceId', Value: 'i-0abc' }],
      Statistic: 'Average',
      Period: 300,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      Threshold: 80,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'missing',
    });
    expect(desired().tags).toEqual(OWN_TAGS);
  });

  it('sees no difference between the manifest and what DescribeAlarms returns for it', () => {
    expect(diffAlarm(desired().alarm, normalizeObserved(described))).toEqual([]);
    // Explicit defaults on the observed side are the same alarm too.
    const explicit: MetricAlarm = { ...described, OKActions: [], InsufficientDataActions: [], DatapointsToAlarm: 2, TreatMissingData: 'missing', ActionsEnabled: true, Dimensions: [...(described.Dimensions ?? [])] };
    expect(diffAlarm(desired().alarm, normalizeObserved(explicit))).toEqual([]);
  });

  it('orders dimensions by name on both sides', () => {
    const spec = alarmSpec.parse({ metric: { namespace: 'CWAgent', name: 'disk_used_percent', dimensions: { path: '/', InstanceId: 'auto', fstype: 'xfs' } }, evaluationPeriods: 1, threshold: 85, comparison: '>' });
    const d = desiredAlarm('disk', spec, owner).alarm;
    expect(d.Dimensions?.map((x) => x.Name)).toEqual(['InstanceId', 'fstype', 'path']);
    const o = normalizeObserved({ ...described, Namespace: 'CWAgent', MetricName: 'disk_used_percent', EvaluationPeriods: 1, Threshold: 85, AlarmDescription: undefined, AlarmActions: undefined, Dimensions: [{ Name: 'path', Value: '/' }, { Name: 'fstype', Value: 'xfs' }, { Name: 'InstanceId', Value: 'i-0abc' }], AlarmName: 'certitrack-disk' });
    expect(diffAlarm(d, o)).toEqual([]);
  });

  it('adds this instance to a dimensionless AWS/EC2 metric, and refuses "auto" when the instance id is unknown', () => {
    const spec = alarmSpec.parse({ metric: { namespace: 'AWS/EC2', name: 'StatusCheckFailed' }, evaluationPeriods: 1, threshold: 1, comparison: '>=' });
    expect(desiredAlarm('status', spec, owner).alarm.Dimensions).toEqual([{ Name: 'InstanceId', Value: 'i-0abc' }]);
    expect(() => desiredAlarm('status', spec, { instance: 'certitrack', instanceId: undefined })).toThrow(AlarmSpecError);
    expect(() => desiredAlarm('high-cpu', cpuSpec, { instance: 'certitrack', instanceId: undefined })).toThrow(/InstanceId "auto" needs this instance's id/);
  });

  it('normalizes metric math: ReturnData defaults to true, empty labels vanish', () => {
    const spec = alarmSpec.parse({
      metrics: [
        { id: 'm1', metricStat: { metric: { namespace: 'CertiTrack', name: 'Errors', dimensions: { Service: 'backend' } }, period: '1m', stat: 'Sum' }, returnData: false },
        { id: 'e1', expression: 'm1 * 2' },
      ],
      evaluationPeriods: 1,
      threshold: 10,
      comparison: '>',
    });
    const d = desiredAlarm('errors', spec, owner).alarm;
    const o = normalizeObserved({
      AlarmName: 'certitrack-errors',
      EvaluationPeriods: 1,
      Threshold: 10,
      ComparisonOperator: 'GreaterThanThreshold',
      Metrics: [
        { Id: 'm1', ReturnData: false, MetricStat: { Metric: { Namespace: 'CertiTrack', MetricName: 'Errors', Dimensions: [{ Name: 'Service', Value: 'backend' }] }, Period: 60, Stat: 'Sum' } },
        { Id: 'e1', Expression: 'm1 * 2', Label: '' },
      ],
    });
    expect(diffAlarm(d, o)).toEqual([]);
    expect(d.Namespace).toBeUndefined();
  });
});

describe('plan', () => {
  it('creates a missing alarm with its ownership tags in the request', () => {
    const actions = planFor(cpu, seen());
    expect(actions).toHaveLength(1);
    const [create] = actions;
    expect(create).toMatchObject({ type: 'create', action: 'create', reason: 'alarm certitrack-high-cpu does not exist' });
    expect(create?.type === 'create' && create.input.Tags).toEqual([
      { Key: 'io.certitrack.alarm', Value: 'high-cpu' },
      { Key: 'io.certitrack.instance', Value: 'certitrack' },
      { Key: 'io.certitrack.managed-by', Value: 'certitrack-agent' },
    ]);
  });

  it('does nothing when the alarm is as declared', () => {
    expect(planFor(cpu, seen({ byName: observed(), ownedForResource: ['certitrack-high-cpu'] }))).toEqual([]);
  });

  it('puts the whole alarm back when a field drifted, with each field as a manifest path and JSON from/to', () => {
    const edited = observed({ ...described, Threshold: 95, EvaluationPeriods: 1, AlarmActions: [TOPIC], Dimensions: [{ Name: 'InstanceId', Value: 'i-0old' }] });
    const actions = planFor(cpu, seen({ byName: edited, ownedForResource: ['certitrack-high-cpu'] }));
    expect(actions.map((a) => a.type)).toEqual(['update']);
    const update = actions[0];
    if (update?.type !== 'update') throw new Error('expected update');
    expect(update.action).toBe('update');
    expect(update.changes).toEqual([
      { path: 'spec.actions.alarm', from: JSON.stringify([TOPIC]), to: JSON.stringify([TOPIC, OTHER].sort()) },
      { path: 'spec.metric.dimensions', from: '{"InstanceId":"i-0old"}', to: '{"InstanceId":"i-0abc"}' },
      { path: 'spec.evaluationPeriods', from: '1', to: '2' },
      { path: 'spec.datapointsToAlarm', from: '1', to: '2' },
      { path: 'spec.threshold', from: '95', to: '80' },
    ]);
    expect(update.reason).toBe('alarm certitrack-high-cpu differs from the manifest in spec.actions.alarm, spec.metric.dimensions, spec.evaluationPeriods, spec.datapointsToAlarm, spec.threshold');
    expect(update.input.Tags).toBeUndefined(); // ignored on update anyway; tags go through TagResource
    expect(update.input).toMatchObject({ AlarmName: 'certitrack-high-cpu', Threshold: 80, EvaluationPeriods: 2, AlarmActions: [TOPIC, OTHER].sort() });
  });

  it('shows a field set on one side only without the other value', () => {
    const noDescription = observed({ ...described, AlarmDescription: undefined, Unit: 'Percent' });
    const changes = diffAlarm(desired().alarm, noDescription.alarm);
    expect(changes).toEqual([
      { path: 'spec.description', from: '""', to: '"High CPU utilization"' },
      { path: 'spec.metric.unit', from: '"Percent"' },
    ]);
  });

  it('re-tags an owned alarm whose declared tags are missing, leaving extra tags alone', () => {
    const tagged = resource('high-cpu', { ...CPU_MANIFEST, tags: { team: 'ops' } });
    const ownTagsButInstance = { ...OWN_TAGS, 'io.certitrack.instance': 'certitrack', extra: 'kept' };
    const actions = planFor(tagged, seen({ byName: observed(described, ownTagsButInstance), ownedForResource: ['certitrack-high-cpu'] }));
    expect(actions).toEqual([
      {
        type: 'tag',
        action: 'update',
        alarmName: 'certitrack-high-cpu',
        arn: described.AlarmArn,
        tags: { team: 'ops' },
        changes: [{ path: 'spec.tags.team', to: '"ops"' }],
        reason: 'tags team missing or different',
      },
    ]);
    const lostOwnership = planFor(cpu, seen({ byName: observed(described, { ...OWN_TAGS, 'io.certitrack.alarm': 'x' }), ownedForResource: [] }));
    expect(lostOwnership[0]).toMatchObject({ type: 'tag', changes: [{ path: 'tags.io.certitrack.alarm', from: '"x"', to: '"high-cpu"' }] });
  });

  it('never touches an alarm without the ownership tag, or one owned by another instance', () => {
    const foreign = planFor(cpu, seen({ byName: observed({ ...described, Threshold: 1 }, { team: 'ops' }) }));
    expect(foreign).toEqual([expect.objectContaining({ type: 'conflict', action: 'note', alarmName: 'certitrack-high-cpu' })]);
    expect(foreign[0]?.reason).toMatch(/already exists and is not managed by certitrack-agent; leaving it untouched/);
    const other = planFor(cpu, seen({ byName: observed(described, { ...OWN_TAGS, 'io.certitrack.instance': 'staging' }) }));
    expect(other[0]?.reason).toMatch(/belongs to agent instance "staging"/);
  });

  it('deletes owned alarms no longer declared, and the old copy of a renamed one', () => {
    expect(planFor(undefined, seen({ ownedForResource: ['certitrack-high-cpu'] }))).toEqual([
      { type: 'delete', action: 'remove', names: ['certitrack-high-cpu'], reason: 'delete certitrack-high-cpu: no longer declared' },
    ]);
    expect(planFor(undefined, seen())).toEqual([]);
    const renamed = resource('high-cpu', { ...CPU_MANIFEST, alarmName: 'certitrack-cpu' });
    const actions = planFor(renamed, seen({ ownedForResource: ['certitrack-high-cpu'] }));
    expect(actions.map((a) => a.type)).toEqual(['create', 'delete']);
    expect(actions[1]).toEqual({ type: 'delete', action: 'remove', names: ['certitrack-high-cpu'], reason: 'delete certitrack-high-cpu: renamed to certitrack-cpu' });
    // If the new name is taken by someone else's alarm, the old one stays until that is sorted out.
    const taken = observed({ ...described, AlarmName: 'certitrack-cpu' }, { team: 'ops' });
    expect(planFor(renamed, seen({ byName: taken, ownedForResource: ['certitrack-high-cpu'] })).map((a) => a.type)).toEqual(['conflict']);
  });

  it('plans nothing but a note without AWS, and a note for a spec this host cannot build', () => {
    expect(planFor(cpu, seen({ disabled: 'no AWS region: set AWS_REGION' }))).toEqual([
      { type: 'disabled', action: 'note', cause: 'no AWS region: set AWS_REGION', reason: 'AWS disabled: no AWS region: set AWS_REGION' },
    ]);
    expect(planFor(undefined, seen({ disabled: 'no AWS region: set AWS_REGION' }))).toEqual([]);
    const offEc2 = planFor(cpu, seen(), { instance: 'certitrack', instanceId: undefined });
    expect(offEc2).toEqual([{ type: 'invalid', action: 'note', reason: expect.stringMatching(/InstanceId "auto" needs this instance's id.*--aws-instance-id or CERTITRACK_AWS_INSTANCE_ID/) }]);
  });

  it('resolves InstanceId: auto to the configured instance id', () => {
    const fromFlag = planFor(cpu, seen(), { instance: 'certitrack', instanceId: 'i-0123456789abcdef0' });
    expect(fromFlag[0]?.type === 'create' && fromFlag[0].input.Dimensions).toEqual([{ Name: 'InstanceId', Value: 'i-0123456789abcdef0' }]);
  });

  it('builds PutMetricAlarm input without empty optional fields', () => {
    const spec = alarmSpec.parse({ metric: { namespace: 'CertiTrack', name: 'HealthCheck' }, evaluationPeriods: 3, threshold: 1, comparison: '<', period: '1m', treatMissingData: 'breaching' });
    expect(toPutInput(desiredAlarm('health', spec, owner).alarm)).toEqual({
      AlarmName: 'certitrack-health',
      ActionsEnabled: true,
      AlarmActions: [],
      OKActions: [],
      InsufficientDataActions: [],
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      Namespace: 'CertiTrack',
      MetricName: 'HealthCheck',
      Dimensions: [],
      Period: 60,
      Statistic: 'Average',
    });
  });
});
