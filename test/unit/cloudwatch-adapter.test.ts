import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  ListTagsForResourceCommand,
  PutMetricAlarmCommand,
  PutMetricDataCommand,
  ResourceNotFound,
  TagResourceCommand,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudWatchAdapter } from '../../src/adapters/cloudwatch.js';

const cw = mockClient(CloudWatchClient);
const adapter = (): CloudWatchAdapter => new CloudWatchAdapter(new CloudWatchClient({ region: 'eu-west-1' }));
const arn = (name: string): string => `arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${name}`;
const OWNED = [{ Key: 'io.certitrack.managed-by', Value: 'certitrack-agent' }, { Key: 'io.certitrack.instance', Value: 'certitrack' }];

describe('CloudWatchAdapter (aws-sdk-client-mock)', () => {
  afterEach(() => cw.reset());

  it('describeOwned pages through DescribeAlarms by prefix and keeps only alarms with the managed-by tag', async () => {
    cw.on(DescribeAlarmsCommand, { AlarmNamePrefix: 'certitrack-', NextToken: undefined })
      .resolves({ MetricAlarms: [{ AlarmName: 'certitrack-a', AlarmArn: arn('certitrack-a') }, { AlarmName: 'certitrack-hand-made', AlarmArn: arn('certitrack-hand-made') }], NextToken: 'page2' });
    cw.on(DescribeAlarmsCommand, { AlarmNamePrefix: 'certitrack-', NextToken: 'page2' }).resolves({ MetricAlarms: [{ AlarmName: 'certitrack-b', AlarmArn: arn('certitrack-b') }] });
    cw.on(ListTagsForResourceCommand).resolves({ Tags: OWNED });
    cw.on(ListTagsForResourceCommand, { ResourceARN: arn('certitrack-hand-made') }).resolves({ Tags: [{ Key: 'team', Value: 'ops' }] });

    const owned = await adapter().describeOwned('certitrack-');
    expect(owned.map((a) => a.alarm.AlarmName)).toEqual(['certitrack-a', 'certitrack-b']);
    expect(owned[0]?.tags).toEqual({ 'io.certitrack.managed-by': 'certitrack-agent', 'io.certitrack.instance': 'certitrack' });
    const calls = cw.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { AlarmNamePrefix: 'certitrack-', AlarmTypes: ['MetricAlarm'], MaxRecords: 100, NextToken: undefined },
      { AlarmNamePrefix: 'certitrack-', AlarmTypes: ['MetricAlarm'], MaxRecords: 100, NextToken: 'page2' },
    ]);
  });

  it('describe finds one alarm by exact name, owned or not, with its tags', async () => {
    cw.on(DescribeAlarmsCommand, { AlarmNames: ['certitrack-x'] }).resolves({ MetricAlarms: [{ AlarmName: 'certitrack-x', AlarmArn: arn('certitrack-x') }] });
    cw.on(ListTagsForResourceCommand).resolves({});
    expect(await adapter().describe('certitrack-x')).toEqual({ alarm: { AlarmName: 'certitrack-x', AlarmArn: arn('certitrack-x') }, arn: arn('certitrack-x'), tags: {} });
    cw.on(DescribeAlarmsCommand, { AlarmNames: ['certitrack-none'] }).resolves({});
    expect(await adapter().describe('certitrack-none')).toBeUndefined();
  });

  it('deletes in batches of at most 100 names', async () => {
    cw.on(DeleteAlarmsCommand).resolves({});
    const names = Array.from({ length: 250 }, (_, i) => `certitrack-${i}`);
    await adapter().delete(names);
    const batches = cw.commandCalls(DeleteAlarmsCommand).map((c) => c.args[0].input.AlarmNames ?? []);
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
    expect(batches.flat()).toEqual(names);
  });

  it('treats ResourceNotFound on delete as already deleted, and names the operation on other errors', async () => {
    cw.on(DeleteAlarmsCommand).rejects(new ResourceNotFound({ message: 'gone', $metadata: { httpStatusCode: 404 } }));
    await expect(adapter().delete(['certitrack-gone'])).resolves.toBeUndefined();
    cw.on(PutMetricAlarmCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } }));
    const err = await adapter().put({ AlarmName: 'certitrack-x', EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanThreshold' }).catch((e: unknown) => e as Error & { code?: string });
    expect(err?.message).toBe('CloudWatch PutMetricAlarm certitrack-x failed: Throttling: Rate exceeded');
    expect(err?.code).toBe('Throttling');
  });

  it('passes alarms, tags and metric data through unchanged', async () => {
    cw.on(PutMetricAlarmCommand).resolves({});
    cw.on(TagResourceCommand).resolves({});
    cw.on(PutMetricDataCommand).resolves({});
    const a = adapter();
    await a.put({ AlarmName: 'certitrack-x', EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanThreshold', Tags: [{ Key: 'k', Value: 'v' }] });
    await a.tag(arn('certitrack-x'), { b: '2', a: '1' });
    await a.tag(arn('certitrack-x'), {});
    await a.putMetricData({ Namespace: 'CertiTrack', MetricData: [{ MetricName: 'HealthCheck', Value: 1 }] });
    expect(cw.commandCalls(PutMetricAlarmCommand)[0]?.args[0].input.Tags).toEqual([{ Key: 'k', Value: 'v' }]);
    expect(cw.commandCalls(TagResourceCommand).map((c) => c.args[0].input)).toEqual([{ ResourceARN: arn('certitrack-x'), Tags: [{ Key: 'b', Value: '2' }, { Key: 'a', Value: '1' }] }]);
    expect(cw.commandCalls(PutMetricDataCommand)).toHaveLength(1);
  });
});
